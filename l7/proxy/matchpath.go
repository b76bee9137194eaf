package proxy

import (
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
