package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkProxyAllocs measures the proxy's own allocations per request on
// the plain HTTP/1.1 keep-alive path, access log and metrics on: its client
// (a raw TCP connection writing one fixed GET and reading the
// Content-Length response into a fixed buffer) and its backend (a raw
// listener that reads up to the end of each head and writes a canned
// 13-byte response) allocate nothing per request, so allocs/op is the
// proxy's and its HTTP/1.1 server's. One connection, one request at a time:
// the figure is deterministic. allocs/op is rounded down; mallocs/req is
// the exact mean (amortised allocations, such as a new arena chunk, show
// as fractions).
//
//	go test ./l7/proxy -run '^$' -bench ProxyAllocs -benchmem -benchtime 20000x
func BenchmarkProxyAllocs(b *testing.B) {
	b.Run("wrk", func(b *testing.B) {
		benchProxyAllocs(b, "GET /bench?x=1 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	})
	// 16 fields, as a browser sends them: the bound.
	b.Run("browser", func(b *testing.B) {
		benchProxyAllocs(b, "GET /bench?x=1 HTTP/1.1\r\nHost: bench.local\r\n"+
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n"+
			"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"+
			"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"+
			"Connection: keep-alive\r\nCookie: session=0123456789abcdef; theme=dark\r\n"+
			"Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n"+
			"Sec-Fetch-Site: none\r\nSec-Fetch-User: ?1\r\nPriority: u=0, i\r\nReferer: http://bench.local/\r\n"+
			"Cache-Control: no-cache\r\nPragma: no-cache\r\n\r\n")
	})
	// Chrome's client hints come in lower case over HTTP/1.1.
	b.Run("chrome", func(b *testing.B) {
		benchProxyAllocs(b, "GET /bench?x=1 HTTP/1.1\r\nHost: bench.local\r\nConnection: keep-alive\r\n"+
			"sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\nsec-ch-ua-mobile: ?0\r\n"+
			"sec-ch-ua-platform: \"Linux\"\r\nUpgrade-Insecure-Requests: 1\r\n"+
			"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n"+
			"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"+
			"Sec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-User: ?1\r\nSec-Fetch-Dest: document\r\n"+
			"Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n"+
			"Cookie: session=0123456789abcdef\r\n\r\n")
	})
}

func benchProxyAllocs(b *testing.B, head string) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, weir!\n")
	up := rawBackend(b, func(c net.Conn) { serveCanned(c, resp) })
	_, srv := front(b, Options{AccessLog: io.Discard, Registry: prometheus.NewRegistry()},
		snap(1, "bench.local", backendOf("a", []string{up})))
	c, err := net.Dial("tcp", addr(srv))
	if err != nil {
		b.Fatalf("dial proxy: %v", err)
	}
	defer c.Close()
	req := []byte(head)
	buf := make([]byte, 4096)
	// Warm up: the pools, the upstream connection, the metric series.
	before, after := measured(b, 100, func() error { return rawRoundTrip(c, req, buf, 13) })
	// allocs/op is rounded down: this is the exact mean.
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "mallocs/req")
}

// measured runs op warmup times, then b.N times timed, reporting
// allocations; it returns the memory statistics before and after the
// timed runs.
func measured(b *testing.B, warmup int, op func() error) (before, after runtime.MemStats) {
	for range warmup {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	return before, after
}

// serveCanned writes resp once per request head read from c, until c
// closes.
func serveCanned(c net.Conn, resp []byte) {
	buf := make([]byte, 8192)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if i < 0 {
				break
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
			n = copy(buf, buf[i+4:n])
		}
		if n == len(buf) {
			return // a head larger than the buffer: not a benchmark request
		}
	}
}

// rawRoundTrip writes req on c and reads one Content-Length response of
// bodyLen bytes into buf, allocating nothing when all goes well.
func rawRoundTrip(c net.Conn, req, buf []byte, bodyLen int) error {
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	n, end := 0, -1
	for end < 0 {
		if n == len(buf) {
			return errors.New("read response: head too large")
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		n += m
		end = bytes.Index(buf[:n], []byte("\r\n\r\n"))
	}
	head := buf[:end+4]
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("read response: got %q, want 200", head)
	}
	cl := contentLength(head)
	if cl != bodyLen {
		return fmt.Errorf("read response: Content-Length %d, want %d", cl, bodyLen)
	}
	for n < end+4+cl {
		m, err := c.Read(buf[n:])
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		n += m
	}
	if n != end+4+cl {
		return fmt.Errorf("read response: %d bytes after the body", n-end-4-cl)
	}
	return nil
}

// contentLength is the value of head's Content-Length field, -1 without
// one.
func contentLength(head []byte) int {
	const name = "\r\ncontent-length:"
	for i := 0; i+len(name) <= len(head); i++ {
		if !bytes.EqualFold(head[i:i+len(name)], []byte(name)) {
			continue
		}
		v := 0
		j := i + len(name)
		for j < len(head) && head[j] == ' ' {
			j++
		}
		for ; j < len(head) && head[j] >= '0' && head[j] <= '9'; j++ {
			v = v*10 + int(head[j]-'0')
		}
		return v
	}
	return -1
}
