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

// bandwidth paces one response as nginx's limit_rate and
// limit_rate_after: by s whole seconds after the request began, at most
// rate × (s+1) + after bytes are sent, the head's among them, as nginx
// counts c->sent (nginx 1.22.1, limit_rate 1k, a 2048-byte body after a
// 235-byte head: 789 body bytes at once, 1813 after 1s, all after 2s).
type bandwidth struct {
	rate, after int64 // bytes per second (> 0), bytes
	start       time.Time
	sent        int64         // head and body bytes; 0 until the head is sent
	timeout     time.Duration // send_timeout of each write
	r           *http.Request // the client's, for the length of the head
	ex          *exchange
}

// newBandwidth returns the pacing of the route's limit-rate for the
// response to r, nil when it has none or does not buffer responses: nginx
// sets r->limit_rate to 0 for an unbuffered upstream response
// (ngx_http_upstream_send_response), so with proxy-buffering off,
// ingress-nginx's default, limit-rate paces nothing, as its docs say.
func newBandwidth(r *http.Request, ex *exchange, timeout time.Duration) *bandwidth {
	p := &ex.route.Backend.Proxy
	if p.LimitRateKiB <= 0 || !p.Upstream.BuffersResponse() {
		return nil
	}
	return &bandwidth{rate: int64(p.LimitRateKiB) << 10, after: int64(p.LimitRateAfterKiB) << 10, start: ex.start, timeout: timeout, r: r, ex: ex}
}

// write writes b to rec, piece by piece as the pace allows, each piece
// flushed under its own write deadline; with no pacing (b nil) it is
// rec.Write. The head goes first, alone, so that its length, which the
// pace counts, is known (bytesSent's: exact on l7/h1server).
func (bw *bandwidth) write(rec *responseRecorder, ctl *http.ResponseController, b []byte) error {
	if bw == nil {
		_, err := rec.Write(b)
		return err
	}
	if bw.sent == 0 {
		rec.Flush() // under the caller's write deadline
		bw.sent = max(bytesSent(bw.r, bw.ex, rec, rec.status)-bodySent(bw.r, rec, rec.status), 1)
	}
	for len(b) > 0 {
		elapsed := time.Since(bw.start)
		s := int64(elapsed / time.Second)
		allowed := bw.rate*(s+1) + bw.after - bw.sent
		if allowed <= 0 {
			// Until the first whole second whose allowance exceeds what
			// was sent.
			time.Sleep(time.Duration((bw.sent-bw.after)/bw.rate)*time.Second - elapsed)
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
