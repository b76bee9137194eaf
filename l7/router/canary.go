package router

import (
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// Canary is a compiled canary backend of a Route (see snapshot.Canary for
// the rules). Canaries belong to their Router and must not be modified.
type Canary struct {
	// Name is the canary's upstream name as ingress-nginx writes it,
	// "namespace-service-port": the canary label of the request metrics.
	Name string
	// Backend is the canary's backend; its Proxy settings are the main
	// rule's (LoadBalance and Balance excepted).
	Backend *snapshot.Backend
	// Pool selects the canary's upstream; it has no upstreams when the
	// canary's Service has no endpoints, and Pick then skips the canary.
	Pool *Pool

	header     string         // canonical header key, "_" made "-"; "" means none
	value      string         // exact header value; "" means none
	pattern    *regexp.Regexp // used when value is ""; nil means none
	badPattern bool           // a pattern was set but does not compile
	cookie     string         // "" means none
	weight     int            // clipped so the Route's weights fit its total
}

// Draw returns a uniformly distributed integer in [0, n), n > 0. It must be
// safe for concurrent use.
type Draw func(n int) int

// vote is what one rule of one canary says about a request.
type vote int

const (
	next   vote = iota // no opinion: try the next rule
	canary             // this canary serves the request
	never              // this canary is excluded for the request
)

// compileCanaries compiles the canaries of p and returns them with their
// shared weight total.
func (b *builder) compileCanaries(p *snapshot.Path) ([]*Canary, int) {
	if len(p.Canaries) == 0 {
		return nil, 0
	}
	total := snapshot.CanaryTotal(p.Canaries)
	out := make([]*Canary, 0, len(p.Canaries))
	sum := 0
	for i := range p.Canaries {
		sc := &p.Canaries[i]
		c := &Canary{
			Name:    sc.Backend.UpstreamName(),
			Backend: &sc.Backend,
			Pool:    b.pool(&sc.Backend),
			value:   sc.HeaderValue,
			cookie:  sc.Cookie,
			weight:  min(max(sc.Weight, 0), total-sum),
		}
		sum += c.weight
		if sc.Header != "" {
			c.header = http.CanonicalHeaderKey(strings.ReplaceAll(sc.Header, "_", "-"))
		}
		if sc.HeaderValue == "" && sc.HeaderPattern != "" {
			re, err := regexp.Compile(sc.HeaderPattern)
			if err != nil {
				c.badPattern = true // reported by Build; the main backend serves
			} else {
				c.pattern = re
			}
		}
		out = append(out, c)
	}
	return out, total
}

// byHeader is rule 1: canary-by-header with its value or pattern.
func (c *Canary) byHeader(h http.Header) vote {
	if c.header == "" {
		return next
	}
	vs := h[c.header]
	if len(vs) == 0 {
		if vs = underscoreHeader(h, c.header); len(vs) == 0 {
			return next
		}
	}
	// nginx's $http_name, which ingress-nginx reads: repeated header
	// lines joined with ", " (nginx 1.23 on).
	v := vs[0]
	if len(vs) > 1 {
		v = strings.Join(vs, ", ")
	}
	switch {
	case c.value != "":
		if v == c.value {
			return canary
		}
	case c.badPattern:
		return never
	case c.pattern != nil:
		if c.pattern.MatchString(v) {
			return canary
		}
	case v == "always":
		return canary
	case v == "never":
		return never
	}
	return next
}

// underscoreHeader returns the values of a header of h whose name has a
// "_" and is name (canonical, without "_") with "-" and "_" alike, in any
// case: nginx's $http_ variable, which balancer.lua reads for
// canary-by-header, matches such a request header (one that
// enable-underscores-in-headers or ignore-invalid-headers "false" lets
// through). nil when there is none. It does not allocate.
func underscoreHeader(h http.Header, name string) []string {
	for k, vs := range h {
		if len(k) != len(name) || strings.IndexByte(k, '_') < 0 {
			continue
		}
		same := true
		for i := 0; i < len(k) && same; i++ {
			a, b := k[i], name[i]
			if a == '_' {
				a = '-'
			}
			same = a == b || 'a' <= a && a <= 'z' && a-'a'+'A' == b || 'A' <= a && a <= 'Z' && a-'A'+'a' == b
		}
		if same {
			return vs
		}
	}
	return nil
}

// byCookie is rule 2: canary-by-cookie.
func (c *Canary) byCookie(req *http.Request) vote {
	if c.cookie == "" {
		return next
	}
	v, ok := nginxCookie(req.Header, c.cookie)
	if !ok {
		return next
	}
	switch v {
	case "always":
		return canary
	case "never":
		return never
	}
	return next
}

// servable reports whether the main backend of r can serve, itself or by
// its default-backend. ingress-nginx keeps no balancer for a backend
// without endpoints, and without the main backend's balancer it consults
// no canary: the request gets 503 (balancer.lua). A default-backend with
// endpoints takes the main backend's place as a copy of it, canaries
// included (controller.go), so its canaries still apply.
func (r *Route) servable() bool {
	return r.Pool.Len() > 0 || r.ErrorRoute != nil && r.ErrorRoute.Pool.Len() > 0
}

// nginxCookie is nginx's $cookie_name, which ingress-nginx's canary-by-cookie
// and upstream-hash-by read (ngx_http_parse_multi_header_lines): in the
// Cookie headers of h, cookies separated by ";" or ",", the first whose
// name is name in any case, and its value as sent (quotes and trailing
// spaces kept) from after "=" and the spaces that follow it to the next
// ";". It does not allocate.
func nginxCookie(h http.Header, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for s := strings.TrimLeft(line, " "); s != ""; {
			if len(s) >= len(name) && strings.EqualFold(s[:len(name)], name) {
				if v, ok := strings.CutPrefix(strings.TrimLeft(s[len(name):], " "), "="); ok {
					v = strings.TrimLeft(v, " ")
					if i := strings.IndexByte(v, ';'); i >= 0 {
						v = v[:i]
					}
					return v, true
				}
			}
			i := strings.IndexAny(s, ";,")
			if i < 0 {
				break
			}
			s = strings.TrimLeft(s[i+1:], " ")
		}
	}
	return "", false
}

// The states of lua-resty-cookie's parser (restyCookie).
const (
	restySpace = iota // EXPECT_SP: before a key
	restyKey          // EXPECT_KEY: in a key, up to "="
	restyValue        // EXPECT_VALUE: in a value, up to ";" or a tab
)

// restyCookie returns the value of the cookie called name (exactly) as
// lua-resty-cookie's get reads it from nginx's $http_cookie (the Cookie
// lines joined with "; "): how ingress-nginx's sticky balancer reads the
// affinity cookie. As there, the last cookie of that name wins; a value
// runs to ";" or a tab, spaces and double quotes included; spaces and tabs
// before a key are skipped; a part without "=" runs into the next key ("a;
// name=v" has the key "a; name"), and a value without its ";" runs to the
// end. It does not allocate.
func restyCookie(h http.Header, name string) (value string, ok bool) {
	lines := h["Cookie"]
	state, start, match := restySpace, 0, false // start: of the key or value in line; -1: in an earlier line
	for n, line := range lines {
		if n > 0 {
			// The "; " between two lines: ";" ends a value; a key that
			// runs over it holds it, so it is never name.
			switch state {
			case restyValue:
				if match {
					value, ok = lines[n-1][start:], true
				}
				state = restySpace
			case restyKey:
				start = -1
			}
		}
		for j := 0; j < len(line); j++ {
			c := line[j]
			switch state {
			case restySpace:
				if c == ' ' || c == '\t' {
					continue
				}
				state, start = restyKey, j
				if c != '=' {
					continue
				}
				fallthrough // "=" right away: an empty key
			case restyKey:
				if c == '=' {
					match = start >= 0 && line[start:j] == name
					state, start = restyValue, j+1
				}
			case restyValue:
				// A space does not end a value: lua-resty-cookie ends it
				// there only after a ";", which a value never holds.
				if c == ';' || c == '\t' {
					if match {
						value, ok = line[start:j], true
					}
					state = restySpace
				}
			}
		}
	}
	if state == restyValue && match {
		value, ok = lines[len(lines)-1][start:], true
	}
	return value, ok
}

// Pick decides which backend serves req: one of the Route's Canaries, or
// the main backend (nil). A request whose affinity cookie carries the key
// of the main backend, or of a canary with affinity, goes there first (see
// Route.affinity). Then, for each canary in order, its header rule then
// its cookie rule: the first canary they select wins; one they exclude
// ("never", or an invalid header pattern) is out for this request. Then one
// draw r in [0, total) picks the first canary whose cumulative weight
// exceeds r, else the main backend; an excluded canary's share goes to the
// main backend. A canary without endpoints is skipped like an excluded one,
// as ingress-nginx skips an alternative backend without endpoints; when the
// main backend has none (nor a default-backend that has some), no canary is
// picked (see servable). draw nil
// means math/rand/v2's IntN. Pick only reads req and is safe for concurrent
// use.
func (r *Route) Pick(req *http.Request, draw Draw) *Canary {
	n := len(r.Canaries)
	if n == 0 || !r.servable() {
		return nil
	}
	if c, ok := r.affinity(req); ok { // balance.go
		return c
	}
	var buf [8]bool
	excluded := buf[:0]
	if n <= len(buf) {
		excluded = buf[:n]
	} else {
		excluded = make([]bool, n)
	}
	weights := 0
	for i, c := range r.Canaries {
		weights += c.weight
		if c.Pool.Len() == 0 {
			excluded[i] = true
			continue
		}
		switch c.byHeader(req.Header) {
		case canary:
			return c
		case never:
			excluded[i] = true
			continue
		}
		switch c.byCookie(req) {
		case canary:
			return c
		case never:
			excluded[i] = true
		}
	}
	if weights == 0 {
		return nil
	}
	if draw == nil {
		draw = rand.IntN
	}
	x := draw(r.canaryTotal)
	sum := 0
	for i, c := range r.Canaries {
		if sum += c.weight; x < sum {
			if excluded[i] {
				return nil
			}
			return c
		}
	}
	return nil
}
