// Command floorproxy is the floor of issue 9: the least a Go TCP proxy can
// do for a proxied request, measured in bench/bench.sh beside Weir and nginx
// (targets floor-goroutine and floor-epoll). It parses nothing: each client
// connection gets its own upstream connection, dialled at accept, and the
// bytes go through unchanged both ways; a FIN is passed on as a FIN
// (shutdown of the write side), a reset or error closes both connections.
//
//	floorproxy -mode goroutine -listen 127.0.0.1:8080 -upstream 127.0.0.1:9000
//	floorproxy -mode epoll -listen 127.0.0.1:8080 -upstream 127.0.0.1:9000
//	floorproxy -mode uring -listen 127.0.0.1:8080 -upstream 127.0.0.1:9000
//
// Modes:
//
//   - goroutine: Go's net package, one goroutine per direction of each
//     connection, each a read and a write per chunk into its own 16 KiB
//     buffer (not io.Copy, whose splice costs two system calls a chunk).
//   - epoll: one goroutine locked to its thread runs an edge-triggered epoll
//     loop over raw non-blocking descriptors (accept4, epoll_wait with up to
//     512 events, read and write per ready descriptor), no Go netpoller and
//     no goroutine per connection. A connection keeps no buffer of its own:
//     one 64 KiB read buffer serves all, and only bytes a write could not
//     take are copied aside until the descriptor is writable.
//   - uring: one io_uring (io_uring_setup, the rings mapped, io_uring_enter
//     through x/sys's raw system calls; Linux 6.1 or later for
//     IORING_SETUP_DEFER_TASKRUN) on one locked thread: a multishot accept,
//     a CONNECT per upstream connection, and per direction a RECV into the
//     pair's 16 KiB buffer (off the Go heap) followed by a SEND linked to the
//     next RECV, whose completion is skipped when it succeeds. One
//     io_uring_enter submits everything queued and waits for the next
//     completions.
//
// With -raw-wait (the default) the epoll and uring loops wait in raw system
// calls, unseen by the Go scheduler: on the shared 2-CPU machine that cut
// context switches per request by 20-50% and the loop's CPU per request by
// 13-28% against waiting through Syscall6 (see bench/README.md).
//
// GOMAXPROCS is 1 unless the environment sets it, as Weir's one-core setup.
// It prints "floorproxy: <mode> on <address>" to standard error once it
// listens, and runs until killed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
)

func main() {
	var (
		mode     = flag.String("mode", "goroutine", "goroutine, epoll or uring")
		listen   = flag.String("listen", "127.0.0.1:8080", "address to accept clients on")
		upstream = flag.String("upstream", "127.0.0.1:9000", "IPv4 address and port every client connection is forwarded to")
	)
	flag.BoolVar(&rawWait, "raw-wait", true, "epoll and uring: wait in a raw system call, unseen by the Go scheduler (false: through Syscall6)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("floorproxy: ")
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	switch *mode {
	case "goroutine":
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			log.Fatalf("listen %s: %v", *listen, err)
		}
		log.Printf("goroutine on %s", ln.Addr())
		log.Fatal(serveGoroutine(ln, *upstream))
	default:
		p, err := newLoop(*mode, *listen, *upstream)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("%s on %s", *mode, p.Addr())
		log.Fatal(p.Serve())
	}
}

// loop is the epoll or the uring mode.
type loop interface {
	Addr() string
	Serve() error
	Close() error
}

var (
	_ loop = (*epollProxy)(nil)
	_ loop = (*uringProxy)(nil)
)

// newLoop makes the loop of mode epoll or uring.
func newLoop(mode, listen, upstream string) (loop, error) {
	switch mode {
	case "epoll":
		return newEpollProxy(listen, upstream)
	case "uring":
		return newUringProxy(listen, upstream)
	}
	return nil, fmt.Errorf("unknown -mode %q (want goroutine, epoll or uring)", mode)
}

// serveGoroutine accepts clients on ln until it is closed (then it returns
// nil) and forwards each to upstream on goroutines of its own.
func serveGoroutine(ln net.Listener, upstream string) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go forwardConn(c.(*net.TCPConn), upstream)
	}
}

// forwardConn dials upstream for client c and copies both directions until
// both have ended, then closes both connections.
func forwardConn(c *net.TCPConn, upstream string) {
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		c.Close()
		return
	}
	up := u.(*net.TCPConn)
	done := make(chan struct{})
	go func() {
		copyClientToUpstream(up, c)
		close(done)
	}()
	copyHalf(c, up)
	<-done
	c.Close()
	up.Close()
}

// copyClientToUpstream is copyHalf under a name that says, in a stack trace,
// which direction it is.
func copyClientToUpstream(up, c *net.TCPConn) { copyHalf(up, c) }

// copyHalf copies src to dst until src ends: at EOF it shuts down dst's
// write side (the FIN passed on); on an error it closes both, so that the
// other direction ends too.
func copyHalf(dst, src *net.TCPConn) {
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				dst.Close()
				return
			}
		}
		if err == io.EOF {
			dst.CloseWrite()
			return
		}
		if err != nil {
			src.Close()
			dst.Close()
			return
		}
	}
}
