package h1server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// TestLateBodyRead: a goroutine the handler left may still read the
// request body, and arm the read deadline through the ResponseWriter, after
// the handler returned without reading it all and the connection closed
// (x/net's HTTP/2 client, writing the body upstream for l7/proxy's
// attemptH2, reads once more after the stream was aborted, through
// l7/proxy's clientBody). It gets errors, as from net/http's server: not a
// panic, nor the body or socket of another connection that took the
// connection's session (its body read here).
func TestLateBodyRead(t *testing.T) {
	t.Parallel()
	type late struct {
		body io.Reader
		ctl  *http.ResponseController
	}
	got := make(chan late, 1)
	second, release := make(chan struct{}), make(chan struct{})
	addr, s := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/second" {
			second <- struct{}{}
			<-release
			b, err := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %v", b, err)
			return
		}
		got <- late{r.Body, http.NewResponseController(w)}
		io.WriteString(w, "ok") // the body not read to its end: the connection closes
	}))
	c, br := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
	l := <-got
	c.(*net.TCPConn).CloseWrite() // the rest of the body never comes
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	resp.Body.Close()
	c.Close() // the server's lingering close ends
	// The connection's goroutine waits for connections to serve once done
	// with this one.
	testutil.WaitFor(t, 5*time.Second, "the connection ended", func() bool { return s.idleWorkers.Load() == 1 })

	// Another connection's request, its body not read yet: with the
	// session given back, it would take it.
	c2, br2 := dial(t, addr)
	io.WriteString(c2, "POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nSECRET")
	<-second
	defer func() {
		close(release)
		resp, err := http.ReadResponse(br2, nil)
		if err != nil {
			t.Fatalf("read the second connection's response: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "SECRET <nil>" {
			t.Errorf("second connection's handler read %q, want %q", b, "SECRET <nil>")
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("late use of the request: panic %v\n%s", v, debug.Stack())
		}
	}()
	var p [8]byte
	if n, err := l.body.Read(p[:]); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Errorf("late body read: %d bytes %q, error %v; want %v", n, p[:n], err, http.ErrBodyReadAfterClose)
	}
	if err := l.ctl.SetReadDeadline(time.Now().Add(time.Second)); err == nil {
		t.Errorf("late SetReadDeadline: no error, want the closed connection's")
	}
}
