package h1server

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/test/testutil"
)

// BenchmarkIdleConn reports the memory (heap and goroutine stacks) each idle
// keep-alive connection holds after one request, under a Server ("weir",
// "weir-tls": TLS 1.3 through ServeTLS) and under net/http's behind h1guard
// ("net"): b.N connections.
//
//	go test ./l7/h1server -run '^$' -bench IdleConn -benchtime 2000x
func BenchmarkIdleConn(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello, weir!\n")
	})
	b.Run("weir", func(b *testing.B) {
		cfg := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		ev := watch(b, cfg)
		addr, _ := startWith(b, nil, cfg)
		idleConnsOf(b, func() (net.Conn, error) { return net.Dial("tcp", addr) }, ev.moved)
	})
	b.Run("weir-tls", func(b *testing.B) {
		cfg := &http.Server{Handler: h}
		ev := watch(b, cfg)
		addr, ccfg := startTLS(b, cfg)
		idleConnsOf(b, func() (net.Conn, error) { return tls.Dial("tcp", addr, ccfg) }, ev.moved)
	})
	b.Run("net", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(h1guard.New(h1guard.Options{}).Listener(ln))
		b.Cleanup(func() { srv.Close() })
		idleConns(b, ln.Addr().String())
	})
}

// idleConns opens b.N connections to addr, each sending one request and
// reading its answer, and reports the memory grown per connection.
func idleConns(b *testing.B, addr string) {
	idleConnsOf(b, func() (net.Conn, error) { return net.Dial("tcp", addr) }, nil)
}

// idleConnsOf is idleConns with the connections dial opens: the memory
// grown per connection (B/idle-conn), of which goroutine stacks
// (stack-B/idle-conn). moved, if not nil, returns how many connections
// wait on their waiter: the figures are taken once all b.N do.
func idleConnsOf(b *testing.B, dial func() (net.Conn, error), moved func() int) {
	b.ReportAllocs()
	before, stackBefore := testutil.InUse()
	conns := make([]net.Conn, 0, b.N)
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range b.N {
		c, err := dial()
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			b.Fatal(err)
		}
		io.ReadAll(resp.Body)
	}
	b.StopTimer()
	if moved != nil {
		testutil.WaitFor(b, 30*time.Second, "every connection waiting on its waiter", func() bool { return moved() >= b.N })
	}
	after, stackAfter := testutil.InUse()
	// The client side's share (its conn, bufio.Reader, response) is in the
	// same process and left in: small for plain connections (about 0.3 KB),
	// not over TLS (the client's crypto/tls state, about 8 KB).
	b.ReportMetric(float64(after-before)/float64(b.N), "B/idle-conn")
	b.ReportMetric(float64(stackAfter-stackBefore)/float64(b.N), "stack-B/idle-conn")
}

// BenchmarkKeepAlive serves b.N requests, one after another, on one
// keep-alive connection: the cost of a request including its idle wait.
//
//	go test ./l7/h1server -run '^$' -bench KeepAlive -benchtime 20000x
func BenchmarkKeepAlive(b *testing.B) {
	addr, _ := start(b, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, weir!\n")
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
