package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
)

// h2cFront serves p behind a guard that takes h2c, whose Source it is (as
// l7/worker wires them), on a clear-text listener, and returns its address.
func h2cFront(tb testing.TB, p *Proxy) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := h1guard.New(h1guard.Options{Source: p, H2C: true})
	srv := &http.Server{Handler: g.Handler(p), Protocols: h1guard.ClearTextProtocols(), ConnState: p.ConnState}
	s := h1server.ServePlain(h1servertest.Kind(), "http", srv, g, ln, nil, make(chan error, 1))
	tb.Cleanup(func() {
		_ = s.Srv.Close()
		<-s.Served
		p.Close()
	})
	return ln.Addr().String()
}

// TestRefusedHTTP2Lines checks the access-log line of an HTTP/2 request
// refused before routing against nginx 1.22.1's, configured as
// ingress-nginx renders it (http2 on the listeners, its upstreaminfo
// variables; the lines were recorded over TLS): nginx takes the fields one
// by one and builds the request line once it has them all, so a request
// refused on the way logs $request "-", and $request_uri "-" when :path had
// not come (the fields in curl's order: :method, :path, :scheme,
// :authority); no location ran ($proxy_upstream_name empty). $host is the
// host taken, else the server SNI chose (none here: "_"), and "_" for a
// request with no host at all. A header list over the buffers is reset
// with nothing sent: status 000. $bytes_sent counts the HTTP/2 frames of
// the answer.
func TestRefusedHTTP2Lines(t *testing.T) {
	t.Parallel()
	type F = h1servertest.H2Field
	curl := func(method, path, authority string, extra ...F) []F {
		return append([]F{{Name: ":method", Value: method}, {Name: ":path", Value: path}, {Name: ":scheme", Value: "http"}, {Name: ":authority", Value: authority}}, extra...)
	}
	const tail = ` [] [] HTTP/2.0`
	for _, tc := range []struct {
		name   string
		fields []F
		data   []byte
		want   string
	}{
		{"invalid method", curl("G@T", "/mb", "example.com"), nil, `"-" 400 150` + tail + ` 207 _ G@T -`},
		{"space in path", curl("GET", "/a b", "example.com"), nil, `"-" 400 150` + tail + ` 207 _ GET -`},
		{"dot segments", curl("GET", "/../x", "example.com"), nil, `"-" 400 150` + tail + ` 207 _ GET -`},
		{"invalid authority", curl("GET", "/ab", "exa mple.com"), nil, `"-" 400 150` + tail + ` 207 _ GET /ab`},
		{"another host", curl("GET", "/h", "example.com", F{Name: "host", Value: "other.com"}), nil, `"-" 400 150` + tail + ` 207 example.com GET /h`},
		{"another host HEAD", curl("HEAD", "/h", "example.com", F{Name: "host", Value: "other.com"}), nil, `"-" 400 0` + tail + ` 48 example.com HEAD /h`},
		{"two content-lengths", curl("POST", "/p", "example.com", F{Name: "content-length", Value: "5"}, F{Name: "content-length", Value: "5"}), []byte("hello"), `"-" 400 150` + tail + ` 207 example.com POST /p`},
		{"no host", []F{{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/h"}, {Name: ":scheme", Value: "http"}}, nil, `"GET /h HTTP/2.0" 400 150` + tail + ` 207 _ GET /h`},
		{"TRACE", curl("TRACE", "/", "example.com"), nil, `"TRACE / HTTP/2.0" 405 150` + tail + ` 211 example.com TRACE /`},
		{"CONNECT without :path", []F{{Name: ":method", Value: "CONNECT"}, {Name: ":authority", Value: "example.com:443"}}, nil, `"-" 400 150` + tail + ` 207 example.com CONNECT -`},
		{"content-length, no body", curl("POST", "/p", "example.com", F{Name: "content-length", Value: "3"}), nil, `"POST /p HTTP/2.0" 400 150` + tail + ` 207 example.com POST /p`},
		{"field over a buffer", curl("GET", "/t", "example.com", F{Name: "x-big", Value: strings.Repeat("a", 14000)}), nil, `"-" 000 0` + tail + ` 0 example.com GET /t`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			s := withLogFormat(t, snap(1, "example.com", backendOf("a", []string{"127.0.0.1:1"})), map[string]string{
				"log-format-upstream": `"$request" $status $body_bytes_sent [$proxy_upstream_name] [$proxy_alternative_upstream_name] $server_protocol $bytes_sent $host $request_method $request_uri`,
			})
			p := New(Options{AccessLog: &buf})
			if err := p.Apply(s); err != nil {
				t.Fatal(err)
			}
			addr := h2cFront(t, p)
			h1servertest.RawH2(t, addr, tc.fields, tc.data)
			waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
			if got := strings.TrimSuffix(buf.String(), "\n"); got != tc.want {
				t.Errorf("line\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestHTTP2BodyErrorKeepsConnection: a body over proxy-body-size without
// a Content-Length (413 as it is read) and a stream ending short of its
// Content-Length (400) answer the stream, and the HTTP/2 connection goes
// on, as nginx's (no GOAWAY: net/http takes Connection: close on an
// HTTP/2 response for one).
func TestHTTP2BodyErrorKeepsConnection(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	p := New(Options{})
	if err := p.Apply(snap(1, "example.com", backendOf("a", []string{addr(up)}, limit(4)))); err != nil {
		t.Fatal(err)
	}
	base := "http://" + h2cFront(t, p)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	send := func(method string, body io.Reader, length int64) (int, bool) {
		t.Helper()
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, base+"/", body)
		req.Host = "example.com"
		req.ContentLength = length
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, reused
	}
	if code, _ := send(http.MethodGet, nil, 0); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	if code, reused := send(http.MethodPost, io.MultiReader(strings.NewReader("123456789")), -1); code != 413 || !reused {
		t.Errorf("body over the limit: %d, connection reused %v; want 413 on the same connection", code, reused)
	}
	if code, reused := send(http.MethodGet, nil, 0); code != 200 || !reused {
		t.Errorf("GET after the 413: %d, connection reused %v; want 200 on the same connection", code, reused)
	}
}
