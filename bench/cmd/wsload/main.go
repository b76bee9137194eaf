// Command wsload measures WebSocket echo throughput: N connections each send
// a message, wait for its echo, and repeat for a fixed duration. With -echo
// it is instead the echo backend the benchmark proxies to.
//
//	wsload -echo 127.0.0.1:9000
//	wsload -url ws://127.0.0.1:8080/ -host bench.local -conns 64 -size 1024 -duration 5s
//
// The report is one line of key=value pairs on standard output: messages,
// msgs_per_s, p50_us, p99_us, errors, conns.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	var (
		echoAddr = flag.String("echo", "", "serve a WebSocket echo backend on this address instead of loading")
		url      = flag.String("url", "", "WebSocket URL to load, e.g. ws://127.0.0.1:8080/")
		host     = flag.String("host", "", "Host header (default: the URL's host)")
		conns    = flag.Int("conns", 64, "concurrent connections")
		size     = flag.Int("size", 1024, "message size in bytes")
		duration = flag.Duration("duration", 5*time.Second, "how long to load")
		maxMsgs  = flag.Int("max-messages", 100_000_000, "stop after this many messages in all (a bound on the loop)")
	)
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("wsload: ")
	switch {
	case *echoAddr != "":
		if err := serveEcho(*echoAddr); err != nil {
			log.Fatal(err)
		}
	case *url != "":
		if *conns < 1 || *size < 1 || *duration <= 0 {
			log.Fatal("-conns, -size and -duration must be positive")
		}
		r, err := load(*url, *host, *conns, *size, *duration, int64(*maxMsgs))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r)
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// serveEcho serves a WebSocket echo on addr until SIGINT or SIGTERM.
func serveEcho(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// echo upgrades the request and echoes every message until the connection
// closes. A plain GET answers 200 "ok", for readiness checks.
func echo(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") == "" {
		fmt.Fprintln(w, "ok")
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(16 << 20)
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

type report struct {
	messages, errors int64
	conns            int
	elapsed          time.Duration
	p50, p99         time.Duration
}

func (r report) String() string {
	return fmt.Sprintf("messages=%d msgs_per_s=%.0f p50_us=%d p99_us=%d errors=%d conns=%d",
		r.messages, float64(r.messages)/r.elapsed.Seconds(), r.p50.Microseconds(), r.p99.Microseconds(), r.errors, r.conns)
}

// load dials conns connections, then has each send size-byte binary
// messages and await their echo until duration has passed or maxMsgs
// messages were echoed in all.
func load(url, host string, conns, size int, duration time.Duration, maxMsgs int64) (report, error) {
	dialCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := make([]*websocket.Conn, conns)
	for i := range cs {
		c, _, err := websocket.Dial(dialCtx, url, &websocket.DialOptions{Host: host})
		if err != nil {
			for _, c := range cs[:i] {
				c.CloseNow()
			}
			return report{}, fmt.Errorf("dial %s (connection %d): %w", url, i+1, err)
		}
		c.SetReadLimit(16 << 20)
		cs[i] = c
	}
	msg := make([]byte, size)
	_, _ = rand.Read(msg)

	var (
		mu       sync.Mutex
		total    report
		samples  []time.Duration
		wg       sync.WaitGroup
		perConn  = maxMsgs / int64(conns)
		start    = time.Now()
		deadline = start.Add(duration)
	)
	ctx, stop := context.WithDeadline(context.Background(), deadline.Add(10*time.Second))
	defer stop()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.CloseNow()
			var n, errs int64
			lat := make([]time.Duration, 0, 1<<14)
			for i := int64(0); i < perConn && time.Now().Before(deadline); i++ {
				t0 := time.Now()
				if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
					errs++
					break
				}
				_, got, err := c.Read(ctx)
				if err != nil || len(got) != size {
					errs++
					break
				}
				n++
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
			}
			c.Close(websocket.StatusNormalClosure, "")
			mu.Lock()
			total.messages += n
			total.errors += errs
			samples = append(samples, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	total.conns = conns
	slices.Sort(samples)
	if len(samples) > 0 {
		total.p50 = samples[len(samples)/2]
		total.p99 = samples[len(samples)*99/100]
	}
	return total, nil
}
