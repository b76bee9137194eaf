package testutil

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// TCPServer serves handle, one goroutine per connection, on 127.0.0.1
// until the test ends (the connection is closed after handle). It returns
// the address and the count of connections accepted so far.
func TCPServer(tb testing.TB, handle func(net.Conn)) (addr string, accepted *atomic.Int64) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	accepted = &atomic.Int64{}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String(), accepted
}

// UDPEchoServer answers each datagram it receives on 127.0.0.1 with
// "echo:" and the datagram when answer is set (else never), until the test
// ends; it returns its address.
func UDPEchoServer(tb testing.TB, answer bool) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	tb.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if answer {
				pc.WriteTo(append([]byte("echo:"), buf[:n]...), addr)
			}
		}
	}()
	return pc.LocalAddr().String()
}
