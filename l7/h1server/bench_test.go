package h1server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
)

// BenchmarkIdleConn reports the memory (heap and goroutine stacks) each idle
// keep-alive connection holds after one request, under a Server ("weir")
// and under net/http's behind h1guard ("net"): b.N connections.
//
//	go test ./l7/h1server -run '^$' -bench IdleConn -benchtime 2000x
func BenchmarkIdleConn(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello, weir!\n")
	})
	b.Run("weir", func(b *testing.B) {
		addr, _ := start(b, nil, h)
		idleConns(b, addr)
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
	b.ReportAllocs()
	before := inUse()
	conns := make([]net.Conn, 0, b.N)
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range b.N {
		c, err := net.Dial("tcp", addr)
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
	after := inUse()
	// The client side's share (its conn, bufio.Reader, response) is in the
	// same process: measured with the same loop against nothing, it is
	// small next to a server's; it is left in.
	b.ReportMetric(float64(after-before)/float64(b.N), "B/idle-conn")
}

func inUse() uint64 {
	for range 4 { // stacks shrink by half at most per cycle
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
