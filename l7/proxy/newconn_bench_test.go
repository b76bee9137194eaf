package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/proxyproto"
)

// BenchmarkProxyNewConn measures what a new client connection costs: b.N
// connections, one after another, each sending one GET with
// "Connection: close" and reading the answer up to the server's close
// (bench/bench.sh's close scenario, one connection at a time), through the
// stack userspace/daemon serves plain HTTP with: l7/drain's listener,
// l7/connlimit's, the PROXY protocol's, h1guard with h2c, l7/h1server,
// the Proxy's ConnState; access log and metrics on. The client makes
// blocking system calls on its own sockets and the backend is a raw
// keep-alive listener, neither allocating per connection, so mallocs/conn
// and B/conn are the server side's (amortised: the GC's own work and a
// pool refilled after a GC included). For the system calls per
// connection, count the process's with perf stat at two -benchtime values.
//
//	go test ./l7/proxy -run '^$' -bench ProxyNewConn -benchmem -benchtime 5000x
func BenchmarkProxyNewConn(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, weir!\n")
	up := rawBackend(b, func(c net.Conn) {
		_ = c.SetDeadline(time.Time{}) // the pooled upstream connection outlives rawBackend's 10 s
		serveCanned(c, resp)
	})
	p, _ := front(b, Options{AccessLog: io.Discard, Registry: prometheus.NewRegistry()},
		snap(1, "bench.local", backendOf("a", []string{up})))
	addr := serveLikeDaemon(b, p)
	sa := &unix.SockaddrInet4{Port: addr.Port, Addr: [4]byte{127, 0, 0, 1}}
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\nAccept: */*\r\nConnection: close\r\n\r\n")
	buf := make([]byte, 4096)
	// Warm up: the pools, the upstream connection, the metric series, the
	// serving goroutines.
	before, after := measured(b, 200, func() error { return closeRoundTrip(sa, req, buf) })
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "mallocs/conn")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "B/conn")
	b.ReportMetric(float64(after.NumGC-before.NumGC)*1000/float64(b.N), "GCs/1000conns")
}

// serveLikeDaemon serves p's plain HTTP on 127.0.0.1 as userspace/daemon
// does (Run's proxySrv and serveProxy) and returns the address; the test
// closes it.
func serveLikeDaemon(tb testing.TB, p *Proxy) *net.TCPAddr {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	guard := h1guard.New(h1guard.Options{Source: p, H2C: true})
	limits := connlimit.New(connlimit.Options{Source: p})
	srv := &http.Server{
		Handler:           guard.Handler(p),
		Protocols:         h1guard.ClearTextProtocols(),
		ConnState:         p.ConnState,
		ReadHeaderTimeout: 60 * time.Second,
		HTTP2:             HTTP2Config(),
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	limits.Configure(srv)
	errc := make(chan error, 1)
	s := h1server.ServePlain(h1server.KindWeir, "http", srv, guard, ln, func(l net.Listener) net.Listener {
		return proxyproto.Wrap(limits.Listener(l), p)
	}, errc)
	tb.Cleanup(func() {
		drain.Shutdown([]drain.Server{s}, nil, drain.Options{Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
		_ = ln.Close()
		select {
		case err := <-errc:
			tb.Errorf("serve: %v", err)
		default:
		}
	})
	return ln.Addr().(*net.TCPAddr)
}

// closeRoundTrip connects to sa with blocking system calls, writes req
// and reads the answer into buf up to the server's close: a 200 with
// Connection: close. It allocates nothing when all goes well.
func closeRoundTrip(sa *unix.SockaddrInet4, req, buf []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 10}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("set receive timeout: %w", err)
	}
	if err := connectRetrying(fd, sa); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	for p := req; len(p) > 0; {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue // a signal: -cpuprofile's SIGPROF
		}
		if err != nil {
			return fmt.Errorf("write request: %w", err)
		}
		p = p[n:]
	}
	n := 0
	for {
		if n == len(buf) {
			return errors.New("read response: larger than the buffer")
		}
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read response: %w", err)
		}
		if m == 0 {
			break
		}
		n += m
	}
	if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 200 ")) || !bytes.Contains(buf[:n], []byte("\r\nConnection: close\r\n")) ||
		!bytes.HasSuffix(buf[:n], []byte("hello, weir!\n")) {
		return fmt.Errorf("read response: got %q, want a 200 with Connection: close", buf[:n])
	}
	return nil
}

// connectRetrying connects the blocking socket fd to sa. A connect
// interrupted by a signal (-cpuprofile's SIGPROF) goes on in the kernel:
// it waits until the socket is writable and reads the outcome.
func connectRetrying(fd int, sa unix.Sockaddr) error {
	err := unix.Connect(fd, sa)
	if err != unix.EINTR {
		return err
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return unix.ETIMEDOUT
		}
		break
	}
	if errno, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil {
		return err
	} else if errno != 0 {
		return unix.Errno(errno)
	}
	return nil
}
