package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkProxyKeepAlive measures the cost of one proxied request: a Proxy
// on a real 127.0.0.1 listener forwards GETs from parallel keep-alive
// clients to a real 127.0.0.1 backend that answers a 13-byte body. Besides
// ns/op and allocs/op it reports cpu-ns/req, the process CPU time (user +
// system, from getrusage) per request: clients, proxy and backend together,
// as they share the cores. The "direct" case sends the same load straight
// to the backend: proxied minus direct is the proxy's own cost;
// "proxied-logged" has the access log and the metrics on, as deployed.
//
//	go test ./l7/proxy -run '^$' -bench ProxyKeepAlive -benchtime 20000x -count 6
func BenchmarkProxyKeepAlive(b *testing.B) {
	const body = "hello, weir!\n" // 13 bytes
	up := backend(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	})
	_, srv := front(b, Options{}, snap(1, "bench.local", backendOf("a", []string{addr(up)})))
	// As deployed: access log (to a discarding writer) and metrics on.
	_, logged := front(b, Options{AccessLog: io.Discard, Registry: prometheus.NewRegistry()},
		snap(1, "bench.local", backendOf("a", []string{addr(up)})))
	b.Run("direct", func(b *testing.B) { benchKeepAlive(b, addr(up), len(body)) })
	b.Run("proxied", func(b *testing.B) { benchKeepAlive(b, addr(srv), len(body)) })
	b.Run("proxied-logged", func(b *testing.B) { benchKeepAlive(b, addr(logged), len(body)) })
}

// benchKeepAlive loads target with 16 parallel keep-alive clients sending
// GET /bench for bench.local, each answered with bodyLen bytes.
func benchKeepAlive(b *testing.B, target string, bodyLen int) {
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\n\r\n")
	b.SetParallelism(8) // 16 keep-alive clients on 2 cores
	b.ReportAllocs()
	var failed atomic.Value
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", target)
		if err != nil {
			failed.Store(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if err := roundTrip(c, br, req, bodyLen); err != nil {
				failed.Store(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/req")
}

// roundTrip writes req on c and reads one response of bodyLen bytes.
func roundTrip(c net.Conn, br *bufio.Reader, req []byte, bodyLen int) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK || n != int64(bodyLen) {
		return fmt.Errorf("got status %d and %d body bytes, want 200 and %d", resp.StatusCode, n, bodyLen)
	}
	return nil
}

// cpuTime returns the user + system CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
