package proxy

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
)

// streamBody is proxy-request-buffering off.
func streamBody(p *annotations.Proxy) { p.Upstream = &annotations.Upstream{NoRequestBuffering: true} }

// TestRequestBuffering: by default a chunked body is read whole (past
// client-body-buffer-size into a temporary file) and sent with a
// Content-Length; a client that stalls its body gets no answer and the endpoint
// never sees a connection.
func TestRequestBuffering(t *testing.T) {
	t.Parallel()
	up, conns, _ := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "te=%v len=%d sum=%x", r.TransferEncoding, r.ContentLength, sha256.Sum256(b))
	})
	p, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)}, func(p *annotations.Proxy) { p.BodySizeBytes = 0 })))
	p.clientBody = time.Second
	body := strings.Repeat("0123456789abcdef", 20000) // 320 kB: past the 8k in memory
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", io.MultiReader(strings.NewReader(body[:1000]), strings.NewReader(body[1000:])))
	req.Host = "foo.com"
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("te=[] len=%d sum=%x", len(body), sha256.Sum256([]byte(body))); string(got) != want {
		t.Errorf("endpoint saw %q, want %q", got, want)
	}
	before := conns.Load()

	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: foo.com\r\nContent-Length: 10\r\n\r\nabc")
	assertEndsSilently(t, conn)
	if n := conns.Load(); n != before {
		t.Errorf("the endpoint saw %d more connections for a body never completed, want none", n-before)
	}
}

// TestProxyHTTPVersion10: proxy-http-version 1.0 sends an HTTP/1.0
// request line without a Connection field (nginx 1.22.1 under
// ingress-nginx's "proxy_set_header Connection $connection_upgrade" sent
// none) and a Content-Length for a chunked
// body, even with request buffering off, and opens a connection per
// request.
func TestProxyHTTPVersion10(t *testing.T) {
	t.Parallel()
	lines := make(chan string, 4)
	up, conns, _ := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		lines <- fmt.Sprintf("%s %s conn=%v len=%d body=%s", r.Method, r.Proto, r.Header["Connection"], r.ContentLength, b)
		io.WriteString(w, "ok")
	})
	be := backendOf("a", []string{addr(up)}, func(p *annotations.Proxy) {
		p.Upstream = &annotations.Upstream{HTTP10: true, NoRequestBuffering: true}
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", be))
	c := client(t)
	for i := range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
		req.Host = "foo.com"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
		if got, want := <-lines, "POST HTTP/1.0 conn=[] len=4 body=abcd"; got != want {
			t.Errorf("request %d: endpoint saw %q, want %q", i, got, want)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d upstream connections for 2 requests, want 2 (no keep-alive)", n)
	}
}

// TestProxyBufferSize: a response header over proxy-buffer-size (4k by
// default) is nginx's 502 "upstream sent too big header"; a larger
// proxy-buffer-size lets it through.
func TestProxyBufferSize(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Big", strings.Repeat("x", 6000))
		io.WriteString(w, "ok")
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	if res := get(t, client(t), srv, "foo.com", "/"); res.status != http.StatusBadGateway {
		t.Errorf("6k header with the default 4k: %d, want 502", res.status)
	}
	be := backendOf("a", []string{addr(up)}, func(p *annotations.Proxy) { p.Upstream = &annotations.Upstream{ProxyBufferSize: 16 << 10} })
	_, srv = front(t, Options{}, snap(1, "foo.com", be))
	if res := get(t, client(t), srv, "foo.com", "/"); res.status != 200 || len(res.header.Get("X-Big")) != 6000 {
		t.Errorf("6k header with 16k: %d, want 200 with the header", res.status)
	}
}

// TestProxyBufferingOff: with proxy-buffering off (the default) what the
// endpoint sent reaches the client before the endpoint finishes, even with
// a Content-Length.
func TestProxyBufferingOff(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "world")
	})
	defer close(release)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "hello" {
		t.Fatalf("first part %q %v, want \"hello\" before the endpoint finished", first, err)
	}
}

// countConns counts the connections srv accepts into n.
func countConns(srv *http.Server, n *atomic.Int32) {
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
}

// TestInvalidResponseHeader: a response head nginx's upstream parser
// refuses ("upstream sent invalid header": a folded line, a space in or
// after a name) or a status below 100 is a 502 with nginx's page, where
// Weir used to relay the response without the field, or close the
// connection with nothing sent (status 099).
func TestInvalidResponseHeader(t *testing.T) {
	t.Parallel()
	for _, head := range []string{
		"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nok",
	} {
		up := rawBackend(t, func(c net.Conn) {
			_, _ = bufio.NewReader(c).ReadString('\n')
			io.WriteString(c, head)
		})
		_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{up})))
		if res := get(t, client(t), srv, "foo.com", "/"); res.status != http.StatusBadGateway || !strings.Contains(res.body, "502 Bad Gateway") {
			t.Errorf("%q: got %d %q, want nginx's 502", head, res.status, res.body)
		}
	}
}
