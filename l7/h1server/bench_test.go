package h1server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/test/testutil"
)

// BenchmarkIdleConn reports the memory (heap and goroutine stacks) each idle
// keep-alive connection holds on the server's side after one request, under
// a Server ("weir"; "weir-tls": TLS 1.3 through ServeTLS, the client's
// ClientHello with Go's default X25519MLKEM768 key share) and under
// net/http's behind h1guard ("net"): b.N connections, opened by a client in
// a process of its own (this test binary, TestIdleClientProcess) so that
// the figures are the server's only.
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
		idleConnsOf(b, addr, nil, ev.moved)
	})
	b.Run("weir-tls", func(b *testing.B) {
		cfg := &http.Server{Handler: h}
		ev := watch(b, cfg)
		addr, ca := startTLSCA(b, cfg, waits{sweepEvery: sweepEvery, busyGap: busyGap})
		idleConnsOf(b, addr, ca.PEM(), ev.moved)
	})
	b.Run("net", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(h1guard.New(h1guard.Options{}).Listener(ln))
		b.Cleanup(func() { srv.Close() })
		idleConnsOf(b, ln.Addr().String(), nil, nil)
	})
}

// idleConnsOf has a client process open b.N connections to addr (TLS
// trusting caPEM, for "tls.test", unless caPEM is nil), each sending one
// request and reading its answer, and reports the memory this process grew
// by per connection (B/idle-conn), of which goroutine stacks
// (stack-B/idle-conn). moved, if not nil, returns how many connections
// wait on their waiter: the figures are taken once all b.N do.
func idleConnsOf(b *testing.B, addr string, caPEM []byte, moved func() int) {
	before, stackBefore := testutil.InUse()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), idleClientEnv+"="+addr, "IDLE_CLIENT_N="+strconv.Itoa(b.N), "IDLE_CLIENT_CA="+string(caPEM))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the client process: %v", err)
	}
	b.Cleanup(func() {
		stdin.Close() // the client closes its connections and exits
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "open\n" {
		b.Fatalf("client process: %q, %v", line, err)
	}
	b.StopTimer()
	if moved != nil {
		testutil.WaitFor(b, 30*time.Second, "every connection waiting on its waiter", func() bool { return moved() >= b.N })
	}
	after, stackAfter := testutil.InUse()
	b.ReportMetric(float64(after-before)/float64(b.N), "B/idle-conn")
	b.ReportMetric(float64(stackAfter-stackBefore)/float64(b.N), "stack-B/idle-conn")
}

// idleClientEnv names the variable that makes TestIdleClientProcess the
// client of idleConnsOf: the server's address.
const idleClientEnv = "IDLE_CLIENT_ADDR"

// TestIdleClientProcess is idleConnsOf's client, in a process of its own
// (skipped otherwise): it opens IDLE_CLIENT_N connections to
// IDLE_CLIENT_ADDR (TLS 1.3 trusting the CA IDLE_CLIENT_CA, if set), each
// sending one request and reading its answer, prints "open", and closes
// them when its standard input ends.
func TestIdleClientProcess(t *testing.T) {
	addr := os.Getenv(idleClientEnv)
	if addr == "" {
		t.Skip("the client process of BenchmarkIdleConn")
	}
	n, err := strconv.Atoi(os.Getenv("IDLE_CLIENT_N"))
	if err != nil {
		t.Fatal(err)
	}
	var ccfg *tls.Config
	if ca := os.Getenv("IDLE_CLIENT_CA"); ca != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ca)) {
			t.Fatal("IDLE_CLIENT_CA: no certificate")
		}
		ccfg = &tls.Config{RootCAs: pool, ServerName: "tls.test", NextProtos: []string{"http/1.1"}}
	}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		var c net.Conn
		if ccfg != nil {
			c, err = tls.Dial("tcp", addr, ccfg)
		} else {
			c, err = net.Dial("tcp", addr)
		}
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		_ = c.SetDeadline(time.Time{})
	}
	fmt.Println("open")
	io.Copy(io.Discard, os.Stdin)
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
