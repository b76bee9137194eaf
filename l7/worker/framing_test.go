package worker_test

import (
	"bufio"
	"net/http"
	"testing"

	"github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/l7/worker/workertest"
	"github.com/weir-lb/weir/test/testutil"
)

// TestWorkerStrictFraming: the worker's HTTP listener refuses what nginx
// refuses (CONNECT, a Content-Length beside Transfer-Encoding), answers
// nginx's status and closes the connection.
func TestWorkerStrictFraming(t *testing.T) {
	t.Parallel()
	conn, addr := workertest.Start(t)
	sup := &supervisorEnd{t: t, conn: conn, r: bufio.NewReader(conn)}
	if ack := sup.send(worker.MsgSnapshot, testSnapshot(1, "127.0.0.1:1", "strict.test")); ack.Version != 1 || ack.Error != "" {
		t.Fatalf("snapshot 1: ack %+v", ack)
	}
	for raw, want := range map[string]int{
		"POST / HTTP/1.1\r\nHost: strict.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n": http.StatusBadRequest,
		"CONNECT / HTTP/1.1\r\nHost: strict.test\r\n\r\n":                                                          http.StatusMethodNotAllowed,
		"CONNECT strict.test:443 HTTP/1.1\r\nHost: strict.test\r\n\r\n":                                            http.StatusBadRequest, // nginx 1.22.1: a bad request line
	} {
		rs := testutil.RawExchange(t, addr, raw)
		if len(rs) != 1 || rs[0].StatusCode != want || !rs[0].Close {
			t.Errorf("%q: got statuses %v, want one %d with Connection: close", raw, testutil.Statuses(rs), want)
		}
	}
}
