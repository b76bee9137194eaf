package stream

import (
	"io"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
)

// The $status values of a session, as nginx's stream module sets them.
const (
	statusOK         = 200 // the session was proxied
	statusBadRequest = 400 // a broken PROXY protocol header
	statusBadGateway = 502 // no endpoint, or none answered
)

// session is what the access-log line of one TCP connection or UDP session
// reports (log-format-stream).
type session struct {
	start          time.Time
	proto          string // "TCP" or "UDP", as $protocol
	client, local  netip.AddrPort
	status         int
	sent, received int64  // to and from the client
	upstream       string // the endpoint that served it; "" when none
	upSent, upRecv int64  // to and from the endpoint
	name           string // $proxy_upstream_name
}

// accessLog writes the log-format-stream line of each session, one write a
// line, serialised.
type accessLog struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// write logs s with format (ParseStreamLogFormat's segments).
func (a *accessLog) write(format []annotations.LogSegment, s *session) {
	end := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.buf[:0]
	for _, seg := range format {
		if seg.Var == "" {
			b = append(b, seg.Literal...)
			continue
		}
		b = annotations.AppendLogEscaped(b, s.variable(seg.Var, end))
	}
	b = append(b, '\n')
	_, _ = a.w.Write(b)
	a.buf = b
}

// variable returns the value of the nginx stream variable name for s
// ended at end; "-" for one Weir does not know or that has no value.
func (s *session) variable(name string, end time.Time) string {
	addr := func(a netip.AddrPort) string {
		if !a.IsValid() {
			return "-"
		}
		return a.Addr().Unmap().String()
	}
	port := func(a netip.AddrPort) string {
		if !a.IsValid() {
			return "-"
		}
		return strconv.Itoa(int(a.Port()))
	}
	upstream := func(v string) string {
		if s.upstream == "" {
			return "-"
		}
		return v
	}
	switch name {
	case "remote_addr":
		return addr(s.client)
	case "remote_port":
		return port(s.client)
	case "server_addr":
		return addr(s.local)
	case "server_port":
		return port(s.local)
	case "time_local":
		return end.Format("02/Jan/2006:15:04:05 -0700")
	case "time_iso8601":
		return end.Format("2006-01-02T15:04:05-07:00")
	case "msec":
		return strconv.FormatFloat(float64(end.UnixMilli())/1e3, 'f', 3, 64)
	case "protocol":
		return s.proto
	case "status":
		return strconv.Itoa(s.status)
	case "bytes_sent":
		return strconv.FormatInt(s.sent, 10)
	case "bytes_received":
		return strconv.FormatInt(s.received, 10)
	case "session_time":
		return strconv.FormatFloat(end.Sub(s.start).Seconds(), 'f', 3, 64)
	case "upstream_addr":
		return upstream(s.upstream)
	case "upstream_bytes_sent":
		return upstream(strconv.FormatInt(s.upSent, 10))
	case "upstream_bytes_received":
		return upstream(strconv.FormatInt(s.upRecv, 10))
	case "proxy_upstream_name":
		if s.name == "" {
			return "-"
		}
		return s.name
	}
	return "-"
}

// logSession writes s's line when the access log is on: Options.AccessLog
// set and neither disable-access-log nor disable-stream-access-log.
func (srv *Server) logSession(t *target, s *session) {
	if srv.access == nil || t.settings.logOff {
		return
	}
	srv.access.write(t.settings.logFormat, s)
}
