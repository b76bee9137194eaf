package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
	"github.com/weir-lb/weir/userspace/annotations"
)

// cannedUpstream answers every request, once its head is read, with the
// raw bytes resp and closes the connection.
func cannedUpstream(tb testing.TB, resp string) string {
	tb.Helper()
	return rawBackend(tb, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, resp)
	})
}

// rawHead sends req to the proxy at srvAddr on a new connection and
// returns the status line and the header lines of the response (the Date
// line left out), read until the proxy closes the connection.
func rawHead(tb testing.TB, srvAddr, req string) (status string, fields []string) {
	tb.Helper()
	conn := dialRaw(tb, srvAddr)
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	head, _, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		tb.Fatalf("no whole head in %q", b)
	}
	lines := strings.Split(head, "\r\n")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "Date: ") {
			fields = append(fields, l)
		}
	}
	return lines[0], fields
}

// checkFields reports each of want (whole lines) that fields lacks and
// each line of fields that starts with one of absent.
func checkFields(tb testing.TB, fields, want, absent []string) {
	tb.Helper()
	for _, f := range want {
		if !slices.Contains(fields, f) {
			tb.Errorf("no %q in %q", f, fields)
		}
	}
	for _, f := range absent {
		if slices.ContainsFunc(fields, func(l string) bool { return strings.HasPrefix(l, f) }) {
			tb.Errorf("%q in %q", f, fields)
		}
	}
}

// TestUpstreamHeadAsNginx: what a client gets of an upstream's status line
// and header fields, as nginx 1.22 relays them with ingress-nginx's
// location (checked side by side with nginx): the upstream's status line,
// reason phrase included; the fields its Connection header names, and the
// others nginx keeps (removeResponseHops).
func TestUpstreamHeadAsNginx(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, upstream string
		method         string // "": GET
		status         string // the status line on l7/h1server
		want, absent   []string
		h1Only         bool // want and absent hold on l7/h1server only (net/http's drops a 304's fields)
	}{
		{name: "custom reason", upstream: "HTTP/1.1 200 Custom Text\r\nContent-Length: 2\r\n\r\nok", status: "HTTP/1.1 200 Custom Text"},
		{name: "custom reason head", method: "HEAD", upstream: "HTTP/1.1 200 Custom Text\r\nContent-Length: 2\r\n\r\n", status: "HTTP/1.1 200 Custom Text"},
		{name: "404 reason", upstream: "HTTP/1.1 404 Nope Here\r\nContent-Length: 2\r\n\r\nok", status: "HTTP/1.1 404 Nope Here"},
		{name: "no reason", upstream: "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", status: "HTTP/1.1 200"},
		{name: "empty reason", upstream: "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", status: "HTTP/1.1 200 "},
		{name: "unknown code", upstream: "HTTP/1.1 599\r\nContent-Length: 2\r\n\r\nok", status: "HTTP/1.1 599"},
		{name: "http/1.0 upstream", upstream: "HTTP/1.0 201 Made\r\nContent-Length: 2\r\n\r\nok", status: "HTTP/1.1 201 Made"},
		{name: "chunked", upstream: "HTTP/1.1 500 Broken Here\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", status: "HTTP/1.1 500 Broken Here"},
		{name: "obs-text reason", upstream: "HTTP/1.1 200 Gr\xc3\xbc\xc3\x9fe\r\nContent-Length: 2\r\n\r\nok", status: "HTTP/1.1 200 Gr\xc3\xbc\xc3\x9fe"},
		{
			name:     "connection names fields",
			upstream: "HTTP/1.1 200 OK\r\nConnection: foo, X-Bar\r\nFoo: 1\r\nX-Bar: 2\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
			status:   "HTTP/1.1 200 OK",
			want:     []string{"Foo: 1", "X-Bar: 2"},
			absent:   []string{"Keep-Alive:", "Connection: foo"},
		},
		{
			name:     "connection close names fields",
			upstream: "HTTP/1.1 200 OK\r\nConnection: close, foo\r\nFoo: 1\r\nContent-Length: 2\r\n\r\nok",
			status:   "HTTP/1.1 200 OK",
			want:     []string{"Foo: 1", "Connection: close"}, // the client's close
		},
		{
			name:     "fields nginx relays",
			upstream: "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nTe: trailers\r\nProxy-Connection: x\r\nProxy-Authenticate: Basic\r\nProxy-Authorization: y\r\nContent-Length: 2\r\n\r\nok",
			status:   "HTTP/1.1 200 OK",
			want:     []string{"Upgrade: h2c", "Te: trailers", "Proxy-Connection: x", "Proxy-Authenticate: Basic", "Proxy-Authorization: y"},
		},
		{
			name:     "chunked connection names fields",
			upstream: "HTTP/1.1 200 OK\r\nConnection: keep-alive, Foo\r\nFoo: 1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
			status:   "HTTP/1.1 200 OK",
			want:     []string{"Foo: 1", "Transfer-Encoding: chunked"},
			absent:   []string{"Connection: keep-alive"},
		},
		{
			name:     "304 with type and length",
			upstream: "HTTP/1.1 304 Not Modified\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nEtag: \"x\"\r\n\r\n",
			status:   "HTTP/1.1 304 Not Modified",
			want:     []string{"Content-Type: text/plain", "Content-Length: 10", `Etag: "x"`},
			h1Only:   true,
		},
		{
			name:     "204 with type",
			upstream: "HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
			status:   "HTTP/1.1 204 No Content",
			want:     []string{"Content-Type: text/plain", "Content-Length: 0"}, // as nginx relays them
			h1Only:   true,
		},
		{
			name:     "204 with a length",
			upstream: "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
			status:   "HTTP/1.1 204 No Content",
			absent:   []string{"Content-Length:"}, // nginx relays it, though no body follows
		},
		{
			name:     "length with leading zeros",
			upstream: "HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\nok",
			status:   "HTTP/1.1 200 OK",
			want:     []string{"Content-Length: 2"},
		},
		{
			name:     "length with leading zeros, odd head",
			upstream: "HTTP/1.1 200 OK\r\nContent-Length: 002\nPragma: x\r\n\r\nok",
			status:   "HTTP/1.1 200 OK",
			want:     []string{"Content-Length: 2"},
		},
		{
			name:     "304 length with leading zeros",
			upstream: "HTTP/1.1 304 Not Modified\r\nContent-Length: 0010\r\n\r\n",
			status:   "HTTP/1.1 304 Not Modified",
			want:     []string{"Content-Length: 10"},
			h1Only:   true,
		},
		{
			name:     "head length with leading zeros",
			method:   "HEAD",
			upstream: "HTTP/1.1 200 OK\r\nContent-Length: 0010\r\n\r\n",
			status:   "HTTP/1.1 200 OK",
			want:     []string{"Content-Length: 10"},
		},
		{name: "plain", upstream: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: "HTTP/1.1 200 OK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := cannedUpstream(t, tc.upstream)
			_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("s", []string{up})))
			method := tc.method
			if method == "" {
				method = "GET"
			}
			status, fields := rawHead(t, addr(srv), method+" / HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n")
			want := tc.status
			if h1servertest.Kind() == h1server.KindNet {
				// net/http's server writes its own reason.
				code := want[len("HTTP/1.1 ") : len("HTTP/1.1 ")+3]
				want = status
				if !strings.HasPrefix(status, "HTTP/1.1 "+code) {
					t.Errorf("status line %q, want code %s", status, code)
				}
			}
			if status != want {
				t.Errorf("status line %q, want %q", status, want)
			}
			if !tc.h1Only || h1servertest.Kind() != h1server.KindNet {
				checkFields(t, fields, tc.want, tc.absent)
			}
		})
	}
}

// TestRemoveResponseHops: what leaves an upstream's response header, to an
// HTTP/1 client and to an HTTP/2 one.
func TestRemoveResponseHops(t *testing.T) {
	t.Parallel()
	upstream := func() http.Header {
		return http.Header{
			"Connection": {"foo"}, "Foo": {"1"}, "Keep-Alive": {"timeout=5"}, "Transfer-Encoding": {"chunked"},
			"Upgrade": {"h2c"}, "Proxy-Connection": {"x"}, "Te": {"trailers"}, "Trailer": {"X-T"},
			"Proxy-Authenticate": {"Basic"}, "Content-Type": {"text/plain"},
		}
	}
	h1 := upstream()
	removeResponseHops(h1, false)
	want := http.Header{
		"Foo": {"1"}, "Upgrade": {"h2c"}, "Proxy-Connection": {"x"}, "Te": {"trailers"}, "Trailer": {"X-T"},
		"Proxy-Authenticate": {"Basic"}, "Content-Type": {"text/plain"},
	}
	if diff := cmp.Diff(want, h1); diff != "" {
		t.Errorf("HTTP/1 (-want +got):\n%s", diff)
	}
	h2 := upstream()
	removeResponseHops(h2, true)
	delete(want, "Upgrade")
	delete(want, "Proxy-Connection")
	if diff := cmp.Diff(want, h2); diff != "" {
		t.Errorf("HTTP/2 (-want +got):\n%s", diff)
	}
}

// TestSwitchHeadAsNginx: the 101 a client gets for an upgrade, as nginx
// relays it: the upstream's status line, the fields its Connection names,
// nginx's own "Connection: upgrade", the upstream's spelling of its
// fields (Sec-WebSocket-Accept); not the upstream's Keep-Alive.
func TestSwitchHeadAsNginx(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]string{
		"101 Web Socket Protocol Handshake": "HTTP/1.1 101 Web Socket Protocol Handshake",
		"101":                               "HTTP/1.1 101",
		"101 Switching Protocols":           "HTTP/1.1 101 Switching Protocols",
	} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			up := cannedUpstream(t, "HTTP/1.1 "+status+"\r\nUpgrade: websocket\r\nConnection: Upgrade, Foo\r\nFoo: z\r\nKeep-Alive: 1\r\nSec-WebSocket-Accept: abc\r\n\r\n")
			_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("ws", []string{up})))
			conn := dialRaw(t, addr(srv))
			if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			var lines []string
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("read head: %v (so far %q)", err, lines)
				}
				if l == "\r\n" {
					break
				}
				lines = append(lines, strings.TrimSuffix(l, "\r\n"))
			}
			if lines[0] != want {
				t.Errorf("status line %q, want %q", lines[0], want)
			}
			checkFields(t, lines[1:], []string{"Connection: upgrade", "Upgrade: websocket", "Foo: z", "Sec-WebSocket-Accept: abc"},
				[]string{"Keep-Alive", "Connection: Upgrade, Foo"})
			if n := len(slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return !strings.HasPrefix(l, "Upgrade:") })); n != 1 {
				t.Errorf("%d Upgrade fields in %q, want 1", n, lines)
			}
		})
	}
}

// TestH2UpstreamStatusLine: an HTTP/2 upstream's answer (backend-protocol
// H2C) has no reason phrase; an HTTP/1.1 client gets nginx's own status
// line for its code, not the text Go's HTTP/2 transport makes up.
func TestH2UpstreamStatusLine(t *testing.T) {
	t.Parallel()
	if h1servertest.Kind() == h1server.KindNet {
		t.Skip("net/http's server writes its own reason")
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	up.Config.Protocols = new(http.Protocols)
	up.Config.Protocols.SetUnencryptedHTTP2(true)
	up.Start()
	t.Cleanup(up.Close)
	be := backendOf("h2", []string{addr(up)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolH2C}))
	_, srv := front(t, Options{}, snap(1, "foo.com", be))
	status, _ := rawHead(t, addr(srv), "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n")
	if want := "HTTP/1.1 503 Service Temporarily Unavailable"; status != want {
		t.Errorf("status line %q, want %q", status, want)
	}
}

// TestUpstreamFieldOrderAsNginx: the client gets an upstream's fields in
// the order and with the names the upstream sent, after nginx's own
// (Content-Type, Content-Length, Transfer-Encoding, Connection), as nginx
// 1.22 relays them (ngx_http_header_filter; read off nginx with
// ingress-nginx's location, Server and Date aside); on both of the
// proxy's response parsers (a plain response, a chunked one, a HEAD's).
// Weir's own fields come after the upstream's.
func TestUpstreamFieldOrderAsNginx(t *testing.T) {
	if h1servertest.Kind() == h1server.KindNet {
		t.Skip("net/http's server writes the fields sorted, canonical")
	}
	t.Parallel()
	const fields = "zeta: 1\r\nETag: \"abc\"\r\nContent-Type: text/plain\r\nx-lower: yes\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n" +
		"Alpha: 2\r\nLast-Modified: Mon, 07 Dec 2026 00:00:00 GMT\r\nWWW-Authenticate: Basic realm=x\r\nX-XSS-Protection: 1\r\n" +
		"Server: upstream\r\nDate: Mon, 07 Dec 2026 00:00:00 GMT\r\n"
	relayed := []string{`zeta: 1`, `ETag: "abc"`, `x-lower: yes`, `Set-Cookie: a=1`, `Set-Cookie: b=2`, `Alpha: 2`,
		`Last-Modified: Mon, 07 Dec 2026 00:00:00 GMT`, `WWW-Authenticate: Basic realm=x`, `X-XSS-Protection: 1`}
	cases := []struct {
		name, method, upstream string
		ae                     string // the request's Accept-Encoding
		want                   []string
	}{
		{
			name:     "plain",
			upstream: "HTTP/1.1 200 OK\r\n" + fields + "Content-Length: 5\r\n\r\nhello",
			want:     append([]string{"Content-Type: text/plain", "Content-Length: 5", "Connection: close"}, relayed...),
		},
		{
			name:     "chunked",
			upstream: "HTTP/1.1 200 OK\r\n" + fields + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			want:     append([]string{"Content-Type: text/plain", "Transfer-Encoding: chunked", "Connection: close"}, relayed...),
		},
		{
			name:     "head",
			method:   "HEAD",
			upstream: "HTTP/1.1 200 OK\r\n" + fields + "Content-Length: 5\r\n\r\n",
			want:     append([]string{"Content-Type: text/plain", "Content-Length: 5", "Connection: close"}, relayed...),
		},
		{
			// Read off nginx 1.22.1 with gzip on, gzip_vary on and an
			// add_header: Vary after Connection, Content-Encoding last.
			name:     "gzip",
			upstream: "HTTP/1.1 200 OK\r\nx-b: 1\r\nContent-Type: text/plain\r\nETag: \"abc\"\r\nContent-Length: 5\r\n\r\nhello",
			ae:       "gzip",
			want: []string{"Content-Type: text/plain", "Transfer-Encoding: chunked", "Connection: close", "Vary: Accept-Encoding",
				"x-b: 1", `ETag: W/"abc"`, "X-XSS-Protection: 1", "Content-Encoding: gzip"},
		},
		{
			name:     "own fields after",
			upstream: "HTTP/1.1 200 OK\r\nx-b: 1\r\nX-A: 2\r\nContent-Length: 2\r\n\r\nok",
			want:     []string{"Content-Length: 2", "Connection: close", "x-b: 1", "X-A: 2", "X-Frame-Options: DENY", "X-XSS-Protection: 1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := cannedUpstream(t, tc.upstream)
			s := snap(1, "foo.com", backendOf("s", []string{up}))
			switch tc.name {
			case "own fields after":
				s.Global.ResponseHeaders = []annotations.Header{{Name: "X-XSS-Protection", Value: "1"}, {Name: "X-Frame-Options", Value: "DENY"}}
			case "gzip":
				s.Global.ResponseHeaders = []annotations.Header{{Name: "X-XSS-Protection", Value: "1"}}
				one := 1
				s.Global.Compress = annotations.Compress{Gzip: true, GzipMinLength: &one}
			}
			_, srv := front(t, Options{}, s)
			method := tc.method
			if method == "" {
				method = "GET"
			}
			ae := ""
			if tc.ae != "" {
				ae = "Accept-Encoding: " + tc.ae + "\r\n"
			}
			_, got := rawHead(t, addr(srv), method+" / HTTP/1.1\r\nHost: foo.com\r\n"+ae+"Connection: close\r\n\r\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}
