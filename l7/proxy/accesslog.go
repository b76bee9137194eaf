package proxy

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/weir-lb/weir/l7/router"
)

// accessEntry is one access-log line.
type accessEntry struct {
	// Time is when the request arrived, RFC 3339 with nanoseconds, UTC.
	Time   string `json:"time"`
	Client string `json:"client"`
	Method string `json:"method"`
	// Host is the client's Host header; Path the URL path, without query.
	Host   string `json:"host"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	// Bytes counts the response body bytes sent to the client.
	Bytes      int64   `json:"bytes"`
	DurationMS float64 `json:"duration_ms"`
	// Upstream is the address the request was sent to, "" when none; the
	// addresses tried in order, separated by ", ", when it was passed to
	// the next (as nginx's $upstream_addr).
	Upstream  string `json:"upstream"`
	Namespace string `json:"namespace"`
	Ingress   string `json:"ingress"`
	Service   string `json:"service"`
	RequestID string `json:"request_id"`
}

// The access log's buffer, as nginx's access_log buffer= and flush=: under
// load the lines of requests that end while others are in flight are
// written together, when accessBuffer bytes are held or accessFlush after
// the last write; the line of a request that ends with none in flight is
// written at once, and so are the lines buffered on Close.
const (
	accessBuffer = 64 << 10
	accessFlush  = 100 * time.Millisecond
)

// accessLog writes JSON lines through a buffer, serialised; a line is
// appended without an allocation.
type accessLog struct {
	w        io.Writer
	inFlight atomic.Int64 // requests begun, not logged yet

	mu      sync.Mutex
	buf     []byte
	scratch []byte      // a variable's raw value, for a log format
	clock   logClock    // the times of the lines, formatted once a second
	flushed time.Time   // the last write
	timer   *time.Timer // writes the lines held for accessFlush at most
	armed   bool
}

// begin counts a request begun; its write ends it.
func (a *accessLog) begin() { a.inFlight.Add(1) }

// write logs a request: Weir's JSON line, or the line of lf
// (log-format-upstream) when it is not nil; nothing when off
// (disable-access-log, disable-http-access-log) or when its route's enable-access-log is "false".
func (a *accessLog) write(r *http.Request, ex *exchange, rec *responseRecorder, status int, d time.Duration, lf *logFormat, off bool) {
	idle := a.inFlight.Add(-1) <= 0
	if off {
		if idle {
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(a.buf) > 0 {
				a.flushLocked()
			}
		}
		return
	}
	a.emit(&logLine{r: r, ex: ex, rec: rec, status: status, d: d}, lf, idle)
}

// emit appends the line of l, in lf (nil: Weir's JSON line), and writes
// the lines buffered when idle (no request in flight) or when the buffer
// says so.
func (a *accessLog) emit(l *logLine, lf *logFormat, idle bool) {
	// The request ended at its start plus its duration (finish measured
	// it): no clock read per line. An exchange without a start has none.
	end := l.ex.start.Add(l.d)
	if l.ex.start.IsZero() {
		end = time.Now()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if lf != nil {
		l.clock = &a.clock
		a.buf, a.scratch = lf.append(a.buf, a.scratch, l)
	} else {
		a.buf = appendEntry(a.buf, &a.clock, l.r, l.ex, l.status, l.rec.bytes, l.d)
	}
	switch {
	case idle || len(a.buf) >= accessBuffer || end.Sub(a.flushed) >= accessFlush:
		a.flushLocked()
	case a.armed:
	case a.timer == nil:
		a.timer, a.armed = time.AfterFunc(accessFlush, a.flush), true
	default:
		a.timer.Reset(accessFlush)
		a.armed = true
	}
}

// flush writes the lines buffered.
func (a *accessLog) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.flushLocked()
}

func (a *accessLog) flushLocked() {
	a.armed = false
	if len(a.buf) == 0 {
		return
	}
	_, _ = a.w.Write(a.buf)
	a.buf = a.buf[:0]
	a.flushed = time.Now()
}

// appendEntry appends the JSON line of a request (accessEntry's fields, in
// its order, encoded as encoding/json encodes them), its time through clock
// (nil: formatted in full).
func appendEntry(b []byte, clock *logClock, r *http.Request, ex *exchange, status int, bytes int64, d time.Duration) []byte {
	b = append(b, `{"time":"`...)
	b = clock.appendRFC3339Nano(b, ex.start)
	b = append(b, `","client":`...)
	b = appendJSONString(b, ex.fwd.remoteText)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, r.Host)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, r.URL.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, d)
	b = append(b, `,"upstream":"`...)
	for i, u := range ex.tried {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendJSONText(b, u.Addr)
	}
	var ns, ing, svc string
	if ex.route != nil {
		ns, ing, svc = ex.route.Backend.Ingress.Namespace, ex.route.Backend.Ingress.Name, ex.route.Backend.Service
	}
	b = append(b, `","namespace":`...)
	b = appendJSONString(b, ns)
	b = append(b, `,"ingress":`...)
	b = appendJSONString(b, ing)
	b = append(b, `,"service":`...)
	b = appendJSONString(b, svc)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, ex.requestID)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string, quoted.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendJSONText(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the bytes appendJSONText copies as they are: ASCII but
// control bytes, ", \, <, > and &. One load per byte instead of six
// comparisons: the scan was nearly half of a line's cost.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONText appends s escaped as encoding/json escapes a string: ", \
// and control bytes, <, > and & (HTML-safe), U+2028 and U+2029, and invalid
// UTF-8 as U+FFFD.
func appendJSONText(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && jsonSafe[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// appendJSONFloat appends f as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendMillis appends d in milliseconds as appendJSONFloat appends
// float64(d.Nanoseconds())/1e6, without its cost (a fifth of a line):
// under 1e14 ns (27 hours) the shortest decimal that reads back as that
// float is the quotient's own, at most six decimals, since any other
// decimal as short is at least 1e-7 away and the float's spacing there is
// under 2.5e-8 (TestAppendMillis compares the two).
func appendMillis(b []byte, d time.Duration) []byte {
	ns := d.Nanoseconds()
	if ns < 0 || ns >= 1e14 {
		return appendJSONFloat(b, float64(ns)/1e6)
	}
	b = strconv.AppendInt(b, ns/1e6, 10)
	return appendFraction(b, ns%1e6, 6)
}

// appendFraction appends frac, a fraction of 10^digits, as "." and its
// digits without trailing zeros; nothing when it is 0.
func appendFraction(b []byte, frac int64, digits int) []byte {
	if frac == 0 {
		return b
	}
	var d [9]byte
	for i := digits - 1; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	for d[digits-1] == '0' {
		digits--
	}
	b = append(b, '.')
	return append(b, d[:digits]...)
}

// logClock formats the times of access lines. Each layout's text of the
// last second is kept: the lines of one second (under load, all but the
// first) copy it instead of formatting the date and time again. A nil
// logClock formats every time in full.
type logClock struct {
	utc, local, iso secondText
}

// appendRFC3339Nano appends t in UTC as time.RFC3339Nano: RFC3339's text
// of the second with the nanoseconds, trailing zeros trimmed, before its
// "Z".
func (c *logClock) appendRFC3339Nano(b []byte, t time.Time) []byte {
	t = t.UTC()
	if c == nil {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	b = c.utc.append(b, t, time.RFC3339)
	b = b[:len(b)-1] // its "Z" (UTC's offset), written after the fraction
	b = appendFraction(b, int64(t.Nanosecond()), 9)
	return append(b, 'Z')
}

// appendLocal and appendISO append t as nginx's $time_local and
// $time_iso8601.
func (c *logClock) appendLocal(b []byte, t time.Time) []byte {
	const layout = "02/Jan/2006:15:04:05 -0700"
	if c == nil {
		return t.AppendFormat(b, layout)
	}
	return c.local.append(b, t, layout)
}

func (c *logClock) appendISO(b []byte, t time.Time) []byte {
	const layout = "2006-01-02T15:04:05-07:00"
	if c == nil {
		return t.AppendFormat(b, layout)
	}
	return c.iso.append(b, t, layout)
}

// secondText is the text of one second, in one location and layout.
type secondText struct {
	sec  int64
	loc  *time.Location
	text []byte
}

// append appends t in layout, which shows nothing finer than a second,
// copying the text kept when t is in the same second and location as the
// last time formatted: the text depends on nothing else.
func (s *secondText) append(b []byte, t time.Time, layout string) []byte {
	if sec, loc := t.Unix(), t.Location(); s.text == nil || sec != s.sec || loc != s.loc {
		s.text = t.AppendFormat(s.text[:0], layout)
		s.sec, s.loc = sec, loc
	}
	return append(b, s.text...)
}

// defaultServerBackend reports whether a request for the host hs, which
// matched route (nil: none), is answered by ingress-nginx's default
// server's default backend: its "/" location, which has access_log off
// unless enable-access-log-for-default-backend. That is a host no server
// of rt serves by name (the catch-all "_" server: an undefined host, or a
// host-less rule's server) whose path matched no rule, answered by
// --default-backend-service (a Service, not a catch-all Ingress's
// spec.defaultBackend, which ingress-nginx logs as its annotations say) or
// by Weir's 404.
func defaultServerBackend(hs router.Host, route *router.Route) bool {
	if route != nil && !ingressless(route) {
		return false
	}
	return !hs.Served()
}

// defaultUpstream reports whether route is ingress-nginx's
// upstream-default-backend: a host's root location without a
// spec.defaultBackend (snapshot.Backend.DefaultUpstream), or the default
// server's --default-backend-service; not a catch-all Ingress's
// spec.defaultBackend, which createServers makes the default server's
// upstream itself ("namespace-service-port").
func defaultUpstream(route *router.Route) bool {
	return route.Backend.DefaultUpstream || ingressless(route)
}

// ingressless reports whether route is the default server's root location
// of no Ingress (--default-backend-service): ingress-nginx's
// getIngressInformation gives it empty $namespace, $ingress_name,
// $service_name and $service_port, and the metrics those labels.
func ingressless(route *router.Route) bool {
	return route.Default && route.Backend.Ingress.Kind == "Service"
}

// skipped reports whether r's $request_uri is one of skip-access-log-urls.
func (g *globalConfig) skipped(r *http.Request) bool {
	return !g.skipURLs.Empty() && g.skipURLs.Match(requestURI(r))
}
