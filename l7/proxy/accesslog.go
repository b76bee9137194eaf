package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
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

// accessLog writes JSON lines, one Write per line, serialised.
type accessLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (a *accessLog) write(r *http.Request, ex *exchange, status int, bytes int64, d time.Duration) {
	if ex.route != nil && ex.route.Backend.Proxy.AccessLogOff {
		return // enable-access-log "false"
	}
	e := accessEntry{
		Time:       ex.start.UTC().Format(time.RFC3339Nano),
		Client:     ex.fwd.remoteText,
		Method:     r.Method,
		Host:       r.Host,
		Path:       r.URL.Path,
		Status:     status,
		Bytes:      bytes,
		DurationMS: float64(d.Nanoseconds()) / 1e6,
		RequestID:  ex.requestID,
	}
	if len(ex.tried) == 1 {
		e.Upstream = ex.tried[0].Addr
	} else if len(ex.tried) > 1 {
		addrs := make([]string, len(ex.tried))
		for i, u := range ex.tried {
			addrs[i] = u.Addr
		}
		e.Upstream = strings.Join(addrs, ", ")
	}
	if ex.route != nil {
		e.Namespace = ex.route.Backend.Ingress.Namespace
		e.Ingress = ex.route.Backend.Ingress.Name
		e.Service = ex.route.Backend.Service
	}
	line, err := json.Marshal(&e)
	if err != nil {
		return // only strings and numbers: cannot fail
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.w.Write(line)
}
