package router

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// algorithm is how a Pool picks an upstream, as ingress-nginx's balancer
// implementations: cookie affinity first, then upstream-hash-by, then
// load-balance.
type algorithm uint8

const (
	roundRobin algorithm = iota
	ewmaPick
	hashPick         // chash
	hashSubsetPick   // chashsubset
	stickyBalanced   // sticky_balanced
	stickyPersistent // sticky_persistent
)

// balancer is the compiled balancing of a Pool. It is immutable.
type balancer struct {
	alg        algorithm
	hashBy     []annotations.HashPart
	ring       *ring         // over the upstreams, or over the subsets
	subsets    [][]*Upstream // hashSubsetPick
	cookie     string        // the affinity cookie's name
	change     bool          // session-cookie-change-on-failure
	backendKey string        // ingress-nginx's md5(md5(name)..name) of the upstream name
	keys       []string      // stickyPersistent: md5(name..addr) of each upstream
	byKey      map[string]*Upstream
}

// balanceKey describes the balancing of be for the Pool key: "" for round
// robin.
func balanceKey(be *snapshot.Backend) string {
	if b := be.Proxy.Balance; b != nil {
		if b.Cookie {
			return fmt.Sprintf("|sticky persistent=%t cookie=%s change=%t", b.Persistent, b.CookieName, b.CookieChangeOnFailure)
		}
		if _, err := annotations.ParseHashBy(b.HashBy); err == nil && b.HashBy != "" {
			return fmt.Sprintf("|hash subset=%t size=%d by=%s", b.HashBySubset, b.HashBySubsetSize, b.HashBy)
		}
	}
	if be.Proxy.LoadBalance == annotations.EWMA {
		return "|ewma"
	}
	return ""
}

// newBalancer compiles the balancing of be over ups; nil means round robin.
func newBalancer(be *snapshot.Backend, ups []*Upstream) *balancer {
	addrs := make([]string, len(ups))
	for i, u := range ups {
		addrs[i] = u.Addr
	}
	b := be.Proxy.Balance
	switch {
	case b != nil && b.Cookie:
		name := be.UpstreamName()
		lb := &balancer{alg: stickyBalanced, cookie: b.CookieName, change: b.CookieChangeOnFailure, backendKey: md5Hex(md5Hex(name) + name)}
		if !b.Persistent {
			if len(ups) > 0 {
				lb.ring = newRing(addrs, nil)
			}
			return lb
		}
		lb.alg = stickyPersistent
		lb.keys = make([]string, len(ups))
		lb.byKey = make(map[string]*Upstream, len(ups))
		for i, u := range ups {
			lb.keys[i] = md5Hex(name + u.Addr)
			lb.byKey[lb.keys[i]] = u
		}
		return lb
	case b != nil && b.HashBy != "":
		parts, err := annotations.ParseHashBy(b.HashBy)
		if err != nil || len(ups) == 0 {
			break
		}
		if !b.HashBySubset {
			return &balancer{alg: hashPick, hashBy: parts, ring: newRing(addrs, nil)}
		}
		lb := &balancer{alg: hashSubsetPick, hashBy: parts, subsets: subsets(ups, max(b.HashBySubsetSize, 1))}
		names := make([]string, len(lb.subsets))
		for i := range names {
			names[i] = "set" + strconv.Itoa(i+1)
		}
		lb.ring = newRing(names, nil)
		return lb
	}
	if be.Proxy.LoadBalance == annotations.EWMA {
		return &balancer{alg: ewmaPick}
	}
	return nil
}

// subsets cuts ups, in order, into subsets of size, the last one filled up
// with the first upstreams again, as ingress-nginx's chashsubset.
func subsets(ups []*Upstream, size int) [][]*Upstream {
	n := (len(ups) + size - 1) / size
	out := make([][]*Upstream, n)
	for i := range out {
		out[i] = make([]*Upstream, size)
		for j := range size {
			out[i][j] = ups[(i*size+j)%len(ups)]
		}
	}
	return out
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Plain reports whether the Pool picks without looking at the request
// (round robin or ewma): Next and NextExcept then are all Pick does.
func (p *Pool) Plain() bool { return p.lb == nil || p.lb.alg == ewmaPick }

// Pick selects the upstream for req, whose client address (nginx's
// $remote_addr) is remote, after the upstreams tried (nil for the first
// attempt, as NextExcept). cookie is the value of the affinity cookie to
// set on the response, "" for none. It reports false when the Pool has no
// upstream left to try.
//
// With cookie affinity, an upstream named by the request's cookie serves
// (persistent: by the md5 of the upstream name and address, balanced: by
// the cookie's key on the ring), whether or not it is Down; otherwise a
// new one is chosen and named by the cookie returned. With
// upstream-hash-by, the key's upstream (or a random one of its subset)
// serves. As ingress-nginx's balancers, a request passed on after a
// failure is balanced again the same way: under upstream-hash-by it goes
// to the key's upstream again (or a random one of its subset, maybe the
// same), under cookie affinity to the upstream the cookie names, unless
// session-cookie-change-on-failure is set or the cookie names none: then
// a new sticky choice is made among the upstreams not tried and the cookie
// reissued to name it.
func (p *Pool) Pick(req *http.Request, remote string, tried []*Upstream) (up *Upstream, cookie string, ok bool) {
	lb := p.lb
	if lb == nil || len(p.upstreams) == 0 {
		up, ok = p.NextExcept(tried)
		return up, "", ok
	}
	switch lb.alg {
	case ewmaPick:
		if len(tried) >= len(p.upstreams) {
			return nil, "", false
		}
		up, ok = p.nextEWMA(tried)
		return up, "", ok
	case hashPick:
		// Every try, a retry too, goes to the key's upstream, as
		// ingress-nginx's chash balance.
		return p.upstreams[lb.ring.find(hashKey(lb.hashBy, req, remote))], "", true
	case hashSubsetPick:
		// A random upstream of the key's subset at every try, one tried
		// included, as ingress-nginx's chashsubset balance.
		set := lb.subsets[lb.ring.find(hashKey(lb.hashBy, req, remote))]
		return set[rand.IntN(len(set))], "", true
	case stickyBalanced, stickyPersistent:
		// As ingress-nginx's sticky balance: the upstream the cookie
		// names serves every attempt, a retry after its failure too,
		// unless session-cookie-change-on-failure says to pick anew; a
		// request whose cookie names no upstream gets a new choice and a
		// cookie naming it at every attempt, not only the first.
		pinned := lb.fromCookie(p, req)
		if pinned != nil && (len(tried) == 0 || !lb.change) {
			return pinned, "", true
		}
		if u, key := lb.pickNew(p, tried); u != nil {
			return u, key + "|" + lb.backendKey, true
		}
	}
	up, ok = p.NextExcept(tried)
	return up, "", ok
}

// fromCookie returns the upstream the affinity cookie of req names, nil
// when there is no cookie or it names none of p's.
func (lb *balancer) fromCookie(p *Pool, req *http.Request) *Upstream {
	v, _ := restyCookie(req.Header, lb.cookie)
	key, _ := stickyParts(v)
	if key == "" {
		return nil
	}
	if lb.alg == stickyPersistent {
		return lb.byKey[key]
	}
	return p.upstreams[lb.ring.find(key)]
}

// stickyTries is ingress-nginx's MAX_UPSTREAM_CHECKS_COUNT: the random
// keys sticky_balanced draws looking for an upstream not to avoid.
const stickyTries = 20

// pickNew chooses an upstream for a request without a usable cookie and
// returns it with the cookie key that names it, passing over the upstreams
// tried. It returns nil when all were tried.
func (lb *balancer) pickNew(p *Pool, tried []*Upstream) (*Upstream, string) {
	if lb.alg == stickyBalanced {
		// ingress-nginx's key: time, process and a random number; the ring
		// maps it to an upstream wherever it is read again.
		now := time.Now()
		for i := 1; i <= stickyTries; i++ {
			secs := float64(now.UnixMilli())/1000 + float64(i)
			key := strconv.FormatFloat(secs, 'f', -1, 64) + "." + strconv.Itoa(os.Getpid()) + "." + strconv.Itoa(1+rand.IntN(999999))
			if u := p.upstreams[lb.ring.find(key)]; !slices.Contains(tried, u) {
				return u, key
			}
		}
		return nil, ""
	}
	var buf [16]int
	left := buf[:0]
	for i, u := range p.upstreams {
		if !slices.Contains(tried, u) {
			left = append(left, i)
		}
	}
	if len(left) == 0 {
		return nil, ""
	}
	i := left[rand.IntN(len(left))]
	return p.upstreams[i], lb.keys[i]
}

// Observe records the time an upstream of p took to serve a request
// (connect plus response time, as ingress-nginx's ewma after_balance).
// Only an ewma Pool keeps it, in u, so it outlives a Router swap.
func (p *Pool) Observe(u *Upstream, rtt time.Duration) {
	if p.lb != nil && p.lb.alg == ewmaPick {
		u.ewma.observe(rtt, time.Now().UnixNano())
	}
}

// affinity returns the backend the affinity cookie of req pins it to, as
// ingress-nginx's route_to_alternative_balancer: the main backend (nil,
// true) when the main rule's cookie carries the main backend's key, a
// canary when the canary's cookie carries that canary's (a canary has the
// main rule's affinity, or with affinity-canary-behavior legacy its own
// Ingress's, possibly under another cookie name). It reports false when
// neither.
func (r *Route) affinity(req *http.Request) (*Canary, bool) {
	if lb := r.Pool.lb; lb.sticky() && lb.pins(req) {
		return nil, true
	}
	for _, c := range r.Canaries {
		if cl := c.Pool.lb; cl.sticky() && c.Pool.Len() > 0 && cl.pins(req) {
			return c, true
		}
	}
	return nil, false
}

// sticky reports whether lb is cookie affinity; lb may be nil.
func (lb *balancer) sticky() bool {
	return lb != nil && (lb.alg == stickyBalanced || lb.alg == stickyPersistent)
}

// pins reports whether the affinity cookie of req carries lb's backend key,
// ingress-nginx's is_affinitized.
func (lb *balancer) pins(req *http.Request) bool {
	v, _ := restyCookie(req.Header, lb.cookie)
	_, key := stickyParts(v)
	return key == lb.backendKey
}

// stickyParts splits the value of an affinity cookie as sticky.lua's
// get_cookie_parsed (util.split_string at "|", which leaves out empty
// parts): the first part is the upstream key, the second the backend key;
// "" when missing. "|k||b|x" is "k" and "b".
func stickyParts(v string) (key, backend string) {
	for v != "" {
		var part string
		part, v, _ = strings.Cut(v, "|")
		switch {
		case part == "":
		case key == "":
			key = part
		default:
			return key, part
		}
	}
	return key, ""
}

// hashKey evaluates an upstream-hash-by expression for req.
func hashKey(parts []annotations.HashPart, req *http.Request, remote string) string {
	if len(parts) == 1 {
		if parts[0].Var {
			return variable(parts[0].Text, req, remote)
		}
		return parts[0].Text
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Var {
			b.WriteString(variable(p.Text, req, remote))
		} else {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// variable is the value of the nginx variable name (see
// annotations.HashVarKnown) for req; "" when the request has none.
func variable(name string, req *http.Request, remote string) string {
	lower := strings.ToLower(name)
	switch lower {
	case "request_uri":
		// As written, but without the scheme and host of an absolute
		// form, as nginx's.
		if strings.HasPrefix(req.RequestURI, "/") {
			return req.RequestURI
		}
		return req.URL.RequestURI()
	case "uri", "document_uri":
		return req.URL.Path
	case "is_args":
		if req.URL.RawQuery != "" {
			return "?"
		}
		return ""
	case "server_protocol":
		return req.Proto
	case "request":
		// The request line as received.
		return req.Method + " " + req.RequestURI + " " + req.Proto
	case "binary_remote_addr":
		// The address in network byte order: 4 bytes for IPv4, 16 for
		// IPv6, as nginx's.
		a, err := netip.ParseAddr(remote)
		if err != nil {
			return ""
		}
		b, _ := a.Unmap().MarshalBinary()
		return string(b)
	case "args", "query_string":
		return req.URL.RawQuery
	case "host":
		return HostVar(req.Host)
	case "remote_addr":
		return remote
	case "scheme":
		if req.TLS != nil {
			return "https"
		}
		return "http"
	case "request_method":
		return req.Method
	}
	switch {
	case strings.HasPrefix(lower, "http_"):
		key := http.CanonicalHeaderKey(strings.ReplaceAll(name[len("http_"):], "_", "-"))
		sep := ", "
		if key == "Cookie" {
			sep = "; "
		}
		return strings.Join(req.Header[key], sep)
	case strings.HasPrefix(lower, "cookie_"):
		v, _ := nginxCookie(req.Header, name[len("cookie_"):])
		return v
	case strings.HasPrefix(lower, "arg_"):
		return queryArg(req.URL.RawQuery, name[len("arg_"):])
	}
	return ""
}

// queryArg is nginx's $arg_name: the raw value of the first argument
// called name, any case, in query.
func queryArg(query, name string) string {
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(kv, "=")
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
