package proxy

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// compressBody is the body of the compressible test responses: 1000 bytes.
var compressBody = strings.Repeat("weir compresses this line.\n", 40)[:1000]

// compressBackend serves the responses of the compression tests; a
// request to /stream writes "first", flushes and waits for release before
// writing "second".
func compressBackend(tb testing.TB, release <-chan struct{}) *httptest.Server {
	tb.Helper()
	return backend(tb, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "upstream/1.0")
		h.Set("Date", "Mon, 01 Jan 2001 00:00:00 GMT")
		body, status := compressBody, http.StatusOK
		switch r.URL.Path {
		case "/big.txt":
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("Etag", `"abc"`)
			h.Set("Accept-Ranges", "bytes")
		case "/small.txt":
			h.Set("Content-Type", "text/plain")
			body = compressBody[:100]
		case "/tiny.txt":
			h.Set("Content-Type", "text/plain")
			body = compressBody[:10]
		case "/bin":
			h.Set("Content-Type", "application/octet-stream")
		case "/empty-encoding":
			h.Set("Content-Type", "text/plain")
			h["Content-Encoding"] = []string{""}
		case "/typed":
			h["Content-Type"] = strings.Split(r.Header.Get("X-Types"), "|") // one line each
		case "/spaced":
			h.Set("Content-Type", "text/html ;charset=utf-8") // of type "text/html " to nginx
		case "/varied":
			h.Set("Content-Type", "text/plain")
			h["Vary"] = strings.Split(r.Header.Get("X-Vary"), "|") // one line each
		case "/page":
			h.Set("Content-Type", "Text/HTML; charset=utf-8")
		case "/error":
			h.Set("Content-Type", "text/plain")
			status = http.StatusInternalServerError
		case "/partial":
			h.Set("Content-Type", "text/plain")
			h.Set("Content-Range", "bytes 0-999/2000")
			status = http.StatusPartialContent
		case "/missing":
			h.Set("Content-Type", "text/plain")
			status = http.StatusNotFound
		case "/encoded":
			h.Set("Content-Type", "text/plain")
			h.Set("Content-Encoding", "gzip")
			body = gzipped(tb, compressBody)
		case "/cached":
			h.Set("Etag", `"abc"`)
			if r.Header.Get("If-None-Match") == `"abc"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			h.Set("Content-Type", "text/plain")
		case "/stream":
			h.Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, "second")
			return
		}
		if r.URL.Path != "/stream" {
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

func gzipped(tb testing.TB, s string) string {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = io.WriteString(zw, s)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

// decoded returns body decoded as its Content-Encoding says.
func decoded(tb testing.TB, enc, body string) string {
	tb.Helper()
	var r io.Reader = strings.NewReader(body)
	switch enc {
	case "":
		return body
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			tb.Fatalf("gzip body: %v", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(r)
	default:
		tb.Fatalf("unexpected Content-Encoding %q", enc)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("decode %s body: %v", enc, err)
	}
	return string(b)
}

// compressSnap is a Snapshot routing a.test to be with compression c.
func compressSnap(version uint64, be *httptest.Server, c annotations.Compress) *snapshot.Snapshot {
	s := snap(version, "a.test", backendOf("a", []string{addr(be)}))
	s.Global.Compress = c
	return s
}

// fetch sends method path to a.test with Accept-Encoding ae (and
// User-Agent ua when not empty).
func fetch(tb testing.TB, c *http.Client, srv *httptest.Server, method, path, ae, ua string, extra ...string) result {
	tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Host = "a.test"
	if ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if resp.ContentLength >= 0 {
		resp.Header.Set("Content-Length", strconv.Itoa(int(resp.ContentLength)))
	}
	return result{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// TestGzip: use-gzip with ingress-nginx's defaults compresses the eligible
// responses (200/403/404, a listed type or text/html, 256 bytes or more,
// not encoded) of clients accepting gzip, with Vary, a weak ETag and no
// Content-Length or Accept-Ranges of the original, a HEAD response's header
// too; it leaves the others alone.
func TestGzip(t *testing.T) {
	t.Parallel()
	be := compressBackend(t, nil)
	_, srv := front(t, Options{}, compressSnap(1, be, annotations.Compress{Gzip: true}))
	c := client(t)

	r := fetch(t, c, srv, http.MethodGet, "/big.txt", "gzip, deflate", "")
	if got := r.header.Get("Content-Encoding"); got != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", got)
	}
	if got := decoded(t, "gzip", r.body); got != compressBody {
		t.Errorf("gunzipped body %q, want the upstream's", got)
	}
	if got := r.header.Values("Vary"); len(got) != 1 || got[0] != "Accept-Encoding" {
		t.Errorf("Vary %q, want [Accept-Encoding]", got)
	}
	if got := r.header.Get("Etag"); got != `W/"abc"` {
		t.Errorf(`ETag %q, want W/"abc"`, got)
	}
	if got := r.header.Get("Content-Length"); got == "1000" {
		t.Error("the uncompressed Content-Length was passed on")
	}
	if got := r.header.Get("Accept-Ranges"); got != "" {
		t.Errorf("Accept-Ranges %q, want none", got)
	}

	for _, tc := range []struct {
		name, method, path, ae, ua string
		vary                       bool
		status                     int
	}{
		{"no Accept-Encoding", "GET", "/big.txt", "", "", true, 200},
		{"gzip refused with q=0", "GET", "/big.txt", "gzip;q=0, deflate", "", true, 200},
		{"only deflate", "GET", "/big.txt", "deflate", "", true, 200},
		{"below gzip-min-length", "GET", "/small.txt", "gzip", "", false, 200},
		{"type not listed", "GET", "/bin", "gzip", "", false, 200},
		{"space before the parameters", "GET", "/spaced", "gzip", "", false, 200},
		{"status 500", "GET", "/error", "gzip", "", false, 500},
		{"status 206 with Content-Range", "GET", "/partial", "gzip", "", false, 206},
	} {
		r := fetch(t, c, srv, tc.method, tc.path, tc.ae, tc.ua)
		if r.status != tc.status || r.header.Get("Content-Encoding") != "" {
			t.Errorf("%s: status %d, Content-Encoding %q; want %d, none", tc.name, r.status, r.header.Get("Content-Encoding"), tc.status)
		}
		if tc.method == "GET" && r.body != compressBody[:len(r.body)] {
			t.Errorf("%s: body changed", tc.name)
		}
		if got := r.header.Get("Vary") != ""; got != tc.vary {
			t.Errorf("%s: Vary %q, want it %v", tc.name, r.header.Get("Vary"), tc.vary)
		}
		if tc.path == "/big.txt" && (r.header.Get("Etag") != `"abc"` || r.header.Get("Content-Length") != "1000") {
			t.Errorf("%s: ETag %q, Content-Length %q; want the upstream's", tc.name, r.header.Get("Etag"), r.header.Get("Content-Length"))
		}
	}

	// gzip_vary writes nginx's own line first, whatever the upstream's say.
	for _, upstream := range [][]string{{"Origin"}, {"Accept-Encoding"}, {"accept-encoding, Origin", "*"}} {
		r = fetch(t, c, srv, "GET", "/varied", "gzip", "", "X-Vary", strings.Join(upstream, "|"))
		if want := append([]string{"Accept-Encoding"}, upstream...); !slices.Equal(r.header.Values("Vary"), want) {
			t.Errorf("upstream Vary %q: Vary %q, want %q", upstream, r.header.Values("Vary"), want)
		}
	}

	// nginx's gzip filter runs before the proxied response is known to
	// have no body: a HEAD response gets the compressed body's header.
	r = fetch(t, c, srv, http.MethodHead, "/big.txt", "gzip", "")
	if r.header.Get("Content-Encoding") != "gzip" || r.header.Get("Vary") != "Accept-Encoding" || r.header.Get("Etag") != `W/"abc"` ||
		r.header.Get("Content-Length") != "" || r.header.Get("Accept-Ranges") != "" || r.body != "" {
		t.Errorf("HEAD: header %v, body %q; want gzip's header (Content-Encoding, Vary, weak ETag, no Content-Length or Accept-Ranges), no body", r.header, r.body)
	}
	r = fetch(t, c, srv, http.MethodHead, "/big.txt", "", "")
	if r.header.Get("Content-Encoding") != "" || r.header.Get("Vary") != "Accept-Encoding" || r.header.Get("Content-Length") != "1000" {
		t.Errorf("HEAD without Accept-Encoding: header %v; want Vary and the upstream's Content-Length", r.header)
	}

	for _, tc := range []struct{ name, path string }{{"text/html always", "/page"}, {"status 404", "/missing"}} {
		r := fetch(t, c, srv, "GET", tc.path, "gzip", "")
		if r.header.Get("Content-Encoding") != "gzip" || decoded(t, "gzip", r.body) != compressBody {
			t.Errorf("%s: Content-Encoding %q, want gzip of the upstream's body", tc.name, r.header.Get("Content-Encoding"))
		}
	}

	r = fetch(t, c, srv, "GET", "/encoded", "gzip", "")
	if r.header.Get("Content-Encoding") != "gzip" || decoded(t, "gzip", r.body) != compressBody {
		t.Errorf("already encoded: Content-Encoding %q; want the upstream's gzip, not compressed twice", r.header.Get("Content-Encoding"))
	}

	r = fetch(t, c, srv, "GET", "/empty-encoding", "gzip", "")
	if got := r.header.Values("Content-Encoding"); !slices.Equal(got, []string{"", "gzip"}) || decoded(t, "gzip", r.body) != compressBody {
		t.Errorf("empty Content-Encoding: Content-Encoding %q; want the upstream's empty line, then gzip, of the upstream's body", got)
	}

	r = fetch(t, c, srv, "GET", "/cached", "gzip", "", "If-None-Match", `"abc"`)
	if r.status != http.StatusNotModified || r.header.Get("Content-Encoding") != "" || r.body != "" {
		t.Errorf("304: status %d, Content-Encoding %q, body %q", r.status, r.header.Get("Content-Encoding"), r.body)
	}
}

// TestUpstreamContentType: of the upstream's Content-Type lines only the
// last is sent, and none when it is empty, as nginx (1.22.1 answered each
// case so); gzip-types judges that one.
func TestUpstreamContentType(t *testing.T) {
	t.Parallel()
	be := compressBackend(t, nil)
	_, srv := front(t, Options{}, compressSnap(1, be, annotations.Compress{Gzip: true}))
	c := client(t)
	for _, tc := range []struct {
		lines    string
		want     []string
		encoding string
	}{
		{"text/html|image/png", []string{"image/png"}, ""},
		{"image/png|text/html", []string{"text/html"}, "gzip"},
		{"text/html|", nil, ""},
		{"", nil, ""},
	} {
		r := fetch(t, c, srv, "GET", "/typed", "gzip", "", "X-Types", tc.lines)
		if got := r.header.Values("Content-Type"); !slices.Equal(got, tc.want) || r.header.Get("Content-Encoding") != tc.encoding {
			t.Errorf("upstream Content-Type lines %q: Content-Type %q, Content-Encoding %q; want %q, %q",
				tc.lines, got, r.header.Get("Content-Encoding"), tc.want, tc.encoding)
		}
	}
}

// TestGzipHTTP10: gzip_http_version 1.1: an HTTP/1.0 client gets the body
// as it is, Vary all the same.
func TestGzipHTTP10(t *testing.T) {
	t.Parallel()
	be := compressBackend(t, nil)
	_, srv := front(t, Options{}, compressSnap(1, be, annotations.Compress{Gzip: true}))
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET /big.txt HTTP/1.0\r\nHost: a.test\r\nAccept-Encoding: gzip\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Encoding") != "" || string(b) != compressBody || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("HTTP/1.0: Content-Encoding %q, Vary %q, body of %d bytes; want none, Accept-Encoding, the upstream's", resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"), len(b))
	}
}

// TestGzipSettings: gzip-min-length, gzip-types and gzip-disable msie6, as
// ingress-nginx's e2e test (test/e2e/settings/gzip.go); gzip-level 9.
func TestGzipSettings(t *testing.T) {
	t.Parallel()
	be := compressBackend(t, nil)
	min := 100
	_, srv := front(t, Options{}, compressSnap(1, be, annotations.Compress{
		Gzip: true, GzipLevel: 9, GzipMinLength: &min, GzipTypes: []string{"application/octet-stream"}, GzipDisable: "msie6",
	}))
	c := client(t)
	for _, tc := range []struct {
		name, path, ua, want string
	}{
		{"listed type", "/bin", "", "gzip"},
		{"text/plain no longer listed", "/big.txt", "", ""},
		{"MSIE 6", "/bin", "Mozilla/45.0 (compatible; MSIE 6.0; Windows NT 5.1)", ""},
		{"MSIE 6 SV1", "/bin", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", "gzip"},
		{"not MSIE", "/bin", "Mozilla/4.8 [en] (Windows NT 5.1; U)", "gzip"},
	} {
		r := fetch(t, c, srv, "GET", tc.path, "gzip", tc.ua)
		if got := r.header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("%s: Content-Encoding %q, want %q", tc.name, got, tc.want)
			continue
		}
		if got := decoded(t, tc.want, r.body); got != compressBody {
			t.Errorf("%s: body of %d bytes, want the upstream's", tc.name, len(got))
		}
	}
}

// TestCompressStreamed: a streamed response is compressed as it comes: what
// the upstream flushed reaches the client before the upstream ends.
func TestCompressStreamed(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{"gzip", "br"} {
		t.Run(enc, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			be := compressBackend(t, release)
			_, srv := front(t, Options{}, compressSnap(1, be, annotations.Compress{Gzip: true, Brotli: true}))
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/stream", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "a.test"
			req.Header.Set("Accept-Encoding", enc)
			resp, err := client(t).Do(req)
			if err != nil {
				close(release)
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); got != enc {
				close(release)
				t.Fatalf("Content-Encoding %q, want %s", got, enc)
			}
			var zr io.Reader
			if enc == "gzip" {
				if zr, err = gzip.NewReader(resp.Body); err != nil {
					close(release)
					t.Fatal(err)
				}
			} else {
				zr = brotli.NewReader(resp.Body)
			}
			first := make([]byte, len("first"))
			_, err = io.ReadFull(zr, first) // the client's timeout bounds it
			close(release)
			if err != nil || string(first) != "first" {
				t.Fatalf("before the end of the upstream's body: read %q, %v; want first", first, err)
			}
			rest, err := io.ReadAll(zr)
			if err != nil || string(rest) != "second" {
				t.Errorf("rest %q, %v; want second", rest, err)
			}
		})
	}
}

// TestBrotli: enable-brotli goes before gzip for a client accepting br,
// with brotli-min-length 20; gzip still serves the others.
func TestBrotli(t *testing.T) {
	t.Parallel()
	be := compressBackend(t, nil)
	_, srv := front(t, Options{}, compressSnap(1, be, annotations.Compress{Gzip: true, Brotli: true}))
	c := client(t)
	for _, tc := range []struct {
		name, path, ae, want string
	}{
		{"br preferred", "/big.txt", "gzip, deflate, br", "br"},
		{"br only", "/small.txt", "br", "br"}, // 100 bytes: above brotli-min-length
		{"br q=0", "/big.txt", "br;q=0, gzip", "gzip"},
		{"gzip only", "/big.txt", "gzip", "gzip"},
		{"below brotli-min-length", "/tiny.txt", "br", ""},
	} {
		r := fetch(t, c, srv, "GET", tc.path, tc.ae, "")
		if got := r.header.Get("Content-Encoding"); got != tc.want {
			t.Errorf("%s: Content-Encoding %q, want %q", tc.name, got, tc.want)
			continue
		}
		if got := decoded(t, tc.want, r.body); !strings.HasPrefix(compressBody, got) || len(got) < 10 {
			t.Errorf("%s: decoded body %q, want the upstream's", tc.name, got)
		}
		if tc.want != "" && r.header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s: Vary %q, want Accept-Encoding", tc.name, r.header.Get("Vary"))
		}
	}

	// enable-brotli without use-gzip: ngx_brotli asks for Vary, but only
	// gzip_vary (on with use-gzip) writes it.
	_, srv = front(t, Options{}, compressSnap(1, be, annotations.Compress{Brotli: true}))
	r := fetch(t, c, srv, "GET", "/big.txt", "br", "")
	if r.header.Get("Content-Encoding") != "br" || r.header.Values("Vary") != nil {
		t.Errorf("brotli alone: Content-Encoding %q, Vary %q; want br and no Vary", r.header.Get("Content-Encoding"), r.header.Values("Vary"))
	}
}

// TestCompressCurl: curl --compressed reads a gzip and a brotli response
// (as curl decodes them) identical to the upstream's body.
func TestCompressCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	be := compressBackend(t, nil)
	_, srv := front(t, Options{}, compressSnap(1, be, annotations.Compress{Gzip: true, Brotli: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	features, _ := exec.CommandContext(ctx, curl, "-V").Output()
	for _, enc := range []string{"gzip", "br"} {
		if enc == "br" && !strings.Contains(string(features), "brotli") {
			t.Log("curl without brotli: br not checked")
			continue
		}
		// --compressed offers what curl can decode; br first when it can.
		out, err := exec.CommandContext(ctx, curl, "-sS", "--compressed", "-H", "Accept-Encoding: "+enc, "-D", "-", "-H", "Host: a.test", srv.URL+"/big.txt").Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		head, body, _ := strings.Cut(string(out), "\r\n\r\n")
		if !strings.Contains(strings.ToLower(head), "content-encoding: "+enc) || body != compressBody {
			t.Errorf("curl --compressed, %s: head %q, body of %d bytes; want %s and the upstream's body", enc, head, len(body), enc)
		}
	}
}

// TestServerTokens: by default no response has a Server header, the
// upstream's removed with its Date; with server-tokens every response,
// Weir's own 404 too, names Weir.
func TestServerTokens(t *testing.T) {
	t.Parallel()
	be := compressBackend(t, nil)
	s := compressSnap(1, be, annotations.Compress{})
	p, srv := front(t, Options{}, s)
	c := client(t)
	check := func(want string) {
		t.Helper()
		r := fetch(t, c, srv, "GET", "/big.txt", "", "")
		if got := r.header.Values("Server"); strings.Join(got, ",") != want {
			t.Errorf("proxied response: Server %q, want %q", got, want)
		}
		if got := r.header.Get("Date"); got == "" || strings.Contains(got, "2001") {
			t.Errorf("proxied response: Date %q, want Weir's", got)
		}
		r = get(t, c, srv, "nowhere.test", "/")
		if r.status != http.StatusNotFound || strings.Join(r.header.Values("Server"), ",") != want {
			t.Errorf("Weir's 404: status %d, Server %q, want %q", r.status, r.header.Values("Server"), want)
		}
	}
	check("")
	s = compressSnap(2, be, annotations.Compress{})
	s.Global.ServerTokens = true
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	check(serverToken())
	if !strings.HasPrefix(serverToken(), "weir") {
		t.Errorf("server token %q does not name weir", serverToken())
	}
}

// TestAccepts: nginx's reading of Accept-Encoding for gzip
// (ngx_http_gzip_accept_encoding, each case as nginx 1.22.1 answered it
// with gzip on) and ngx_brotli's for br.
func TestAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ae   string
		want bool
	}{
		{"gzip", true}, {"GZIP", true}, {"gzip, deflate", true}, {"deflate,gzip", true},
		{"gzip;q=0", false}, {"gzip; q=0.000", false}, {"gzip;q=0.5", true}, {"gzip;q=x", false},
		{"x-gzip", false}, {"gzipx", false}, {"", false}, {"*", false}, {"br, gzip ; q=1", true},
		{"a gzip", true}, {"x-gzip,gzip", true}, {"gzip;", true}, {"gzip;Q=0.3", true},
		{"gzip;q=0.3 ,br", true}, {"gzip ;q=0.5", true}, {"gzip;q=1.0", true},
		{"gzip;q=0.0001", false}, {"gzip;q=1.0000", false}, {"gzip;q=1.001", false},
		{"gzipx, gzip", false}, {"gzip-x,gzip", false}, {"gzip;level=1", false},
		{"gzip; q = 0.5", false}, {"gzip;q= 0.5", false}, {"gzip;q=00.5", false},
		{"gzip;q=.5", false}, {"gzip;q=1e0", false}, {"gzip;q=0.3;x=1", false},
		{"gzip;q", false}, {"gzip;q=", false}, {"gzip\t,deflate", false},
		{"gzip;q=0,gzip", false}, {"gzip,gzip;q=0", true},
	} {
		if got := acceptsGzip(tc.ae); got != tc.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", tc.ae, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ae   string
		want bool
	}{
		{"br", true}, {"BR", true}, {"gzip, br", true}, {"br;q=0.5", true}, {"br;q=1", true},
		{"br;q=0", false}, {"br;q=0.000", false}, {"br;q=0.0001", false}, {"br ; q = 0", false},
		{"br;q=0,", false}, {"br;q=0.00x", false}, {"br;Q=0", true}, {"br;level=1", true},
		{"br;q=abc", true}, {"brx, br", true}, {"x-br", false}, {"brotli", false}, {"", false},
	} {
		if got := acceptsBrotli(tc.ae); got != tc.want {
			t.Errorf("acceptsBrotli(%q) = %v, want %v", tc.ae, got, tc.want)
		}
	}
	for _, tc := range []struct {
		ua   string
		want bool
	}{
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", true},
		{"Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", true},
		{"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", false},
		{"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)", false},
		{"Opera/9.0 (compatible; MSIE 6.0; Windows NT 5.1)", false},
		{"curl/8.0", false},
	} {
		if got := msie6(tc.ua); got != tc.want {
			t.Errorf("msie6(%q) = %v, want %v", tc.ua, got, tc.want)
		}
	}
}

// TestCompressOffAllocs: with compression off, preparing a response
// allocates nothing.
func TestCompressOffAllocs(t *testing.T) {
	p := New(Options{})
	rec := &responseRecorder{ResponseWriter: httptest.NewRecorder()}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	resp := &http.Response{StatusCode: 200, ContentLength: -1}
	if n := testing.AllocsPerRun(100, func() { p.encodeResponse(rec, r, resp, nil, 0, nil).finish(nil) }); n != 0 {
		t.Errorf("%v allocations per response, want 0", n)
	}
}
