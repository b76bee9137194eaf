package h1guard

import (
	"fmt"
	"io"
	"net"
	"net/http"
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
