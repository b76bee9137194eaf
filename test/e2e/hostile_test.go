package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/test/testutil"
)

// hostileCase is one raw HTTP/1 exchange of hostileCorpus: what Weir
// answers, whether it closes the connection and what reaches its upstream.
// Each was sent side by side to Weir and to nginx 1.22.1 configured as
// ingress-nginx's nginx.tmpl renders one Ingress (proxy_http_version 1.1,
// the template's proxy_set_header lines, a keepalive upstream,
// client_header_buffer_size 1k, large_client_header_buffers 4 8k,
// underscores_in_headers off, ignore_invalid_headers on), both in front
// of the same recording upstream; where Weir's answer is not nginx's,
// nginx says what nginx did and why Weir differs.
type hostileCase struct {
	name string
	raw  string
	// want is the statuses of the responses, in order ("raw" for bytes
	// that are not an HTTP/1 response: an HTTP/2 SETTINGS frame).
	want   string
	closes bool
	// up is what the upstream received: "METHOD target body-length" per
	// request. A smuggled request shows as one more.
	up []string
	// upFields, when set, are the fields of the first upstream request,
	// "name: value" with the name in lower case, sorted, without those
	// that vary (X-Request-ID, X-Forwarded-Port, X-Real-IP,
	// X-Forwarded-For) or are the same for every request here
	// (X-Forwarded-Host, -Proto and -Scheme, X-Scheme).
	upFields []string
	// nginx is what nginx 1.22.1 answered, when not what Weir answers,
	// and why says why Weir differs.
	nginx, why string
}

// Why Weir answers some cases of hostileCorpus otherwise than nginx 1.22.1.
// None lets more reach the upstream than nginx does.
const (
	whyChunked = "chunked framing nginx 1.22 reads leniently (a bare LF, spaces or a tab around the size, a short chunk, " +
		"a NUL or control byte in an extension, a malformed or long trailer, a chunk line over one buffer, 40 leading zeros) is 400 (README)"
	whyCTLValue              = "a control byte in a field value is 400 (README); nginx passes it upstream"
	whyName                  = "a field name that is not a token is 400 (README); nginx drops the line (ignore_invalid_headers) and serves the request"
	whyLengthDigits          = "a Content-Length of more than 18 digits is 400; nginx reads any number of digits below 2^63"
	whyAbsHost               = "an absolute-form target's host is the upstream Host and X-Forwarded-Host, whatever the Host line says (README), as with --http1-server=net; nginx sends the Host line, which may name another host of the same backend than the one that routed and checked the request"
	whyH2CUpgrade            = "an upgrade to h2c alone goes upstream as a plain request without Upgrade (README): nginx sends Upgrade: h2c on and tunnels a 101, after which the client's HTTP/2 requests reach the backend unrouted and unchecked (h2c smuggling)"
	whyCTLBeforeTE           = "a control byte in the value is refused (400) before Transfer-Encoding is read (nginx: 501)"
	whyRequestLine           = "a request line is read with one space between its parts and HTTP/1.x of one digit each (nginx takes more spaces, HTTP/1.10, HTTP/1000.0)"
	whyHTTP09                = "HTTP/0.9 (no version) is 400; nginx answers it without a status line"
	whyH2C                   = "the HTTP port takes h2c with prior knowledge, as ingress-nginx's template writes \"http2 on\" into every server; the nginx 1.22 of the run had http2 on its TLS listener only"
	whyTooLargeCloses        = "a body declared over proxy-body-size gets its 413 and a close; nginx reads and drops the body to keep the connection"
	whyGarbageWaits          = "bytes that cannot start a request line wait for the line's end (or client-header-timeout); nginx answers 400 at the first bad byte"
	whyUpgradeBody           = "a request with a chunked body (or one over 64 KiB) is no upgrade (README): its Upgrade and Connection do not go upstream"
	whyTrailerField          = "Trailer does not go upstream (no chunked body goes with it); nginx passes it"
	whyUserAgentTwice        = "of two User-Agent lines the first goes upstream, as net/http writes it; nginx passes both"
	whyOriginalForwardedHost = "X-Original-Forwarded-Host is set, as ingress-nginx's template does; the nginx.conf of the run lacked that line"
)

// H is the Host line of hostileCorpus's requests.
const H = "Host: app.test\r\n"

// te is the Transfer-Encoding line of hostileCorpus's chunked requests.
const te = "Transfer-Encoding: chunked\r\n"

func get(path, fields string) string { return "GET " + path + " HTTP/1.1\r\n" + H + fields + "\r\n" }

func post(fields, body string) string { return "POST / HTTP/1.1\r\n" + H + fields + "\r\n" + body }

// numbered is n header lines X-0: v, X-1: v, ...
func numbered(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-%d: v\r\n", i)
	}
	return b.String()
}

// TestHostileHTTP1 sends each case of hostileCorpus on its own connection
// (from its own loopback address, which the upstream sees as X-Real-IP)
// and checks the statuses, the close and what reached the upstream; no
// request may reach it unattributed (a request the upstream framed
// differently from Weir).
func TestHostileHTTP1(t *testing.T) {
	up := newRecordingUpstream(t)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("app", up.port) + ingress("app", "app.test", "app"),
	})
	addr := strings.TrimPrefix(w.base, "http://")
	type got struct {
		statuses string
		closes   bool
		err      error
	}
	results := make([]got, len(hostileCorpus))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, tc := range hostileCorpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			st, closes, _, err := hostileExchange(addr, hostileSource(i), tc.raw, tc.want, tc.closes)
			results[i] = got{st, closes, err}
		}()
	}
	wg.Wait()
	for i, tc := range hostileCorpus {
		t.Run(tc.name, func(t *testing.T) {
			r := results[i]
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.statuses != tc.want || r.closes != tc.closes {
				t.Errorf("got statuses %q, closes %v; want %q, closes %v", r.statuses, r.closes, tc.want, tc.closes)
			}
			reqs := up.of(hostileSource(i))
			var lines []string
			for _, rq := range reqs {
				lines = append(lines, rq.line)
			}
			if diff := cmp.Diff(tc.up, lines); diff != "" {
				t.Errorf("upstream requests (-want +got):\n%s", diff)
			}
			if tc.upFields != nil && len(reqs) > 0 {
				if diff := cmp.Diff(tc.upFields, reqs[0].fields); diff != "" {
					t.Errorf("upstream fields (-want +got):\n%s", diff)
				}
			}
			if t.Failed() && tc.nginx != "" {
				t.Logf("nginx 1.22.1 answered %s: %s", tc.nginx, tc.why)
			}
		})
	}
	if stray := up.of(""); len(stray) > 0 {
		t.Errorf("the upstream read requests no client sent (smuggled): %+v", stray)
	}
}

// hostileSource is case i's loopback source address.
func hostileSource(i int) string { return fmt.Sprintf("127.10.%d.%d", i/250, i%250+1) }

// hostileExchange writes raw from src and reads the answers: to the close
// when closes, else until the statuses are want and 200ms more brought
// nothing. It returns the statuses, whether the connection closed, and the
// bytes read.
func hostileExchange(addr, src, raw, want string, closes bool) (statuses string, closed bool, b []byte, err error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "", false, nil, fmt.Errorf("dial from %s: %w", src, err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil && !isReset(err) {
		return "", false, nil, fmt.Errorf("write: %w", err)
	}
	head := strings.HasPrefix(raw, "HEAD ")
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for {
		wait := deadline
		if !closes {
			if st, _ := parseHostileResponses(b, head, false); st == want {
				wait = time.Now().Add(200 * time.Millisecond)
			}
		}
		_ = c.SetReadDeadline(wait)
		n, rerr := c.Read(buf)
		b = append(b, buf[:n]...)
		if rerr != nil {
			if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
				st, _ := parseHostileResponses(b, head, false)
				return st, false, b, nil
			}
			st, _ := parseHostileResponses(b, head, true)
			return st, true, b, nil
		}
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

// parseHostileResponses returns the statuses of the responses in b (the
// first but 1xx to a HEAD request when head), a body without length complete once
// eof; a last response whose body is not all there is "STATUS+".
func parseHostileResponses(b []byte, head, eof bool) (string, bool) {
	var out []string
	finals := 0 // responses but 1xx so far
	for len(b) > 0 {
		if !bytes.HasPrefix(b, []byte("HTTP/1.")) {
			out = append(out, "raw")
			break
		}
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			break
		}
		lines := strings.Split(string(b[:end]), "\r\n")
		b = b[end+4:]
		f := strings.Fields(lines[0])
		if len(f) < 2 {
			out = append(out, "raw")
			break
		}
		code, _ := strconv.Atoi(f[1])
		cl, chunked := -1, false
		for _, l := range lines[1:] {
			k, v, _ := strings.Cut(l, ":")
			switch strings.ToLower(k) {
			case "content-length":
				cl, _ = strconv.Atoi(strings.TrimSpace(v))
			case "transfer-encoding":
				chunked = strings.Contains(strings.ToLower(v), "chunked")
			}
		}
		switch {
		case head && finals == 0, code/100 == 1, code == 204, code == 304:
		case cl >= 0:
			if len(b) < cl {
				return strings.Join(append(out, f[1]+"+"), " "), false
			}
			b = b[cl:]
		case chunked:
			rest, ok := skipChunked(b)
			if !ok {
				return strings.Join(append(out, f[1]+"+"), " "), false
			}
			b = rest
		default:
			if !eof {
				return strings.Join(append(out, f[1]+"+"), " "), false
			}
			b = nil
		}
		out = append(out, f[1])
		if code/100 != 1 {
			finals++
		}
	}
	return strings.Join(out, " "), true
}

// skipChunked returns what follows the chunked body at the start of b.
func skipChunked(b []byte) ([]byte, bool) {
	for {
		i := bytes.Index(b, []byte("\r\n"))
		if i < 0 {
			return nil, false
		}
		size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(string(b[:i]), ";", 2)[0]), 16, 64)
		if err != nil {
			return nil, false
		}
		b = b[i+2:]
		if size == 0 {
			j := bytes.Index(b, []byte("\r\n"))
			for j > 0 { // trailer lines
				b = b[j+2:]
				j = bytes.Index(b, []byte("\r\n"))
			}
			if j < 0 {
				return nil, false
			}
			return b[2:], true
		}
		if int64(len(b)) < size+2 {
			return nil, false
		}
		b = b[size+2:]
	}
}

// recordingUpstream is an HTTP/1.1 upstream that reads each request with
// net/http's ReadRequest, records it under its X-Real-IP ("" for none, or
// for bytes it could not read as a request) and answers 200.
type recordingUpstream struct {
	port int
	mu   sync.Mutex
	reqs map[string][]upstreamRequest
}

type upstreamRequest struct {
	line   string   // METHOD target body-length
	fields []string // as hostileCase.upFields
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{reqs: map[string][]upstreamRequest{}}
	addr, _ := testutil.TCPServer(t, u.serve)
	u.port = portOf(t, addr)
	return u
}

// hostileVarying are the upstream fields upFields leaves out.
var hostileVarying = map[string]bool{"x-request-id": true, "x-forwarded-port": true, "x-real-ip": true, "x-forwarded-for": true,
	"x-forwarded-host: app.test": true, "x-forwarded-proto: http": true, "x-forwarded-scheme: http": true, "x-scheme: http": true}

func (u *recordingUpstream) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		req, err := http.ReadRequest(br)
		if err != nil {
			if rest, _ := br.Peek(br.Buffered()); err != io.EOF && !isClosed(err) {
				u.add("", upstreamRequest{line: fmt.Sprintf("unreadable (%v): %q", err, rest)})
			}
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			u.add("", upstreamRequest{line: fmt.Sprintf("unreadable body of %s %s: %v", req.Method, req.RequestURI, err)})
			return
		}
		fields := []string{"host: " + req.Host}
		if len(req.TransferEncoding) > 0 {
			fields = append(fields, "transfer-encoding: "+strings.Join(req.TransferEncoding, ", "))
		}
		for k, vv := range req.Header {
			name := strings.ToLower(k)
			for _, v := range vv {
				if f := name + ": " + v; !hostileVarying[name] && !hostileVarying[f] {
					fields = append(fields, f)
				}
			}
		}
		slices.Sort(fields)
		u.add(req.Header.Get("X-Real-Ip"), upstreamRequest{line: fmt.Sprintf("%s %s %d", req.Method, req.RequestURI, len(body)), fields: fields})
		answer := "backend " + req.Method + " " + req.RequestURI + "\n"
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(answer), answer)
	}
}

func isClosed(err error) bool {
	return strings.Contains(err.Error(), "use of closed") || strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "i/o timeout")
}

func (u *recordingUpstream) add(ip string, r upstreamRequest) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reqs[ip] = append(u.reqs[ip], r)
}

func (u *recordingUpstream) of(ip string) []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.reqs[ip])
}

// hostileResponse is one case of hostileResponses: what an upstream sends
// for a GET, what a client that pipelined a second GET after it gets from
// Weir and whether Weir closes its connection. nginx and why are as in
// hostileCase.
type hostileResponse struct {
	name       string
	resp       string
	closeAfter bool // the upstream closes the connection after resp
	want       string
	closes     bool
	// lacks, when set, is what the client must not get.
	lacks      string
	nginx, why string
}

// Why Weir answers some cases of hostileResponses otherwise than nginx
// 1.22.1. In none does an upstream's byte reach a client as a response of
// its own; nginx's tunnel after an unasked 101 does that.
const (
	whyUpstreamFraming       = "a response whose length is not one number (two Content-Lengths, a sign, a list) or whose Transfer-Encoding is not chunked is 502; nginx relays it, the body to the close or by its last Content-Length"
	whyUpstreamTab           = "a tab around the Content-Length is trimmed (nginx: no length, the body relayed to the close)"
	whyUpstreamHTTP10Chunked = "an HTTP/1.0 response's Transfer-Encoding is not read (RFC 9112 6.1: the body ends with the close), so the client gets the chunk lines as body; nginx decodes them"
	whyUpstreamChunk         = "a broken chunk ends the response where it broke, the header sent; nginx sends nothing"
	whyUpstreamTrailers      = "the upstream's trailers are relayed but for those that may not be trailers (dropForbiddenTrailers); nginx relays none"
	whyUpstreamStatus        = "a status line that is not HTTP/1.x and three digits from 100 is 502; nginx relays it"
	whyUpstreamInterim       = "an interim 1xx is relayed, then the final response; nginx 1.22 takes the 1xx for the response and relays the rest as its body"
	whyUpstream101           = "a 101 to a request that asked no upgrade is 502; nginx relays it and tunnels, so the upstream's next bytes reach the client raw"
	whyUpstreamField         = "a malformed field line (no colon, a control byte) is 502; nginx relays the response"
)

// TestHostileUpstream sends, for each case of hostileResponses, a GET that
// the upstream answers with the case's bytes, a second GET pipelined after
// it, then a GET on a new connection: the statuses and the close are the
// case's, no byte the upstream sent after its response ("evil!") reaches
// the client, and the new connection's GET gets its own answer (nothing
// was left on a pooled upstream connection).
func TestHostileUpstream(t *testing.T) {
	up := newCannedUpstream(t)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("evil", up) + ingress("evil", "evil.test", "evil"),
	})
	addr := strings.TrimPrefix(w.base, "http://")
	for _, tc := range hostileResponses {
		t.Run(tc.name, func(t *testing.T) {
			raw := "GET /r/" + tc.name + " HTTP/1.1\r\nHost: evil.test\r\n\r\nGET /r/ok HTTP/1.1\r\nHost: evil.test\r\n\r\n"
			st, closes, b, err := hostileExchange(addr, "127.0.0.1", raw, tc.want, tc.closes)
			if err != nil {
				t.Fatal(err)
			}
			if st != tc.want || closes != tc.closes {
				t.Errorf("got statuses %q, closes %v; want %q, closes %v", st, closes, tc.want, tc.closes)
			}
			if bytes.Contains(b, []byte("evil!")) {
				t.Errorf("the upstream's bytes after its response reached the client: %q", b)
			}
			if tc.lacks != "" && bytes.Contains(b, []byte(tc.lacks)) {
				t.Errorf("the client got %q: %q", tc.lacks, b)
			}
			st, _, b, err = hostileExchange(addr, "127.0.0.1", "GET /r/ok HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n", "200", true)
			if err != nil || st != "200" || !bytes.HasSuffix(b, []byte("\r\n\r\nok\n")) {
				t.Errorf("the next request on a new connection: %q %v, want 200 ok", b, err)
			}
			if t.Failed() && tc.nginx != "" {
				t.Logf("nginx 1.22.1 answered %s: %s", tc.nginx, tc.why)
			}
		})
	}
}

// newCannedUpstream starts an upstream that answers GET /r/NAME with the
// resp of hostileResponses' case NAME (else "ok"), closing the connection
// after it when the case says so, and returns its port.
func newCannedUpstream(t *testing.T) int {
	t.Helper()
	cases := map[string]hostileResponse{}
	for _, tc := range hostileResponses {
		cases[tc.name] = tc
	}
	addr, _ := testutil.TCPServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			tc, ok := cases[strings.TrimPrefix(req.URL.Path, "/r/")]
			if !ok {
				tc = cases["ok"]
			}
			if _, err := io.WriteString(c, tc.resp); err != nil || tc.closeAfter {
				return
			}
		}
	})
	return portOf(t, addr)
}
