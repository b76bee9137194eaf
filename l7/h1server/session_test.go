package h1server

import (
	"bufio"
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
// the handler returned without reading it all (x/net's HTTP/2 client,
// writing the body upstream for l7/proxy's attemptH2, reads once more after
// the stream was aborted, through l7/proxy's clientBody). It gets errors,
// as from net/http's server: not a panic, nor the body of the next request
// (read here) that took the session, on another connection or on this one
// (the rest of the body discarded, the connection kept).
func TestLateBodyRead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		kept     bool // the whole body sent: the server discards it and keeps the connection
		sameConn bool // the next request on the same connection
	}{
		{name: "connection closed"},
		{name: "kept, next request on another connection", kept: true},
		{name: "kept, next request on the same connection", kept: true, sameConn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type late struct {
				body io.Reader
				ctl  *http.ResponseController
			}
			got := make(chan late, 1)
			second, release := make(chan struct{}), make(chan struct{})
			cfg := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/second" {
					second <- struct{}{}
					<-release
					b, err := io.ReadAll(r.Body)
					fmt.Fprintf(w, "%s %v", b, err)
					return
				}
				got <- late{r.Body, http.NewResponseController(w)}
				io.WriteString(w, "ok") // the body not read to its end
			})}
			ev := watch(t, cfg)
			waitsOf(t, cfg, waitVariants[0]) // parked at once, its session given back
			addr, s := startWith(t, nil, cfg)
			c, br := dial(t, addr)
			if tc.kept {
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n12345")
			} else {
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
			}
			l := <-got
			if !tc.kept {
				c.(*net.TCPConn).CloseWrite() // the rest of the body never comes
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read the response: %v", err)
			}
			resp.Body.Close()
			if !tc.kept {
				c.Close() // the server's lingering close ends
				// The connection's goroutine waits for connections to
				// serve once done with this one.
				testutil.WaitFor(t, 5*time.Second, "the connection ended", func() bool { return s.idleWorkers.Load() == 1 })
			} else {
				testutil.WaitFor(t, 5*time.Second, "the connection on its waiter", func() bool { return ev.moved() == 1 })
			}

			// The next request, its body not read yet.
			c2, br2 := c, br
			if !tc.sameConn {
				c2, br2 = dial(t, addr)
			}
			io.WriteString(c2, "POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nSECRET")
			<-second
			defer readSecond(t, br2, release)
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("late use of the request: panic %v\n%s", v, debug.Stack())
				}
			}()
			var p [8]byte
			if n, err := l.body.Read(p[:]); !errors.Is(err, http.ErrBodyReadAfterClose) {
				t.Errorf("late body read: %d bytes %q, error %v; want %v", n, p[:n], err, http.ErrBodyReadAfterClose)
			}
			// As net/http's, it goes to the request's connection: an error
			// once that one closed (not another connection's deadline).
			if err := l.ctl.SetReadDeadline(time.Now().Add(time.Second)); err == nil && !tc.kept {
				t.Errorf("late SetReadDeadline: no error, want the closed connection's")
			}
		})
	}
}

// readSecond lets the second request's handler read its body, and checks
// that it got it whole.
func readSecond(t *testing.T, br *bufio.Reader, release chan struct{}) {
	t.Helper()
	close(release)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read the second request's response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "SECRET <nil>" {
		t.Errorf("second request's handler read %q, want %q", b, "SECRET <nil>")
	}
}
