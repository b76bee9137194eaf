package proxy

import (
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// benchLogged is a request as the keep-alive benchmark's: its exchange,
// recorder, status and duration, with realistic field values.
func benchLogged() (*http.Request, *exchange, *responseRecorder) {
	r := &http.Request{Method: http.MethodGet, Host: "bench.local", URL: &url.URL{Path: "/bench"}, RequestURI: "/bench",
		Proto: "HTTP/1.1", Header: http.Header{"User-Agent": {"wrk"}, "Accept": {"*/*"}}}
	ex := &exchange{start: time.Date(2026, 12, 6, 4, 38, 56, 123456789, time.Local), requestID: "3f2a9c0e5d7b41a68c1e0f9b2d4a6c8e",
		fwd: forwarding{remoteText: "127.0.0.1"}}
	ex.route = &router.Route{Backend: &snapshot.Backend{Ingress: snapshot.ObjectRef{Namespace: "default", Name: "bench"},
		Service: "bench", Port: "http"}}
	ex.tried = []*router.Upstream{{Addr: "127.0.0.1:38211"}}
	ex.timing = upstreamTiming{start: ex.start, connect: 0, header: 201 * time.Microsecond, response: 215 * time.Microsecond}
	return r, ex, &responseRecorder{bytes: 13, status: http.StatusOK}
}

// BenchmarkAccessLine formats one access line of a proxied keep-alive
// request: Weir's JSON line (the default) and ingress-nginx's upstreaminfo
// (log-format-upstream's default).
//
//	go test ./l7/proxy -run '^$' -bench AccessLine -benchmem
func BenchmarkAccessLine(b *testing.B) {
	r, ex, rec := benchLogged()
	const d = 312456 * time.Nanosecond
	b.Run("json", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		var clock logClock
		b.ReportAllocs()
		for range b.N {
			buf = appendEntry(buf[:0], &clock, r, ex, http.StatusOK, rec.bytes, d)
		}
	})
	b.Run("upstreaminfo", func(b *testing.B) {
		lf := compileLogFormat(annotations.LogFormat{Upstream: annotations.DefaultLogFormat})
		buf, scratch := make([]byte, 0, 1024), make([]byte, 0, 256)
		l := &logLine{r: r, ex: ex, rec: rec, status: http.StatusOK, d: d, clock: &logClock{}}
		b.ReportAllocs()
		for range b.N {
			buf, scratch = lf.append(buf[:0], scratch, l)
		}
	})
}

// BenchmarkAccessLogWrite logs one request through the access log's
// buffer (its lock, flush policy and writes) with another in flight, as
// under load, to io.Discard.
//
//	go test ./l7/proxy -run '^$' -bench AccessLogWrite -benchmem
func BenchmarkAccessLogWrite(b *testing.B) {
	r, ex, rec := benchLogged()
	a := &accessLog{w: io.Discard}
	a.begin() // in flight throughout: lines are buffered, not written one by one
	b.ReportAllocs()
	for range b.N {
		a.begin()
		a.write(r, ex, rec, http.StatusOK, 312456*time.Nanosecond, nil, false)
	}
}
