package proxy

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

// rateLimits enforces limit-rps and limit-rpm as nginx's limit_req does in
// ingress-nginx: a zone per Ingress (the route's main Ingress) and rate,
// keyed by the client address after the real-IP rules, with
// burst=rate*limit-burst-multiplier and nodelay; clients in
// limit-allowlist not counted. The states live in the connlimit.Table of
// limit-connections, which every worker of the node shares. A request
// either zone refuses, or whose bucket of the Table is full, gets
// limit-req-status-code (503).
type rateLimits struct {
	conn    *connLimits // holds the Table
	allow   ptrCache[annotations.RateLimit, []netip.Prefix]
	refused *prometheus.CounterVec // nil: no metrics
}

func newRateLimits(conn *connLimits, reg *prometheus.Registry) *rateLimits {
	rl := &rateLimits{conn: conn}
	if reg != nil {
		rl.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_limit_requests_refused_total",
			Help: "Requests refused by limit-rps or limit-rpm (with limit-req-status-code), by Ingress; reason limit (past the rate and its burst) or full (the shared table had no room: it fails closed, as nginx's full zone).",
		}, []string{"namespace", "ingress", "reason"})
		reg.MustRegister(rl.refused)
	}
	return rl
}

// admit counts the request from client on route in its zones under
// limitKey (nil: the client address; empty: not counted), or counts its
// refusal and returns false: the caller answers it (limit-req-status-code,
// through custom-http-errors as nginx's limit_req status goes through the
// location's error_page).
func (rl *rateLimits) admit(client netip.Addr, limitKey []byte, route *router.Route) bool {
	cfg := route.Backend.Proxy.RateLimit
	if cfg == nil || limitKey == nil && !client.IsValid() || limitKey != nil && len(limitKey) == 0 {
		return true // nginx counts no empty key
	}
	client = client.Unmap()
	if len(cfg.Allowlist) > 0 && client.IsValid() && containsAddr(rl.allow.get(cfg, compileAllowlist), client) {
		return true
	}
	if limitKey == nil {
		limitKey = client.AsSlice()
	}
	table := rl.conn.shared()
	ing := route.Backend.Ingress
	zone, addr := ing.Namespace+"/"+ing.Name, limitKey
	var buf [2]connlimit.RateZone
	zones := buf[:0]
	mult := uint64(max(cfg.BurstMultiplier, 0))
	// In ingress-nginx's order: the rps zone, then the rpm zone.
	if cfg.RPS > 0 {
		zones = append(zones, connlimit.RateZone{Key: table.Key(zone+"_rps", addr), Rate: uint64(cfg.RPS) * 1000, Burst: uint64(cfg.RPS) * mult})
	}
	if cfg.RPM > 0 {
		zones = append(zones, connlimit.RateZone{Key: table.Key(zone+"_rpm", addr), Rate: uint64(cfg.RPM) * 1000 / 60, Burst: uint64(cfg.RPM) * mult})
	}
	ok, err := table.Admit(time.Now().UnixMilli(), zones)
	if ok {
		return true
	}
	if rl.refused != nil {
		reason := "limit"
		if err != nil {
			reason = "full"
		}
		rl.refused.WithLabelValues(ing.Namespace, ing.Name, reason).Inc()
	}
	return false
}

func compileAllowlist(cfg *annotations.RateLimit) []netip.Prefix {
	return compileSourceRange(&annotations.SourceRange{Allow: cfg.Allowlist}).allow
}

// bandwidth paces one response body as nginx's limit_rate and
// limit_rate_after: by s whole seconds after the request began, at most
// rate × (s+1) + after bytes are sent. Weir counts the body bytes; nginx
// counts the header too.
type bandwidth struct {
	rate, after int64 // bytes per second (> 0), bytes
	start       time.Time
	sent        int64
	timeout     time.Duration // send_timeout of each write
}

// newBandwidth returns the pacing of the route's limit-rate, nil when it
// has none or does not buffer responses: nginx sets r->limit_rate to 0 for
// an unbuffered upstream response (ngx_http_upstream_send_response), so
// with proxy-buffering off, ingress-nginx's default, limit-rate paces
// nothing, as its docs say.
func newBandwidth(ex *exchange, timeout time.Duration) *bandwidth {
	p := &ex.route.Backend.Proxy
	if p.LimitRateKiB <= 0 || !p.Upstream.BuffersResponse() {
		return nil
	}
	return &bandwidth{rate: int64(p.LimitRateKiB) << 10, after: int64(p.LimitRateAfterKiB) << 10, start: ex.start, timeout: timeout}
}

// write writes b to rec, piece by piece as the pace allows, each piece
// flushed under its own write deadline; with no pacing (b nil) it is
// rec.Write.
func (bw *bandwidth) write(rec *responseRecorder, ctl *http.ResponseController, b []byte) error {
	if bw == nil {
		_, err := rec.Write(b)
		return err
	}
	for len(b) > 0 {
		s := int64(time.Since(bw.start) / time.Second)
		allowed := bw.rate*(s+1) + bw.after - bw.sent
		if allowed <= 0 {
			// nginx's delay: until the excess is paid, and 1 ms.
			time.Sleep(time.Duration(-allowed*1000/bw.rate+1) * time.Millisecond)
			continue
		}
		n := min(int64(len(b)), allowed)
		_ = ctl.SetWriteDeadline(time.Now().Add(bw.timeout))
		if _, err := rec.Write(b[:n]); err != nil {
			return err
		}
		rec.Flush()
		bw.sent += n
		b = b[n:]
	}
	return nil
}
