package stream

import (
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// waitLines waits until logs holds n lines and returns them.
func waitLines(t testing.TB, logs *testutil.SyncBuffer, n int) []string {
	t.Helper()
	var lines []string
	testutil.WaitFor(t, 5*time.Second, strconv.Itoa(n)+" stream access-log lines", func() bool {
		lines = strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
		return logs.String() != "" && len(lines) == n
	})
	return lines
}

// TestStreamAccessLogDefaultFormat: each TCP connection is one line of
// ingress-nginx's default log_stream format when it ends: 200 with the
// bytes each way, 502 when no endpoint answers.
func TestStreamAccessLogDefaultFormat(t *testing.T) {
	t.Parallel()
	be, _ := tcpBackend(t, answerAtEOF)
	var logs testutil.SyncBuffer
	srv, _ := startWith(t, &logs)
	port, dead := freePort(t, "TCP"), freePort(t, "TCP")
	apply(t, srv, annotations.Global{}, tcpStream(port, be), tcpStream(dead, "127.0.0.1:1"))

	c := dial(t, port)
	io.WriteString(c, "hello")
	c.CloseWrite()
	if got, err := io.ReadAll(c); err != nil || string(got) != "got:hello" {
		t.Fatalf("read %q, %v", got, err)
	}
	lines := waitLines(t, &logs, 1)
	re := regexp.MustCompile(`^\[127\.0\.0\.1\] \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] TCP 200 9 5 \d+\.\d{3}$`)
	if !re.MatchString(lines[0]) {
		t.Errorf("line %q does not match %s", lines[0], re)
	}
	c2 := dial(t, dead)
	io.ReadAll(c2) // closed once no endpoint answers
	lines = waitLines(t, &logs, 2)
	if !strings.Contains(lines[1], " TCP 502 0 0 ") {
		t.Errorf("line %q: want TCP 502 0 0", lines[1])
	}
}

// TestStreamAccessLogFormat: log-format-stream's variables, UDP sessions
// included; disable-access-log and disable-stream-access-log turn the stream
// log off, disable-http-access-log does not (ingress-nginx e2e:
// disableaccesslog.go).
func TestStreamAccessLogFormat(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	srv, _ := startWith(t, &logs)
	port := freePort(t, "UDP")
	up := testutil.UDPEchoServer(t, true)
	s := tcpStream(port, up)
	s.Protocol = snapshot.ProtocolUDP
	g := annotations.Global{Logs: annotations.RequestLog{Stream: `$protocol "$upstream_addr" $proxy_upstream_name $server_port $bytes_received/$bytes_sent $upstream_bytes_sent/$upstream_bytes_received $status $nope`}}
	apply(t, srv, g, s)
	c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	exchange := func(msg string) {
		t.Helper()
		c.Write([]byte(msg))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "echo:"+msg {
			t.Fatalf("answer %q, %v", buf[:n], err)
		}
	}
	exchange("ping")
	lines := waitLines(t, &logs, 1)
	want := `UDP "` + up + `" udp-default-echo-9000 ` + strconv.Itoa(port) + ` 4/9 4/9 200 -`
	if lines[0] != want {
		t.Errorf("line %q, want %q", lines[0], want)
	}
	g.DisableAccessLog = true
	apply(t, srv, g, s)
	exchange("quiet")
	testutil.WaitFor(t, 5*time.Second, "the session to end", func() bool { return active(srv) == 0 })
	if got := strings.Count(logs.String(), "\n"); got != 1 {
		t.Errorf("disable-access-log: %d lines, want 1:\n%s", got, logs.String())
	}
	g.DisableAccessLog, g.DisableHTTPAccessLog = false, true
	apply(t, srv, g, s)
	exchange("http-off")
	if lines := waitLines(t, &logs, 2); !strings.HasPrefix(lines[1], "UDP ") {
		t.Errorf("disable-http-access-log: line %q, want the session's", lines[1])
	}
	g.DisableHTTPAccessLog, g.DisableStreamAccessLog = false, true
	apply(t, srv, g, s)
	exchange("quiet")
	testutil.WaitFor(t, 5*time.Second, "the session to end", func() bool { return active(srv) == 0 })
	if got := strings.Count(logs.String(), "\n"); got != 2 {
		t.Errorf("disable-stream-access-log: %d lines, want 2:\n%s", got, logs.String())
	}
}

// active is the number of connections and sessions srv tracks.
func active(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.conns)
}
