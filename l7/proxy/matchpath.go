package proxy

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// matchPath returns the path a request is routed by: its decoded path with
// dot segments resolved and repeated slashes merged, as nginx normalises the
// URI before it chooses a location, and "/" for an empty path (an
// absolute-form request line without one). Without it, "/x/../admin" or
// "//admin" would match the rules of "/" and skip those of "/admin" (its
// source ranges, its ssl-redirect), while the upstream serves /admin. The
// request is still forwarded with its path as the client sent it, as nginx's
// proxy_pass without a URI does. A trailing slash is kept: Exact "/foo" must
// not match "/foo/", and so is the slash a final "." or ".." segment
// stands for: nginx makes "/foo/." "/foo/" and "/foo/bar/.." "/foo/" (checked
// on nginx 1.22.1: they match the locations of "/foo/", not "= /foo").
func matchPath(p string) string {
	if p == "" {
		return "/"
	}
	if !needsCleaning(p) {
		return p
	}
	c := path.Clean("/" + p)
	if c != "/" && (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")) {
		c += "/"
	}
	return c
}

// needsCleaning reports whether p has an empty, "." or ".." segment, or
// does not start with a slash. It allocates nothing: most paths are clean.
func needsCleaning(p string) bool {
	if p[0] != '/' {
		return true
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		rest := p[i+1:]
		switch {
		case strings.HasPrefix(rest, "/"):
			return true
		case rest == "." || strings.HasPrefix(rest, "./"):
			return true
		case rest == ".." || strings.HasPrefix(rest, "../"):
			return true
		}
	}
	return false
}

// requestPath is matchPath of r's path as nginx takes it for $uri: up to a
// raw '#' of the request target (a fragment, which a client should not
// send), where r.URL.Path keeps "#frag". nginx 1.22.1 routed "/exact#f" to
// "= /exact" and rewrote "/something/a/b#f" without the "#f"; it still
// forwards the target as sent when it does not rewrite, and so does Weir.
// An escaped "%23" is part of the path on both.
func requestPath(r *http.Request) string {
	p := r.URL.Path
	if strings.IndexByte(p, '#') < 0 {
		return matchPath(p) // nearly always: no '#', raw or escaped
	}
	raw := r.RequestURI
	if !strings.HasPrefix(raw, "/") { // absolute form: scheme://authority/path
		if _, rest, ok := strings.Cut(raw, "://"); ok {
			raw = "/"
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				raw = rest[i:]
			}
		}
	}
	raw, _, _ = strings.Cut(raw, "?")
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		if dec, err := url.PathUnescape(raw[:i]); err == nil {
			p = dec
		}
	}
	return matchPath(p)
}
