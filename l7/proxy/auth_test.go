package proxy

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func withAuth(a *annotations.Auth) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) { p.Auth = a }
}

// noRedirects makes c return redirects instead of following them.
func noRedirects(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// authGet sends method for host and path with extra headers h.
func authGet(tb testing.TB, c *http.Client, srv *httptest.Server, method, host, path string, h map[string]string) result {
	tb.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Host = host
	for k, v := range h {
		req.Header.Set(k, v)
	}
	return send(c, req)
}

// authorization returns the headers with Authorization authz, none when
// authz is empty.
func authorization(authz string) map[string]string {
	if authz == "" {
		return nil
	}
	return map[string]string{"Authorization": authz}
}

// authEcho is a backend answering the Authorization and X-User
// headers it got.
func authEcho(tb testing.TB) *httptest.Server {
	return backend(tb, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "authz="+r.Header.Get("Authorization")+" user="+strings.Join(r.Header.Values("X-User"), ",")+
			" id="+r.Header.Get("X-Request-Id"))
	})
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	bc, err := bcrypt.GenerateFromPassword([]byte("bpass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	basic := &annotations.Auth{Basic: &annotations.BasicAuth{Realm: "Authentication Required - foo", Users: []string{
		"foo:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/", // secret
		"bob:" + string(bc),
		"sha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", // secret
		"foo:{PLAIN}second",                     // the first entry of a user counts
	}}}
	_, srv := front(t, Options{}, snap(1, "basic.example.com", backendOf("web", []string{addr(up)}, withAuth(basic))))
	c := client(t)
	challenge := `Basic realm="Authentication Required - foo"`
	for _, tc := range []struct {
		name   string
		authz  string
		status int
	}{
		{"none", "", 401},
		{"apr1", basicHeader("foo", "secret"), 200},
		{"bcrypt", basicHeader("bob", "bpass"), 200},
		{"sha", basicHeader("sha", "secret"), 200},
		{"later duplicate ignored", basicHeader("foo", "second"), 401},
		{"wrong password", basicHeader("foo", "Secret"), 401},
		{"unknown user", basicHeader("eve", "secret"), 401},
		{"lower-case scheme", "basic " + base64.StdEncoding.EncodeToString([]byte("foo:secret")), 200},
		{"bearer", "Bearer abc", 401},
		{"not base64", "Basic !!!", 401},
		// nginx's ngx_decode_base64: no padding needed, nothing read
		// after the first "=", a length of 4n+1 refused.
		{"unpadded", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("foo:secret")), 200},
		{"after the padding", basicHeader("foo", "secret") + "!!", 200},
		{"4n+1 characters", "Basic Zm9vOnNlY3JldAAAA", 401},
		{"spaces before", "Basic    " + base64.StdEncoding.EncodeToString([]byte("foo:secret")), 200},
	} {
		res := authGet(t, c, srv, http.MethodGet, "basic.example.com", "/", authorization(tc.authz))
		if res.err != nil || res.status != tc.status {
			t.Errorf("%s: status %d (%v), want %d", tc.name, res.status, res.err, tc.status)
			continue
		}
		if tc.status == 401 {
			if got := res.header.Values("Www-Authenticate"); len(got) != 1 || got[0] != challenge {
				t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, got, challenge)
			}
			continue
		}
		if strings.Contains(res.body, "authz=B") || strings.Contains(res.body, "authz=b") {
			t.Errorf("%s: the upstream got the Authorization header: %s", tc.name, res.body)
		}
	}

	// An Auth that did not resolve (a missing Secret) denies with 503.
	denied := &annotations.Auth{Basic: &annotations.BasicAuth{}, Invalid: "auth secret ns/x not found"}
	_, srv2 := front(t, Options{}, snap(1, "denied.example.com", backendOf("web", []string{addr(up)}, withAuth(denied))))
	if res := authGet(t, c, srv2, http.MethodGet, "denied.example.com", "/", map[string]string{"Authorization": basicHeader("foo", "secret")}); res.status != 503 {
		t.Errorf("invalid auth: status %d (%v), want 503", res.status, res.err)
	}
}

// authService is an external authentication service: it records each
// request and answers with answer.
type authService struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	hits   atomic.Int64
	answer func(w http.ResponseWriter, r *http.Request)
}

func newAuthService(tb testing.TB, answer func(w http.ResponseWriter, r *http.Request)) *authService {
	s := &authService{answer: answer}
	s.Server = backend(tb, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, r.Clone(r.Context()))
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		s.hits.Add(1)
		s.answer(w, r)
	})
	return s
}

func (s *authService) last(tb testing.TB) (*http.Request, string) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		tb.Fatal("the auth service got no request")
	}
	return s.reqs[len(s.reqs)-1], s.bodies[len(s.bodies)-1]
}

func TestExternalAuthHeaders(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	as := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-User", "alice")
		w.Header().Add("X-User", "bob")
		w.Header().Add("Set-Cookie", "s=1; Path=/")
		w.Header().Add("Set-Cookie", "t=2")
	})
	ext := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL + "/check?h=$host", ResponseHeaders: []string{"X-User"},
		ProxySetHeaders: []string{"X-Tenant: blue"}, SigninRedirectParam: "rd"}}
	_, srv := front(t, Options{}, snap(1, "ext.example.com", backendOf("web", []string{addr(up)}, withAuth(ext))))
	c := client(t)

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/p/a?q=1&b=%20", strings.NewReader("client body"))
	req.Host = "ext.example.com"
	req.Header.Set("X-User", "spoofed")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Cookie", "sid=abc")
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	ar, abody := as.last(t)
	want := map[string]string{
		"X-Original-Url":          "http://ext.example.com/p/a?q=1&b=%20",
		"X-Original-Method":       "POST",
		"X-Sent-From":             "nginx-ingress-controller",
		"X-Real-Ip":               "127.0.0.1",
		"X-Forwarded-For":         "127.0.0.1",
		"X-Auth-Request-Redirect": "/p/a?q=1&b=%20",
		"X-Forwarded-Proto":       "",
		"Content-Length":          "",
		"X-Original-Uri":          "", // only with auth-method
		"X-Scheme":                "",
		"Cookie":                  "sid=abc",
		"Authorization":           "Bearer tok",
		"X-User":                  "spoofed", // the client's headers pass to the auth service
		"X-Tenant":                "blue",
		"Accept-Encoding":         "", // the client sent none; nginx adds none
	}
	for k, v := range want {
		if got := ar.Header.Get(k); got != v {
			t.Errorf("auth request %s = %q, want %q", k, got, v)
		}
	}
	if ar.Method != http.MethodGet || abody != "" || ar.ContentLength > 0 {
		t.Errorf("auth request %s with body %q, want a GET without body", ar.Method, abody)
	}
	if ar.Host != "127.0.0.1" || ar.URL.RequestURI() != "/check?h=ext.example.com" {
		t.Errorf("auth request Host %q URI %q, want 127.0.0.1 and /check?h=ext.example.com", ar.Host, ar.URL.RequestURI())
	}
	id := ar.Header.Get("X-Request-Id")
	if len(id) != 32 || !strings.Contains(string(body), "id="+id) {
		t.Errorf("auth request X-Request-ID %q, upstream got %s", id, body)
	}
	// The answer's X-User fields as one, joined by ", " as nginx 1.23 and
	// later (ingress-nginx's 1.27) read $upstream_http_x_user.
	if !strings.Contains(string(body), "user=alice, bob ") || !strings.Contains(string(body), "authz=Bearer tok") {
		t.Errorf("upstream got %s, want X-User \"alice, bob\" (the auth answer's, not the client's) and the Authorization", body)
	}
	if got := resp.Header.Values("Set-Cookie"); strings.Join(got, "|") != "s=1; Path=/|t=2" {
		t.Errorf("client Set-Cookie %q, want the auth service's", got)
	}

	// With auth-method: that method, X-Original-URI and X-Scheme.
	post := *ext.External
	post.Method = "POST"
	_, srv2 := front(t, Options{}, snap(1, "ext.example.com", backendOf("web", []string{addr(up)}, withAuth(&annotations.Auth{External: &post}))))
	authGet(t, c, srv2, http.MethodGet, "ext.example.com", "/x?y", nil)
	ar, _ = as.last(t)
	if ar.Method != "POST" || ar.Header.Get("X-Original-Uri") != "/x?y" || ar.Header.Get("X-Scheme") != "http" || ar.Header.Get("X-Original-Method") != "GET" {
		t.Errorf("auth-method POST: %s, X-Original-URI %q, X-Scheme %q", ar.Method, ar.Header.Get("X-Original-Uri"), ar.Header.Get("X-Scheme"))
	}

	// A variable in the URL's host: the request goes there, and Host is
	// its expansion.
	_, port, _ := net.SplitHostPort(as.Listener.Addr().String())
	byHost := &annotations.Auth{External: &annotations.ExternalAuth{URL: "http://$host:" + port + "/v", SigninRedirectParam: "rd"}}
	_, srv3 := front(t, Options{}, snap(1, "127.0.0.1", backendOf("web", []string{addr(up)}, withAuth(byHost))))
	if res := get(t, c, srv3, "127.0.0.1", "/"); res.status != 200 {
		t.Fatalf("auth-url with $host: %d (%v)", res.status, res.err)
	}
	if ar, _ = as.last(t); ar.Host != "127.0.0.1" || ar.URL.Path != "/v" {
		t.Errorf("auth-url with $host: Host %q path %q, want 127.0.0.1 and /v", ar.Host, ar.URL.Path)
	}
}

// TestExternalAuthProxyDefaults: the auth subrequest has the header set of
// nginx's proxy module: no User-Agent but the client's (Go's client would
// add its own) and no Expect (proxy_set_header Expect "" by default), as
// nginx 1.22 sent with ingress-nginx's auth location.
func TestExternalAuthProxyDefaults(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	as := newAuthService(t, func(http.ResponseWriter, *http.Request) {})
	ext := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL + "/check", SigninRedirectParam: "rd"}}
	_, srv := front(t, Options{}, snap(1, "wire.example.com", backendOf("web", []string{addr(up)}, withAuth(ext))))
	conn := dialRaw(t, addr(srv))
	if _, err := io.WriteString(conn, "POST /p?q=1 HTTP/1.1\r\nHost: wire.example.com\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusContinue {
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			break
		}
	}
	ar, _ := as.last(t)
	for _, k := range []string{"User-Agent", "Expect"} {
		if v, ok := ar.Header[k]; ok {
			t.Errorf("auth request %s %q, want none", k, v)
		}
	}
}

// TestExternalAuthAbsoluteTarget: for a request line with an absolute
// target, $request_uri is its path and query, as nginx reads it, and
// $http_host the Host line, whatever the target's host (which routes the
// request): the auth service's X-Original-URL and X-Auth-Request-Redirect
// and the signin's rd (nginx 1.22 sent http://wire.example.com/p?q=1 and
// /p?q=1, and with "Host: other.example" http://other.example/p?q=1).
func TestExternalAuthAbsoluteTarget(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	as := newAuthService(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) })
	ext := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL + "/check", Signin: "http://login.example/start", SigninRedirectParam: "rd"}}
	_, srv := front(t, Options{}, snap(1, "wire.example.com", backendOf("web", []string{addr(up)}, withAuth(ext))))
	// The URL's host whatever the Host line says (httpHost), where nginx
	// 1.22 used "Host: other.example".
	const host = "wire.example.com"
	for _, line := range []string{"wire.example.com", "other.example"} {
		resp, _ := rawExchange(t, addr(srv), "GET http://wire.example.com/p?q=1 HTTP/1.1\r\nHost: "+line+"\r\nConnection: close\r\n\r\n")
		if loc, want := resp.Header.Get("Location"), "http://login.example/start?rd=http://"+host+"%2Fp%3Fq%3D1"; resp.StatusCode != 302 || loc != want {
			t.Errorf("Host %s: status %d Location %q, want 302 %q", host, resp.StatusCode, loc, want)
		}
		ar, _ := as.last(t)
		if u, r := ar.Header.Get("X-Original-Url"), ar.Header.Get("X-Auth-Request-Redirect"); u != "http://"+host+"/p?q=1" || r != "/p?q=1" {
			t.Errorf("Host %s: auth request X-Original-URL %q X-Auth-Request-Redirect %q, want http://%s/p?q=1 and /p?q=1", host, u, r, host)
		}
	}
}

func TestExternalAuthAnswers(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	var status atomic.Int64
	as := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Www-Authenticate", `Bearer realm="x"`)
		w.Header().Set("Set-Cookie", "auth=1")
		if s := int(status.Load()); s == 200 {
			return
		} else if s == 302 {
			http.Redirect(w, r, "/elsewhere", 302)
		} else {
			w.WriteHeader(s)
		}
	})
	mk := func(f func(*annotations.ExternalAuth)) *annotations.Auth {
		e := &annotations.ExternalAuth{URL: as.URL + "/check", SigninRedirectParam: "rd", ResponseHeaders: []string{"X-User"}}
		f(e)
		return &annotations.Auth{External: e}
	}
	plain := mk(func(*annotations.ExternalAuth) {})
	signin := mk(func(e *annotations.ExternalAuth) { e.Signin = "https://$host/start" })
	signinParam := mk(func(e *annotations.ExternalAuth) {
		e.Signin, e.SigninRedirectParam = "https://login.example/s?next=x&a=b", "next"
	})
	// ingress-nginx decides at render time, on the annotation as
	// written, whether rd is added: $arg_next is a value, so nothing is
	// added even when it expands to "".
	signinVar := mk(func(e *annotations.ExternalAuth) { e.Signin = "https://login.example/s?rd=$arg_next" })
	always := mk(func(e *annotations.ExternalAuth) { e.AlwaysSetCookie = true })
	unreachable := &annotations.Auth{External: &annotations.ExternalAuth{URL: "http://" + refusedAddr(t) + "/", SigninRedirectParam: "rd"}}
	c := noRedirects(client(t))
	for _, tc := range []struct {
		name       string
		auth       *annotations.Auth
		path       string // default /p?a=1&b=/
		answer     int
		want       int
		location   string
		cookie     string
		challenged bool
	}{
		{name: "2xx passes", auth: plain, answer: 200, want: 200, cookie: "auth=1"},
		{name: "204 passes", auth: plain, answer: 204, want: 200, cookie: "auth=1"},
		{name: "401", auth: plain, answer: 401, want: 401, challenged: true},
		{name: "403", auth: plain, answer: 403, want: 403},
		{name: "302 is an error", auth: plain, answer: 302, want: 500},
		{name: "500", auth: plain, answer: 500, want: 500},
		{name: "404 is an error", auth: plain, answer: 404, want: 500},
		{name: "401 signin", auth: signin, answer: 401, want: 302, location: "https://sign.example.com/start?rd=http://sign.example.com%2Fp%3Fa%3D1%26b%3D%2F", cookie: "auth=1", challenged: true},
		// set_escape_uri (set-misc 0.33) leaves !$'()*,@ as they are.
		{name: "401 signin escapes as set_escape_uri", auth: signin, path: "/p(1)!*,'@$;x?a=1&b=/", answer: 401, want: 302,
			location: "https://sign.example.com/start?rd=http://sign.example.com%2Fp(1)!*,'@$%3Bx%3Fa%3D1%26b%3D%2F", cookie: "auth=1", challenged: true},
		{name: "signin keeps its param", auth: signinParam, answer: 401, want: 302, location: "https://login.example/s?next=x&a=b", cookie: "auth=1", challenged: true},
		{name: "signin's param from a variable", auth: signinVar, answer: 401, want: 302, location: "https://login.example/s?rd=", cookie: "auth=1", challenged: true},
		{name: "403 no signin", auth: signin, answer: 403, want: 403},
		{name: "always cookie on 401", auth: always, answer: 401, want: 401, cookie: "auth=1", challenged: true},
		{name: "unreachable", auth: unreachable, want: 500},
	} {
		host := "plain.example.com"
		if tc.auth == signin {
			host = "sign.example.com"
		}
		_, srv := front(t, Options{}, snap(1, host, backendOf("web", []string{addr(up)}, withAuth(tc.auth))))
		status.Store(int64(tc.answer))
		path := "/p?a=1&b=/"
		if tc.path != "" {
			path = tc.path
		}
		res := authGet(t, c, srv, http.MethodGet, host, path, map[string]string{"X-User": "spoofed"})
		if res.err != nil || res.status != tc.want {
			t.Errorf("%s: status %d (%v), want %d", tc.name, res.status, res.err, tc.want)
			continue
		}
		if res.status == 200 && !strings.Contains(res.body, "user= ") {
			t.Errorf("%s: upstream got %s; want no X-User (the auth answer has none)", tc.name, res.body)
		}
		if got := res.header.Get("Location"); got != tc.location {
			t.Errorf("%s: Location %q, want %q", tc.name, got, tc.location)
		}
		if got := res.header.Get("Set-Cookie"); got != tc.cookie {
			t.Errorf("%s: Set-Cookie %q, want %q", tc.name, got, tc.cookie)
		}
		if got := res.header.Get("Www-Authenticate"); (got == `Bearer realm="x"`) != tc.challenged {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
		}
	}
}

// TestExternalAuthTimeout: the auth subrequest has nginx's default
// timeouts, not the route's proxy-*-timeout: ingress-nginx sets those in
// the route's location only, not in its auth location (nginx 1.22 so
// configured let a request through after a 3 s answer with
// proxy-read-timeout 1).
func TestExternalAuthTimeout(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2500 * time.Millisecond): // past the route's 1+1 s
		case <-r.Context().Done():
		}
	})
	silent := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	shortRoute := func(p *annotations.Proxy) { p.ConnectTimeoutSeconds, p.ReadTimeoutSeconds = 1, 1 }
	a := &annotations.Auth{External: &annotations.ExternalAuth{URL: slow.URL, SigninRedirectParam: "rd"}}
	p, srv := front(t, Options{}, snap(1, "slow.example.com", backendOf("web", []string{addr(up)}, withAuth(a), shortRoute)))
	if p.auth.timeout != 60*time.Second {
		t.Errorf("auth timeout %v, want nginx's 60s", p.auth.timeout)
	}
	if res := get(t, client(t), srv, "slow.example.com", "/"); res.status != 200 {
		t.Errorf("a slow auth service on a route with 1 s timeouts: status %d (%v), want 200", res.status, res.err)
	}
	b := &annotations.Auth{External: &annotations.ExternalAuth{URL: silent.URL, SigninRedirectParam: "rd"}}
	p2, srv2 := front(t, Options{}, snap(1, "silent.example.com", backendOf("web", []string{addr(up)}, withAuth(b))))
	p2.auth.timeout = 200 * time.Millisecond
	if res := get(t, client(t), srv2, "silent.example.com", "/"); res.status != 500 {
		t.Errorf("a silent auth service: status %d (%v), want 500", res.status, res.err)
	}
}

// TestExternalAuthTLSHandshakeTimeout: an https auth service that accepts
// the connection and never finishes the TLS handshake is a 500 within the
// auth timeout, as nginx's proxy_connect_timeout bounds its upstream SSL
// handshake; before, the request waited until the client gave up.
func TestExternalAuthTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup // accepted connections, kept open and silent
	t.Cleanup(held.Wait)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held.Go(func() {
				_, _ = io.Copy(io.Discard, c) // reads the ClientHello, answers nothing
				c.Close()
			})
		}
	}()
	t.Cleanup(func() { ln.Close() })
	a := &annotations.Auth{External: &annotations.ExternalAuth{URL: "https://" + ln.Addr().String() + "/auth", SigninRedirectParam: "rd"}}
	p, srv := front(t, Options{}, snap(1, "tlsstall.example.com", backendOf("web", []string{addr(up)}, withAuth(a))))
	p.auth.timeout = 300 * time.Millisecond
	t.Cleanup(p.auth.close)
	c := client(t)
	c.Timeout = 5 * time.Second
	if res := get(t, c, srv, "tlsstall.example.com", "/"); res.status != 500 {
		t.Errorf("an auth service stalled in the TLS handshake: status %d (%v), want 500", res.status, res.err)
	}
}

func TestExternalAuthCache(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	as := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("X-User", "u-"+r.Header.Get("Authorization"))
	})
	a := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL, SigninRedirectParam: "rd", ResponseHeaders: []string{"X-User"},
		CacheKey: "$http_authorization", CacheDuration: []string{"200 5m", "401 1m"}}}
	_, srv := front(t, Options{}, snap(1, "cache.example.com", backendOf("web", []string{addr(up)}, withAuth(a))))
	c := client(t)
	for range 3 {
		res := authGet(t, c, srv, http.MethodGet, "cache.example.com", "/", map[string]string{"Authorization": "Bearer good"})
		if res.status != 200 || !strings.Contains(res.body, "user=u-Bearer good ") {
			t.Fatalf("cached 200: %d %s", res.status, res.body)
		}
		if res := authGet(t, c, srv, http.MethodGet, "cache.example.com", "/", map[string]string{"Authorization": "Bearer bad"}); res.status != 401 {
			t.Fatalf("cached 401: %d", res.status)
		}
	}
	if got := as.hits.Load(); got != 2 {
		t.Errorf("the auth service was asked %d times, want 2 (one per key)", got)
	}
}

func TestSatisfy(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	users := []string{"foo:{PLAIN}pw"}
	c := client(t)
	for _, tc := range []struct {
		name       string
		allow      []string
		deny       []string
		any        bool
		authz      string
		want       int
		challenged bool
	}{
		{name: "all: allowed, no credentials", allow: []string{"127.0.0.0/8"}, want: 401, challenged: true},
		{name: "all: allowed, credentials", allow: []string{"127.0.0.0/8"}, authz: basicHeader("foo", "pw"), want: 200},
		{name: "all: refused, credentials", allow: []string{"10.0.0.0/8"}, authz: basicHeader("foo", "pw"), want: 403},
		{name: "any: allowed, no credentials", allow: []string{"127.0.0.0/8"}, any: true, want: 200},
		{name: "any: refused, no credentials", allow: []string{"10.0.0.0/8"}, any: true, want: 401, challenged: true},
		{name: "any: refused, credentials", allow: []string{"10.0.0.0/8"}, any: true, authz: basicHeader("foo", "pw"), want: 200},
		{name: "any: denied, credentials", deny: []string{"127.0.0.0/8"}, any: true, authz: basicHeader("foo", "pw"), want: 200},
		{name: "any: deny list alone grants nothing", deny: []string{"10.0.0.0/8"}, any: true, want: 401, challenged: true},
		{name: "any: no lists", any: true, want: 401, challenged: true},
	} {
		a := &annotations.Auth{Basic: &annotations.BasicAuth{Realm: "r", Users: users}, SatisfyAny: tc.any}
		sr := &annotations.SourceRange{Allow: tc.allow, Deny: tc.deny}
		be := backendOf("web", []string{addr(up)}, withAuth(a), func(p *annotations.Proxy) { p.SourceRange = sr })
		_, srv := front(t, Options{}, snap(1, "s.example.com", be))
		res := authGet(t, c, srv, http.MethodGet, "s.example.com", "/", authorization(tc.authz))
		if res.err != nil || res.status != tc.want {
			t.Errorf("%s: status %d (%v), want %d", tc.name, res.status, res.err, tc.want)
			continue
		}
		if got := res.header.Get("Www-Authenticate") != ""; got != tc.challenged {
			t.Errorf("%s: challenged %v, want %v", tc.name, got, tc.challenged)
		}
		if res.status == 200 && strings.Contains(res.body, "authz=Basic") {
			t.Errorf("%s: the upstream got the Authorization header", tc.name)
		}
	}

	// satisfy any with basic and external authentication: each refusal
	// leaves its challenges, as nginx's access handlers leave theirs in
	// the response headers: basic's, then the service's on its 401 (none
	// on its 403); a failing service answers 500 at once, with basic's.
	// nginx 1.22 so configured answered the same (with the service's
	// first WWW-Authenticate line only).
	var answer atomic.Int64
	as := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Www-Authenticate", "Bearer")
		w.Header().Add("Set-Cookie", "svc=1")
		w.WriteHeader(int(answer.Load()))
	})
	for _, any := range []bool{true, false} {
		// auth-always-set-cookie: the service's cookie on every refusal
		// that asked it.
		a := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL, SigninRedirectParam: "rd", AlwaysSetCookie: true}, SatisfyAny: any,
			Basic: &annotations.BasicAuth{Realm: "r", Users: users}}
		be := backendOf("web", []string{addr(up)}, withAuth(a), func(p *annotations.Proxy) { p.SourceRange = &annotations.SourceRange{Allow: []string{"10.0.0.0/8"}} })
		_, srv := front(t, Options{}, snap(1, "s.example.com", be))
		for _, tc := range []struct {
			any        bool
			answer     int
			want       int
			challenges string
		}{
			{true, 502, 500, `Basic realm="r"`},
			{true, 401, 401, `Basic realm="r"|Bearer`},
			{true, 403, 401, `Basic realm="r"`},
			{false, 401, 403, ``}, // the allow list refuses first
		} {
			if tc.any != any {
				continue
			}
			answer.Store(int64(tc.answer))
			res := get(t, c, srv, "s.example.com", "/")
			if got := strings.Join(res.header.Values("Www-Authenticate"), "|"); res.status != tc.want || got != tc.challenges {
				t.Errorf("satisfy any %v, service %d: %d with WWW-Authenticate %q, want %d with %q", any, tc.answer, res.status, got, tc.want, tc.challenges)
			}
			if got, want := res.header.Get("Set-Cookie"), map[bool]string{true: "svc=1"}[any]; got != want {
				t.Errorf("satisfy any %v, service %d: Set-Cookie %q, want %q", any, tc.answer, got, want)
			}
		}
	}
	// An invalid source range still denies with 503 under satisfy any.
	be := backendOf("web", []string{addr(up)}, withAuth(&annotations.Auth{SatisfyAny: true, Basic: &annotations.BasicAuth{Users: users}}),
		func(p *annotations.Proxy) { p.SourceRange = &annotations.SourceRange{InvalidAllow: "bad"} })
	_, srv := front(t, Options{}, snap(1, "s.example.com", be))
	if res := authGet(t, c, srv, http.MethodGet, "s.example.com", "/", map[string]string{"Authorization": basicHeader("foo", "pw")}); res.status != 503 {
		t.Errorf("any with an invalid list: %d, want 503", res.status)
	}
}

func TestDigestAuth(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	realm := "Protected"
	users := []string{"alice:" + realm + ":" + md5Hex("alice:"+realm+":wonderland"), "bob:other:" + md5Hex("bob:other:pw")}
	a := &annotations.Auth{Basic: &annotations.BasicAuth{Digest: true, Realm: realm, Users: users}}
	_, srv := front(t, Options{}, snap(1, "digest.example.com", backendOf("web", []string{addr(up)}, withAuth(a))))
	c := client(t)

	res := get(t, c, srv, "digest.example.com", "/a?b=1")
	ch := res.header.Get("Www-Authenticate")
	if res.status != 401 || !strings.HasPrefix(ch, `Digest algorithm="MD5", qop="auth", realm="Protected", nonce="`) {
		t.Fatalf("no credentials: %d, WWW-Authenticate %q", res.status, ch)
	}
	nonce := parseDigestParams(strings.TrimPrefix(ch, "Digest "))["nonce"]
	authz := func(user, pass, uri, nc string) string {
		ha1 := md5Hex(user + ":" + realm + ":" + pass)
		resp := md5Hex(ha1 + ":" + nonce + ":" + nc + ":c0ffee:auth:" + md5Hex("GET:"+uri))
		return `Digest username="` + user + `", realm="` + realm + `", nonce="` + nonce + `", uri="` + uri +
			`", qop=auth, nc=` + nc + `, cnonce="c0ffee", response="` + resp + `", algorithm=MD5`
	}
	for _, tc := range []struct {
		name, authz string
		want        int
	}{
		{"good", authz("alice", "wonderland", "/a?b=1", "00000001"), 200},
		{"replayed nonce count", authz("alice", "wonderland", "/a?b=1", "00000001"), 401},
		{"next nonce count", authz("alice", "wonderland", "/a?b=1", "00000002"), 200},
		{"wrong password", authz("alice", "queen", "/a?b=1", "00000003"), 401},
		{"other uri", authz("alice", "wonderland", "/other", "00000004"), 401},
		{"user of another realm", authz("bob", "pw", "/a?b=1", "00000005"), 401},
		{"basic", basicHeader("alice", "wonderland"), 401},
	} {
		res := authGet(t, c, srv, http.MethodGet, "digest.example.com", "/a?b=1", map[string]string{"Authorization": tc.authz})
		if res.status != tc.want {
			t.Errorf("%s: status %d (%v), want %d", tc.name, res.status, res.err, tc.want)
		}
		if res.status == 200 && strings.Contains(res.body, "authz=Digest") {
			t.Errorf("%s: the upstream got the Authorization header", tc.name)
		}
	}

	// curl, a real digest client, answers the challenge.
	out, err := exec.Command("curl", "-sS", "--digest", "-u", "alice:wonderland", "-H", "Host: digest.example.com",
		"-o", "/dev/null", "-w", "%{http_code}", srv.URL+"/a?b=1").CombinedOutput()
	if err != nil || string(out) != "200" {
		t.Errorf("curl --digest: %s (%v), want 200", out, err)
	}
	out, _ = exec.Command("curl", "-sS", "--digest", "-u", "alice:wrong", "-H", "Host: digest.example.com",
		"-o", "/dev/null", "-w", "%{http_code}", srv.URL+"/a").CombinedOutput()
	if string(out) != "401" {
		t.Errorf("curl --digest with a wrong password: %s, want 401", out)
	}
}

func TestDigestNonces(t *testing.T) {
	t.Parallel()
	var d digestNonces
	now := time.Now()
	n := d.issue(now)
	if !d.fresh(n, now.Add(59*time.Second)) || d.fresh(n, now.Add(61*time.Second)) {
		t.Error("a nonce is not fresh for exactly 60 s")
	}
	var other digestNonces
	if other.fresh(n, now) || d.fresh(n[:31]+"0", now) && n[31] != '0' {
		t.Error("a nonce of another process, or altered, is fresh")
	}
	if !d.use(n, 1, now) || d.use(n, 1, now) || !d.use(n, 3, now) || d.use(n, 2, now) {
		t.Error("nonce counts are not accepted once and in increasing order")
	}
}

// TestDigestNoncesFull: with maxDigestNonces nonces recorded, none
// expired, a used nonce is still refused at its old count (the record was
// dropped whole: a replay passed) and a new one is refused; the record is
// swept at most once a second of the requests' clock (not of the time a
// sweep takes: a slow sweep on a loaded machine swept twice); expired
// records make room.
func TestDigestNoncesFull(t *testing.T) {
	t.Parallel()
	var d digestNonces
	now := time.Now()
	n := d.issue(now)
	if !d.use(n, 1, now) {
		t.Fatal("first use refused")
	}
	for i := 1; i < maxDigestNonces; i++ {
		d.use(d.issue(now.Add(time.Duration(i))), 1, now)
	}
	if d.use(d.issue(now.Add(-time.Second)), 1, now) {
		t.Error("a new nonce passed with the record full of live ones")
	}
	if d.use(n, 1, now) {
		t.Error("a replayed nonce count passed once the record was full")
	}
	if d.use(d.issue(now.Add(-2*time.Second)), 1, now.Add(999*time.Millisecond)) || d.sweeps != 1 {
		t.Errorf("a second new nonce with the record full: %d sweeps of it, want 1 (once a second)", d.sweeps)
	}
	if d.use(d.issue(now.Add(-3*time.Second)), 1, now.Add(time.Second)) || d.sweeps != 2 {
		t.Errorf("a new nonce a second after the sweep, the record full: %d sweeps, want 2", d.sweeps)
	}
	var old digestNonces
	then := now.Add(-2 * digestNonceLifetime)
	for i := range maxDigestNonces {
		old.use(old.issue(then.Add(time.Duration(i))), 1, then)
	}
	if !old.use(old.issue(now), 1, now) {
		t.Error("a new nonce refused while the record holds only expired ones")
	}
}

func TestNoAuthLocations(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	a := &annotations.Auth{Basic: &annotations.BasicAuth{Users: []string{"foo:{PLAIN}pw"}}}
	denied := &annotations.Auth{Basic: &annotations.BasicAuth{}, Invalid: "secret missing"}
	be := backendOf("web", []string{addr(up)}, withAuth(a))
	bad := backendOf("web", []string{addr(up)}, withAuth(denied))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "n.example.com", Paths: []snapshot.Path{
		{Path: "/.well-known/acme-challenge/tok", Match: snapshot.MatchExact, Backend: be},
		{Path: "/public", Match: snapshot.MatchPrefix, Backend: be},
		{Path: "/.well-known/acme-challenge/denied", Match: snapshot.MatchExact, Backend: bad},
		{Path: "/", Match: snapshot.MatchPrefix, Backend: be},
	}}}}
	p, srv := front(t, Options{}, s)
	c := client(t)
	check := func(what string, want map[string]int) {
		t.Helper()
		for path, status := range want {
			if res := get(t, c, srv, "n.example.com", path); res.status != status {
				t.Errorf("%s: GET %s: %d (%v), want %d", what, path, res.status, res.err, status)
			}
		}
	}
	check("default", map[string]int{"/.well-known/acme-challenge/tok": 200, "/public/x": 401, "/": 401,
		"/.well-known/acme-challenge/denied": 503})

	s2 := *s
	s2.Version = 2
	s2.Global.NoAuthLocations = []string{"/public"}
	if err := p.Apply(&s2); err != nil {
		t.Fatal(err)
	}
	check("no-auth-locations /public", map[string]int{"/.well-known/acme-challenge/tok": 401, "/public/x": 200, "/": 401})
}

// TestNoAuthLocationsDropAuthResponseHeaders: a no-auth location of a
// route with auth-url is served without asking the service, and without
// the client's own auth-response-headers: the backend takes those from the
// service, so a client could otherwise name itself (X-User: admin). nginx
// 1.22.1 configured as nginx.tmpl renders a location in no-auth-locations
// (no auth_request, no proxy_set_header of $authHeader0) passed the
// client's X-User on; Weir deliberately does not.
func TestNoAuthLocationsDropAuthResponseHeaders(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	var asked atomic.Int32
	as := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("X-User", "from-service")
	})
	a := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL, SigninRedirectParam: "rd", ResponseHeaders: []string{"X-User"}}}
	be := backendOf("web", []string{addr(up)}, withAuth(a))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "n.example.com", Paths: []snapshot.Path{
		{Path: "/.well-known/acme-challenge", Match: snapshot.MatchPrefix, Backend: be},
		{Path: "/", Match: snapshot.MatchPrefix, Backend: be},
	}}}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	forged := map[string]string{"X-User": "admin"}
	res := authGet(t, c, srv, http.MethodGet, "n.example.com", "/.well-known/acme-challenge/tok", forged)
	if res.status != 200 || !strings.Contains(res.body, "user= ") {
		t.Errorf("no-auth location: %d %q, want 200 and no X-User upstream", res.status, res.body)
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the auth service was asked %d times for a no-auth location", n)
	}
	res = authGet(t, c, srv, http.MethodGet, "n.example.com", "/x", forged)
	if res.status != 200 || !strings.Contains(res.body, "user=from-service ") {
		t.Errorf("authenticated location: %d %q, want 200 and the service's X-User upstream", res.status, res.body)
	}
}

// TestExternalAuthKeepalive: without auth-keepalive every subrequest
// closes its connection (Connection: close, as nginx's default); with it
// and use-http2 "false" the connection is reused. With use-http2 on (the
// default), ingress-nginx ignores auth-keepalive (shouldApplyAuthUpstream:
// "Upstream keepalive is not supported with HTTP/2"), and so does Weir.
func TestExternalAuthKeepalive(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	for _, tc := range []struct {
		conns    int
		http2Off bool
		reuse    bool
	}{{0, true, false}, {4, true, true}, {4, false, false}} {
		var mu sync.Mutex
		peers := map[string]bool{}
		closes := 0
		as := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			peers[r.RemoteAddr] = true
			if r.Close {
				closes++
			}
		})
		a := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL, SigninRedirectParam: "rd",
			KeepaliveConnections: tc.conns, KeepaliveRequests: 1000, KeepaliveTimeoutSeconds: 60}}
		s := snap(1, "k.example.com", backendOf("web", []string{addr(up)}, withAuth(a)))
		s.Global.TLS.HTTP2Off = tc.http2Off
		_, srv := front(t, Options{}, s)
		c := client(t)
		for range 3 {
			if res := get(t, c, srv, "k.example.com", "/"); res.status != 200 {
				t.Fatalf("keepalive %d: status %d (%v)", tc.conns, res.status, res.err)
			}
		}
		mu.Lock()
		if reused := len(peers) == 1; reused != tc.reuse || (closes == 3) == tc.reuse {
			t.Errorf("auth-keepalive %d, use-http2 off %v: %d connections for 3 subrequests, %d with Connection: close", tc.conns, tc.http2Off, len(peers), closes)
		}
		mu.Unlock()
	}
}

// TestExternalAuthKeepaliveLua: where auth-keepalive applies (use-http2
// "false"), ingress-nginx's location asks the service with
// ngx_conf_external_auth.lua instead of auth_request: only a 200 grants
// (a 204 is a 500), a 401 carries no WWW-Authenticate of the service and
// no cookie (its signin's 302 neither), and a 200's cookie is added
// without always, whatever auth-always-set-cookie says. Without
// keepalive, auth_request's answers.
func TestExternalAuthKeepaliveLua(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/error" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	var answer atomic.Int64
	as := newAuthService(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Www-Authenticate", `Bearer realm="x"`)
		w.Header().Set("Set-Cookie", "auth=1")
		w.WriteHeader(int(answer.Load()))
	})
	c := noRedirects(client(t))
	for _, keepalive := range []bool{false, true} {
		ext := &annotations.ExternalAuth{URL: as.URL + "/check", SigninRedirectParam: "rd", AlwaysSetCookie: true,
			KeepaliveRequests: 1000, KeepaliveTimeoutSeconds: 60}
		if keepalive {
			ext.KeepaliveConnections = 4
		}
		signin := *ext
		signin.Signin = "http://login.example/start"
		s := snap(1, "k.example.com", backendOf("web", []string{addr(up)}, withAuth(&annotations.Auth{External: ext})))
		s2 := snap(1, "s.example.com", backendOf("web", []string{addr(up)}, withAuth(&annotations.Auth{External: &signin})))
		s.Servers = append(s.Servers, s2.Servers...)
		s.Global.TLS.HTTP2Off = true
		_, srv := front(t, Options{}, s)
		for _, tc := range []struct {
			host, path      string
			answer          int
			status, luaStat int
			cookie, luaCook string
			challenged      bool
		}{
			{"k.example.com", "/", 200, 200, 200, "auth=1", "auth=1", false},
			{"k.example.com", "/", 204, 200, 500, "auth=1", "", false},
			{"k.example.com", "/error", 200, 503, 503, "auth=1", "", false},
			{"k.example.com", "/", 401, 401, 401, "auth=1", "", true},
			{"s.example.com", "/", 401, 302, 302, "auth=1", "", true},
		} {
			answer.Store(int64(tc.answer))
			res := get(t, c, srv, tc.host, tc.path)
			want, cookie, challenged := tc.status, tc.cookie, tc.challenged
			if keepalive {
				want, cookie, challenged = tc.luaStat, tc.luaCook, false
			}
			got := res.header.Get("Www-Authenticate") != ""
			if res.status != want || res.header.Get("Set-Cookie") != cookie || got != challenged {
				t.Errorf("keepalive %v, %s%s, service %d: %d Set-Cookie %q WWW-Authenticate %q, want %d %q challenged %v",
					keepalive, tc.host, tc.path, tc.answer, res.status, res.header.Get("Set-Cookie"), res.header.Get("Www-Authenticate"), want, cookie, challenged)
			}
		}
	}
}

// TestAuthRefusalCustomHTTPErrors: a refusal of the access phase whose
// status the route lists in custom-http-errors is answered by the default
// backend, as nginx's error_page ... = @custom_... of ingress-nginx's
// location catches auth_basic's and auth_request's 401, 403 and 500
// (nginx 1.22 so configured): X-Code the refusal's status, the
// WWW-Authenticate lines kept, no cookie of the auth service (the
// @custom_ location has no add_header). auth-signin's error_page 401
// comes first; a status not listed is nginx's page. The source ranges'
// 403 (allow and deny's) goes the same way, with authentication or without.
func TestAuthRefusalCustomHTTPErrors(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	pages := errorPages(t, "custom")
	var answer atomic.Int64
	as := newAuthService(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Www-Authenticate", `Bearer realm="x"`)
		w.Header().Set("Set-Cookie", "auth=1")
		w.WriteHeader(int(answer.Load()))
	})
	bc, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ext := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL + "/check", SigninRedirectParam: "rd", AlwaysSetCookie: true}}
	signin := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL + "/check", SigninRedirectParam: "rd", Signin: "http://login.example/start"}}
	basic := &annotations.Auth{Basic: &annotations.BasicAuth{Realm: "r", Users: []string{"u:" + string(bc)}}}
	outside := func(p *annotations.Proxy) { p.SourceRange = &annotations.SourceRange{Allow: []string{"10.0.0.0/8"}} }
	server := func(host string, a *annotations.Auth, codes ...int) snapshot.Server {
		opts := []func(*annotations.Proxy){withAuth(a), withErrors(codes...)}
		if strings.HasPrefix(host, "outside") {
			opts = append(opts, outside)
		}
		be := backendOf("web", []string{addr(up)}, opts...)
		eb := backendOf("errors", []string{pages})
		be.ErrorBackend = &eb
		return snapshot.Server{Host: host, Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be}}}
	}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		server("ext.test", ext, 401, 403, 500), server("signin.test", signin, 401), server("basic.test", basic, 401),
		server("unlisted.test", ext, 404), server("outside.test", nil, 403), server("outside-basic.test", basic, 403),
	}}
	_, srv := front(t, Options{}, s)
	c := noRedirects(client(t))
	for _, tc := range []struct {
		host      string
		answer    int
		status    int
		page      bool // the default backend's
		challenge string
		cookie    string
	}{
		{"ext.test", 401, 401, true, `Bearer realm="x"`, ""},
		{"ext.test", 403, 403, true, "", ""},
		{"ext.test", 404, 500, true, "", ""},
		{"signin.test", 401, 302, false, `Bearer realm="x"`, "auth=1"},
		{"basic.test", 0, 401, true, `Basic realm="r"`, ""},
		{"unlisted.test", 401, 401, false, `Bearer realm="x"`, "auth=1"},
		{"outside.test", 0, 403, true, "", ""},
		{"outside-basic.test", 0, 403, true, "", ""},
	} {
		answer.Store(int64(tc.answer))
		res := get(t, c, srv, tc.host, "/p?q=1")
		page := strings.Contains(res.body, `"code":"`+strconv.Itoa(tc.status)+`"`) && strings.Contains(res.body, `"original":"/p?q=1"`)
		if res.status != tc.status || page != tc.page || res.header.Get("Www-Authenticate") != tc.challenge || res.header.Get("Set-Cookie") != tc.cookie {
			t.Errorf("%s, service %d: %d %q WWW-Authenticate %q Set-Cookie %q, want %d (default backend %v) %q %q",
				tc.host, tc.answer, res.status, res.body, res.header.Get("Www-Authenticate"), res.header.Get("Set-Cookie"), tc.status, tc.page, tc.challenge, tc.cookie)
		}
	}
}

func TestAuthDeniedMetric(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	reg := prometheus.NewRegistry()
	a := &annotations.Auth{Basic: &annotations.BasicAuth{Users: []string{"foo:{PLAIN}pw"}}}
	_, srv := front(t, Options{Registry: reg}, snap(1, "m.example.com", backendOf("web", []string{addr(up)}, withAuth(a))))
	c := client(t)
	get(t, c, srv, "m.example.com", "/")
	get(t, c, srv, "m.example.com", "/")
	authGet(t, c, srv, http.MethodGet, "m.example.com", "/", authorization(basicHeader("foo", "pw")))
	want := `
# HELP weir_auth_denied_total Requests refused by authentication, by Ingress and by status: 401 and 403 (refused), 500 (the authentication service failed), 503 (the configuration is invalid: the route is denied).
# TYPE weir_auth_denied_total counter
weir_auth_denied_total{ingress="ing-web",namespace="ns",status="401"} 2
`
	if err := promtestutil.GatherAndCompare(reg, strings.NewReader(want), "weir_auth_denied_total"); err != nil {
		t.Error(err)
	}
}

// TestExternalAuthCacheSetCookie: an auth answer nginx's proxy_cache does
// not keep (Set-Cookie, Cache-Control private, no-store, no-cache or
// max-age=0, Vary *, an Expires past, X-Accel-Expires 0) is asked again
// for the next request, so that one client's session cookie or answer is
// never handed to another client of the same cache key.
func TestExternalAuthCacheSetCookie(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	for _, tc := range []struct{ name, header, value string }{
		{"set-cookie", "Set-Cookie", ""},
		{"private", "Cache-Control", "private, max-age=60"},
		{"no-store", "Cache-Control", "no-store"},
		{"no-cache", "Cache-Control", "No-Cache"},
		{"max-age 0", "Cache-Control", "max-age=0"},
		{"vary star", "Vary", "*"},
		{"expires past", "Expires", "Thu, 01 Jan 1970 00:00:00 GMT"},
		{"x-accel-expires 0", "X-Accel-Expires", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Set-Cookie", "session="+r.Header.Get("Authorization"))
				if tc.header != "Set-Cookie" {
					w.Header().Del("Set-Cookie")
					w.Header().Set(tc.header, tc.value)
				}
			})
			a := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL, SigninRedirectParam: "rd",
				CacheKey: "$host", CacheDuration: []string{"200 5m"}}}
			_, srv := front(t, Options{}, snap(1, "cookie.example.com", backendOf("web", []string{addr(up)}, withAuth(a))))
			c := client(t)
			for _, who := range []string{"alice", "bob"} {
				res := authGet(t, c, srv, http.MethodGet, "cookie.example.com", "/", map[string]string{"Authorization": who})
				if res.status != 200 {
					t.Fatalf("%s: status %d (%v)", who, res.status, res.err)
				}
				if got := res.header.Get("Set-Cookie"); tc.header == "Set-Cookie" && got != "session="+who {
					t.Errorf("%s got Set-Cookie %q, want session=%s", who, got, who)
				}
			}
			if got := as.hits.Load(); got != 2 {
				t.Errorf("the auth service was asked %d times for 2 requests, want 2 (its answer is not cached)", got)
			}
		})
	}
}

// TestExternalAuthCacheVary: an answer with Vary is a hit only for a
// request with the same values of the fields it names, as nginx keeps
// each variant apart.
func TestExternalAuthCacheVary(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	as := newAuthService(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Authorization")
		if r.Header.Get("Authorization") != "good" {
			w.WriteHeader(401)
		}
	})
	a := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL, SigninRedirectParam: "rd",
		CacheKey: "$host", CacheDuration: []string{"200 401 5m"}}}
	_, srv := front(t, Options{}, snap(1, "vary.example.com", backendOf("web", []string{addr(up)}, withAuth(a))))
	c := client(t)
	for i, tc := range []struct {
		authz string
		want  int
		hits  int64
	}{{"good", 200, 1}, {"good", 200, 1}, {"bad", 401, 2}, {"bad", 401, 2}, {"good", 200, 3}} {
		if res := authGet(t, c, srv, http.MethodGet, "vary.example.com", "/", map[string]string{"Authorization": tc.authz}); res.status != tc.want {
			t.Fatalf("request %d (%s): status %d (%v), want %d", i, tc.authz, res.status, res.err, tc.want)
		}
		if got := as.hits.Load(); got != tc.hits {
			t.Fatalf("after request %d (%s): the auth service was asked %d times, want %d", i, tc.authz, got, tc.hits)
		}
	}
}

func TestAuthCacheTTL(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	durations := map[int]time.Duration{200: 5 * time.Minute}
	for _, tc := range []struct {
		name string
		h    http.Header
		code int
		want time.Duration
	}{
		{"configured", http.Header{}, 200, 5 * time.Minute},
		{"status not configured", http.Header{}, 401, 0},
		{"max-age over configured", http.Header{"Cache-Control": {"public, max-age=30"}}, 200, 30 * time.Second},
		{"max-age caches an unconfigured status", http.Header{"Cache-Control": {"max-age=30"}}, 401, 30 * time.Second},
		{"s-maxage over max-age", http.Header{"Cache-Control": {"max-age=30, s-maxage=10"}}, 200, 10 * time.Second},
		{"x-accel-expires over cache-control", http.Header{"Cache-Control": {"max-age=30"}, "X-Accel-Expires": {"7"}}, 200, 7 * time.Second},
		{"x-accel-expires absolute", http.Header{"X-Accel-Expires": {"@" + strconv.FormatInt(now.Unix()+90, 10)}}, 200, 90 * time.Second},
		{"x-accel-expires invalid ignored", http.Header{"X-Accel-Expires": {"soon"}}, 200, 5 * time.Minute},
		{"expires future", http.Header{"Expires": {now.Add(time.Hour).Format(http.TimeFormat)}}, 200, time.Hour},
		{"expires invalid", http.Header{"Expires": {"0"}}, 200, 0},
		{"set-cookie", http.Header{"Set-Cookie": {"a=1"}, "Cache-Control": {"max-age=30"}}, 200, 0},
		{"private", http.Header{"Cache-Control": {"private"}}, 200, 0},
		{"max-age not a number", http.Header{"Cache-Control": {"max-age=x"}}, 200, 0},
		{"vary star", http.Header{"Vary": {"Accept, *"}}, 200, 0},
		{"no answer", http.Header{}, 0, 0},
	} {
		if got := cacheTTL(tc.h, tc.code, durations, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestEscapeURIComponent: $escaped_request_uri is set-misc 0.33's
// set_escape_uri (ingress-nginx's build), which escapes less than
// encodeURIComponent: !$'()*,@_`|~ stay as they are.
func TestEscapeURIComponent(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/?a=b&c=d":            "%2F%3Fa%3Db%26c%3Dd", // ingress-nginx's e2e test: url.QueryEscape
		"!$'()*,@_`|~.-":       "!$'()*,@_`|~.-",
		" \"#%+:;<>[\\]^{}":    "%20%22%23%25%2B%3A%3B%3C%3E%5B%5C%5D%5E%7B%7D",
		"\x00\x1f\x7f\xc3\xa9": "%00%1F%7F%C3%A9",
	} {
		if got := escapeURIComponent(in); got != want {
			t.Errorf("escapeURIComponent(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestExternalAuthProxyProtocolHeader: with use-proxy-protocol and
// use-forwarded-headers, the auth subrequest carries
// X-Forwarded-For-Proxy-Protocol as ingress-nginx's more_set_input_headers
// set it on the client's request, not the client's own value, and
// X-Real-IP is the address read from it; with auth-method, an empty
// X-Forwarded-Proto is an empty $pass_access_scheme: no X-Scheme.
func TestExternalAuthProxyProtocolHeader(t *testing.T) {
	t.Parallel()
	up := authEcho(t)
	as := newAuthService(t, func(http.ResponseWriter, *http.Request) {})
	ext := &annotations.Auth{External: &annotations.ExternalAuth{URL: as.URL + "/check", Method: "POST"}}
	s := withLogFormat(t, snap(1, "example.com", backendOf("web", []string{addr(up)}, withAuth(ext))),
		map[string]string{"use-proxy-protocol": "true", "use-forwarded-headers": "true"})
	plain, secure := refusingFrontPP(t, Options{}, s, true)
	sendRefused(t, refusedCase{send: sendPlain, req: "PROXY TCP4 192.0.2.7 198.51.100.1 1111 80\r\n" +
		"GET / HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For-Proxy-Protocol: 6.6.6.6\r\nX-Forwarded-Proto: \r\nConnection: close\r\n\r\n"}, plain, secure)
	ar, _ := as.last(t)
	if got := ar.Header.Values("X-Forwarded-For-Proxy-Protocol"); len(got) != 1 || got[0] != "203.0.113.7" {
		t.Errorf("auth request X-Forwarded-For-Proxy-Protocol %q, want [203.0.113.7]", got)
	}
	if got := ar.Header.Get("X-Real-Ip"); got != "203.0.113.7" {
		t.Errorf("auth request X-Real-IP %q, want 203.0.113.7", got)
	}
	if got, ok := ar.Header["X-Scheme"]; ok {
		t.Errorf("auth request X-Scheme %q, want none", got)
	}
}
