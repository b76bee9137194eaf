package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// runIdle opens -n keep-alive connections to -addr (TLS 1.3 with -tls), has
// each make one GET and read its answer, prints "open N" on standard output
// once all are idle, and holds them until SIGINT, SIGTERM or -hold has
// passed. The proxy then holds N idle keep-alive connections: its memory
// growth divided by N is its cost per idle connection.
func runIdle(args []string) error {
	fs := flag.NewFlagSet("benchtool idle", flag.ContinueOnError)
	var (
		addr    = fs.String("addr", "", "proxy address, host:port")
		host    = fs.String("host", "bench.local", "Host header and TLS server name")
		path    = fs.String("path", smallPath, "path of the one request per connection")
		n       = fs.Int("n", 1000, "connections to open")
		useTLS  = fs.Bool("tls", false, "TLS 1.3 (certificate not verified)")
		par     = fs.Int("parallel", 32, "connections opened at a time")
		timeout = fs.Duration("timeout", 2*time.Minute, "bound on opening them all")
		hold    = fs.Duration("hold", 10*time.Minute, "bound on holding them open")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *addr == "" || *n < 1 || *par < 1 {
		return fmt.Errorf("idle: want -addr, -n >= 1 and -parallel >= 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	openCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *host + "\r\nUser-Agent: benchtool-idle\r\n\r\n")
	conns := make([]net.Conn, *n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range *par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := openIdle(openCtx, *addr, *host, *useTLS, req)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("open connection %d to %s: %w", i, *addr, err)
					}
					mu.Unlock()
					cancel()
					continue
				}
				conns[i] = c
			}
		}()
	}
	for i := range conns {
		if openCtx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := openCtx.Err(); err != nil {
		return fmt.Errorf("open %d connections to %s: %w", *n, *addr, err)
	}
	fmt.Printf("open %d\n", *n)
	select {
	case <-ctx.Done():
	case <-time.After(*hold):
	}
	return nil
}

// openIdle dials addr, sends req and reads the whole answer, leaving the
// connection idle and open.
func openIdle(ctx context.Context, addr, host string, useTLS bool, req []byte) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if useTLS {
		tc := tls.Client(c, &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		c = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read response: %w", err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || resp.Close {
		c.Close()
		return nil, fmt.Errorf("response: status %d, close %v, body: %v", resp.StatusCode, resp.Close, err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
