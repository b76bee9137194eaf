package h1guard

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveClearText serves h behind a Guard with opts on 127.0.0.1, with
// HTTP/1.1 and h2c, and returns its address.
func serveClearText(t *testing.T, opts Options, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := New(opts)
	srv := &http.Server{Handler: g.Handler(h), Protocols: ClearTextProtocols()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(g.Listener(ln))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// TestH2C: with Options.H2C a clear-text connection that starts with the
// HTTP/2 preface is served HTTP/2 (its requests checked as on TLS: TRACE
// 405), HTTP/1.1 stays guarded on the same listener; without it the
// preface is refused.
func TestH2C(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) })
	var h2c, h1 http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h1.SetHTTP1(true)
	client := func(p *http.Protocols) *http.Client {
		tr := &http.Transport{Protocols: p}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	do := func(c *http.Client, method, url string) (int, string, error) {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}

	on := "http://" + serveClearText(t, Options{H2C: true}, h) + "/"
	if code, body, err := do(client(&h2c), "GET", on); err != nil || code != 200 || body != "HTTP/2.0" {
		t.Errorf("h2c: %d %q %v, want 200 HTTP/2.0", code, body, err)
	}
	if code, _, err := do(client(&h2c), "TRACE", on); err != nil || code != http.StatusMethodNotAllowed {
		t.Errorf("h2c TRACE: %d %v, want 405", code, err)
	}
	if code, body, err := do(client(&h1), "GET", on); err != nil || code != 200 || body != "HTTP/1.1" {
		t.Errorf("HTTP/1.1 beside h2c: %d %q %v", code, body, err)
	}
	if code, _, err := do(client(&h1), "TRACE", on); err != nil || code != http.StatusMethodNotAllowed {
		t.Errorf("HTTP/1.1 TRACE: %d %v, want 405", code, err)
	}

	off := "http://" + serveClearText(t, Options{}, h) + "/"
	if code, body, err := do(client(&h2c), "GET", off); err == nil && code == 200 {
		t.Errorf("h2c without Options.H2C: %d %q, want refused", code, body)
	}
}

// TestHTTP2HeaderLimits: an HTTP/2 request whose header list is larger
// than large-client-header-buffers' buffers together, or with a field
// longer than one buffer however it is encoded, gets no answer (nginx
// 1.22 ends the connection: "client sent too large header" and "... too
// large header field"); a field whose decoded line ("name: value" and
// CRLF) is longer than a buffer gets 400, and a request line ("GET /path
// HTTP/2.0" and CRLF) longer than a buffer 414, as nginx 1.22.1 answered
// (a value of 8183 bytes for "x-big" served, of 8184 refused; GET of a
// :path of 8177 bytes served, of 8178 refused); what nginx accepts
// passes. Without the limits Go's HTTP/2 server takes header lists up to
// a megabyte.
func TestHTTP2HeaderLimits(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Proto) })
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	// random is n bytes a Huffman code does not shrink much (6 bits a byte).
	random := func(n int) string {
		const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		b := make([]byte, n)
		for i := range b {
			b[i] = abc[(i*7919+i/64)%len(abc)]
		}
		return string(b)
	}
	const framing = len(": \r\n")
	for _, limits := range []Limits{{}, {Buffers: 2, BufferSize: 16384}} {
		base := "http://" + serveClearText(t, Options{H2C: true, Limits: limits}, h)
		l := limits.withDefaults()
		linePath := "/" + strings.Repeat("p", l.BufferSize-len("GET  HTTP/2.0\r\n")-1) // its request line fills a buffer
		for _, tc := range []struct {
			name   string
			path   string
			fields map[string]string
			status int // 0: no answer
		}{
			{"small", "/", map[string]string{"X-A": "b"}, 200},
			{"under the total", "/", map[string]string{"X-A": random(7000), "X-B": random(7000), "X-C": random(7000)}, 200},
			{"over the total", "/", map[string]string{"X-A": random(7000), "X-B": random(7000), "X-C": random(7000), "X-D": random(7000), "X-E": random(7000)}, 0},
			{"a field whose line fills a buffer", "/", map[string]string{"X-A": strings.Repeat("a", l.BufferSize-len("x-a")-framing)}, 200},
			{"a field whose line is a byte longer than a buffer", "/", map[string]string{"X-A": strings.Repeat("a", l.BufferSize-len("x-a")-framing+1)}, 400},
			{"a long field Huffman shrinks under a buffer", "/", map[string]string{"X-A": strings.Repeat("a", l.BufferSize+l.BufferSize/4)}, 400},
			{"a field over a buffer", "/", map[string]string{"X-A": random(l.BufferSize * 2)}, 0},
			{"cookie fields, joined over a buffer", "/", nil, 200},
			{"a request line that fills a buffer", linePath, nil, 200},
			{"a request line a byte longer than a buffer", linePath + "p", nil, 414},
		} {
			tr := &http.Transport{Protocols: &h2c}
			req, _ := http.NewRequest("GET", base+tc.path, nil)
			for k, v := range tc.fields {
				req.Header.Set(k, v)
			}
			if tc.fields == nil && tc.path == "/" { // HTTP/2 sends each cookie as a field of its own
				for i := range 3 {
					req.AddCookie(&http.Cookie{Name: fmt.Sprint("c", i), Value: random(l.BufferSize * 5 / 8)})
				}
			}
			resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
			tr.CloseIdleConnections()
			status := 0
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			if status != tc.status {
				t.Errorf("%+v %s: %d (%v), want %d", limits, tc.name, status, err, tc.status)
			}
		}
	}
}
