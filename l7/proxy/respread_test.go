package proxy

import (
	"github.com/weir-lb/weir/l7/arena"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"

	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// responseOf is what a proxy uses of a response: everything but the body
// reader, and the body read to its end.
type responseOf struct {
	Status           string
	StatusCode       int
	Proto            string
	ProtoMajor       int
	ProtoMinor       int
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Trailer          http.Header
	Body             string
	BodyErr          string
	Rest             string // left in the reader
	Err              string
}

func readWith(read func(*bufio.Reader, *http.Request) (*http.Response, error), raw, method string) responseOf {
	br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
	req := &http.Request{Method: method}
	resp, err := read(br, req)
	if err != nil {
		return responseOf{Err: err.Error()}
	}
	if resp.Request != req {
		return responseOf{Err: "Request not set"}
	}
	body, berr := io.ReadAll(resp.Body)
	got := responseOf{
		Status: resp.Status, StatusCode: resp.StatusCode, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor,
		ProtoMinor: resp.ProtoMinor, Header: resp.Header, ContentLength: resp.ContentLength,
		TransferEncoding: resp.TransferEncoding, Close: resp.Close, Trailer: resp.Trailer, Body: string(body),
	}
	if berr != nil {
		got.BodyErr = berr.Error()
	}
	rest, _ := io.ReadAll(br)
	got.Rest = string(rest)
	return got
}

// fastRead is readResponse with a fastResponse of its own, and whether it
// parsed the response itself.
func fastRead(parsed *bool) func(*bufio.Reader, *http.Request) (*http.Response, error) {
	return func(br *bufio.Reader, req *http.Request) (*http.Response, error) {
		fr := &fastResponse{header: make(http.Header)}
		resp, err := readResponse(br, req, fr)
		*parsed = err == nil && resp == &fr.resp
		fr.fill()
		return resp, err
	}
}

// TestReadResponseAsHTTP pins readResponse to http.ReadResponse: the same
// response, body and errors, whether it parsed the head itself or not.
func TestReadResponseAsHTTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		raw    string
		method string
		fast   bool // parsed by readResponse itself
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, weir!\nNEXT", "GET", true},
		{"no reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"long reason", "HTTP/1.1 503 Service  Unavailable \r\nContent-Length: 1\r\n\r\nx", "GET", true},
		{"lowercase names", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-custom-thing: a\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nok", "GET", true},
		{"odd names", "HTTP/1.1 200 OK\r\nX_Under: 1\r\nx-UPPER: 2\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"blanks trimmed", "HTTP/1.1 200 OK\r\nContent-Length:  3 \t\r\nX-A:\t v \r\nX-Empty:\r\n\r\nabc", "GET", true},
		{"obs text", "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\xff\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"connection close not ascii", "HTTP/1.1 200 OK\r\nConnection: clo\xc5\xbfe\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"connection close-ish", "HTTP/1.1 200 OK\r\nConnection: closed, x close\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"lowercase connection close", "HTTP/1.1 200 OK\r\nconnection: close\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"common names", "HTTP/1.1 200 OK\r\nServer: s\r\nDate: d\r\nLast-Modified: m\r\nETag: \"e\"\r\nEtag: \"f\"\r\nCache-Control: no-cache\r\nKeep-Alive: timeout=5\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"lowercase chunked", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "GET", false},
		{"length and lowercase trailer", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\ntrailer: X-T\r\n\r\n", "GET", false},
		{"lowercase pragma", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\npragma: no-cache\r\n\r\n", "GET", false},
		{"two lengths, one lowercase", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc", "GET", false},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "GET", true},
		{"post", "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", "POST", true},
		{"interim", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", "GET", false},
		{"not modified", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", "GET", false},
		{"head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "GET", false},
		{"trailer", "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n", "GET", false},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nall of it", "GET", false},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "GET", false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc", "GET", false},
		{"empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\nabc", "GET", false},
		{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"http 1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"bare lf", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", "GET", false},
		{"bare lf in a field", "HTTP/1.1 200 OK\r\nX-A: a\nb\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"bare lf in the status line", "HTTP/1.1 200 O\nK\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"bare cr in a field", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", "GET", false},
		// Names repeated within the first 16 fields (compared with the
		// ones before) and after them (looked up).
		{"repeats", "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 1\r\nx-a: 2\r\n" + strings.Repeat("X-C: 3\r\n", 14) + "X-B: 2\r\nX-D: 4\r\nX-A: 3\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"lf first", "HTTP/1.1 200 OK\r\n\nX-A: a\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"control in value", "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"bad status", "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"tab in status line", "HTTP/1.1 200 O\tK\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"del in status line", "HTTP/1.1 200 O\x7fK\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"nul in status line", "HTTP/1.1 200 OK\x00\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"tabs in a long value", "HTTP/1.1 200 OK\r\nX-A: a\tbcdefghijkl\tmnopqrstuvw\t\r\nContent-Length: 0\r\n\r\n", "GET", true},
		{"del in a long value", "HTTP/1.1 200 OK\r\nX-A: abcdefghijkl\x7fmnopqrstuvw\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"cr before crlf", "HTTP/1.1 200 OK\r\nX-A: a\r\r\nContent-Length: 0\r\n\r\n", "GET", false},
		{"control after a known name", "HTTP/1.1 200 OK\r\nDate:\x01a\r\nContent-Length: 0\r\n\r\n", "GET", false},
		// More lines than headEnd notes the ends of: the rest cut by
		// their CR.
		{"many lines", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: a\tb\r\nDate: d\r\n", 24) + "Content-Length: 2\r\nX-B: c\r\n\r\nok", "GET", true},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", "GET", false},
		{"head cut", "HTTP/1.1 200 OK\r\nContent-Le", "GET", false},
		{"nothing", "", "GET", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var parsed bool
			got := readWith(fastRead(&parsed), tc.raw, tc.method)
			if strings.HasPrefix(got.Err, errInvalidHeader.Error()) {
				t.Fatalf("refused as nginx refuses it: %s", got.Err)
			}
			want := readWith(http.ReadResponse, tc.raw, tc.method)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("readResponse differs from http.ReadResponse (-want +got):\n%s", diff)
			}
			if parsed != tc.fast {
				t.Errorf("parsed by readResponse itself: %v, want %v", parsed, tc.fast)
			}
		})
	}
}

// TestReadResponseRefusesAsNginx: the heads nginx's upstream parser
// refuses (ngx_http_parse_header_line's NGX_HTTP_PARSE_INVALID_HEADER, a
// 502) are errInvalidHeader, which http.ReadResponse would have read: a
// folded line joined to the one before, a name with a space kept (and
// dropped when Weir wrote it to the client). So is a status below 100,
// which would have been relayed as an interim response.
func TestReadResponseRefusesAsNginx(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\nBad Header: x\nContent-Length: 0\n\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nok",
	} {
		got := readWith(fastRead(new(bool)), raw, "GET")
		if got.Err == "" && got.StatusCode == 100 {
			got = responseOf{}
			br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
			req := &http.Request{Method: "GET"}
			fr := &fastResponse{header: make(http.Header)}
			if _, err := readResponse(br, req, fr); err != nil {
				t.Fatalf("%q: the 100: %v", raw, err)
			}
			if _, err := readResponse(br, req, fr); err != nil {
				got.Err = err.Error()
			}
		}
		if !strings.HasPrefix(got.Err, errInvalidHeader.Error()) {
			t.Errorf("%q: got %+v, want %v", raw, got, errInvalidHeader)
		}
		if want := readWith(http.ReadResponse, raw, "GET"); want.Err != "" {
			t.Errorf("%q: http.ReadResponse refuses it too (%s): the case tests nothing", raw, want.Err)
		}
	}
}

// FuzzReadResponse checks readResponse against http.ReadResponse on
// arbitrary responses, but for those nginx refuses (errInvalidHeader).
func FuzzReadResponse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, weir!\n", "GET")
	f.Add("HTTP/1.1 200 OK\r\nConnection: close\r\nx-a: 1\r\nContent-Length: 1\r\n\r\nab", "POST")
	f.Add("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 OK\r\n\r\n", "GET")
	f.Add("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 1\r\n\r\na", "GET")
	f.Add("HTTP/1.1 200 OK\r\nconnection: x-a\r\nx-a: 1\r\nContent-Length: 1\r\n\r\na", "GET")
	f.Add("HTTP/1.1 200 OK\r\nproxy-authenticate: b\r\nupgrade: c\r\nContent-Length: 1\r\n\r\na", "GET")
	f.Fuzz(func(t *testing.T, raw, method string) {
		var parsed bool
		got := readWith(fastRead(&parsed), raw, method)
		if strings.HasPrefix(got.Err, errInvalidHeader.Error()) {
			return
		}
		want := readWith(http.ReadResponse, raw, method)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("readResponse of %q differs from http.ReadResponse (-want +got):\n%s", raw, diff)
		}
		// A parse that noted no hop-by-hop field leaves removeResponseHops
		// nothing to remove (relay skips it), for either client.
		fr := &fastResponse{header: make(http.Header)}
		resp, err := readResponse(bufio.NewReaderSize(strings.NewReader(raw), 4096), &http.Request{Method: method}, fr)
		if err == nil && resp == &fr.resp && fr.listed {
			checkListed(t, raw, fr)
		}
		fr.fill()
		if err == nil && resp == &fr.resp && fr.noHop {
			for _, h2 := range []bool{false, true} {
				h := resp.Header.Clone()
				removeResponseHops(h, h2)
				if len(h) != len(resp.Header) {
					t.Fatalf("noHop, but removeResponseHops (h2 %v) removes from %v", h2, resp.Header)
				}
			}
		}
	})
}

// checkListed fails t unless the header map of fr, a response its parse
// listed, is empty until fill, and unless relayFields then relays fr as
// relayHeader relays its header: the same fields, values and
// Content-Type; and unless the fields it reports held (heldFields) are
// those the header holds.
func checkListed(t testing.TB, raw string, fr *fastResponse) {
	t.Helper()
	if len(fr.resp.Header) != 0 {
		t.Fatalf("%q: listed, but its header map was filled: %v", raw, fr.resp.Header)
	}
	fr.fill()
	want, got := make(http.Header), make(http.Header)
	wantCT := relayHeader(want, fr.resp.Header, true)
	gotCT, held := relayFields(got, fr.order, fr.vals)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%q: relayFields differs from relayHeader (-want +got):\n%s", raw, diff)
	}
	if diff := cmp.Diff(wantCT, gotCT); diff != "" {
		t.Fatalf("%q: relayFields' Content-Type differs from relayHeader's (-want +got):\n%s", raw, diff)
	}
	if diff := cmp.Diff(want["Content-Type"], gotCT); diff != "" {
		t.Fatalf("%q: relayFields' Content-Type is not the header's (-want +got):\n%s", raw, diff)
	}
	if held&heldKnown == 0 {
		t.Fatalf("%q: relayFields reports nothing known", raw)
	}
	for k, bit := range map[string]heldFields{"Date": 0, "Server": heldServer, "Location": heldLocation, "Refresh": heldRefresh, "Set-Cookie": heldSetCookie} {
		if _, has := got[k]; has != (held&bit != 0) {
			t.Fatalf("%q: %s in the header %v, held %v", raw, k, has, held&bit != 0)
		}
	}
}

// TestReadResponseListed: the parse lists a head of distinct names, no
// hop-by-hop field and a Content-Length as it is relayed, so that relay
// walks its lines (relayFields) as relayHeader would walk its map; a head
// with a name twice, a length written with leading zeros (relayed without
// them), a Connection (deleted on a close) or more than maxScannedNames
// lines is not listed: relay walks the map.
func TestReadResponseListed(t *testing.T) {
	t.Parallel()
	many := strings.Repeat("X-A: 1\r\n", maxScannedNames)
	for _, tc := range []struct {
		fields string
		want   bool
	}{
		{"Content-Type: a\r\nDate: b\r\nContent-Length: 1\r\n", true},
		{"content-type: a\r\nserver: s\r\nX-Pad: p\r\nx-y: 1\r\nContent-Length: 1\r\n", true},
		{"Location: /a\r\nRefresh: 1; url=/b\r\nset-cookie: c=1\r\nDate: d\r\nContent-Length: 1\r\n", true},
		{"Content-Length: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n", false},
		{"Content-Length: 1\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\n", false},
		{"Content-Length: 0001\r\nContent-Type: a\r\n", false},
		{"Connection: close\r\nContent-Length: 1\r\n", false},
		{"Content-Length: 1\r\n" + many, false},
	} {
		fr := &fastResponse{header: make(http.Header)}
		raw := "HTTP/1.1 200 OK\r\n" + tc.fields + "\r\na"
		resp, err := readResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: "GET"}, fr)
		if err != nil || resp != &fr.resp {
			t.Fatalf("%q: not parsed by readResponse: %v", tc.fields, err)
		}
		if fr.listed != tc.want {
			t.Errorf("%q: listed %v, want %v", tc.fields, fr.listed, tc.want)
		}
		if tc.want {
			checkListed(t, raw, fr)
			continue
		}
		// Not listed: its lines would relay otherwise than its map.
		want, got := make(http.Header), make(http.Header)
		relayHeader(want, resp.Header, true)
		_, _ = relayFields(got, fr.order, fr.vals)
		if cmp.Equal(want, got) {
			t.Errorf("%q: not listed, but its lines relay as its map: the case tests nothing", tc.fields)
		}
	}
}

// BenchmarkRelayHead measures what the proxy does with an upstream's
// response head on the keep-alive path before the client's head is
// written: read it (readResponse), remove the hop-by-hop fields, relay the
// fields into the client's header map and ask whether the body is
// streamed; then both maps are cleared for the next request, as the pools
// do.
//
//	go test ./l7/proxy -run '^$' -bench RelayHead -benchmem
func BenchmarkRelayHead(b *testing.B) {
	raw := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nDate: Sun, 06 Dec 2026 06:42:54 GMT\r\n\r\nhello, weir!\n")
	src := bytes.NewReader(raw)
	br := bufio.NewReaderSize(src, 4096)
	req := &http.Request{Method: http.MethodGet}
	fr := fastResponses.New().(*fastResponse)
	dst := make(http.Header)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(raw)
		br.Reset(src)
		resp, err := readResponse(br, req, fr)
		if err != nil || resp != &fr.resp {
			b.Fatalf("not parsed by readResponse: %v", err)
		}
		if !fr.noHop {
			removeResponseHops(resp.Header, false)
		}
		// Listed: relay's choice.
		ct, _ := relayFields(dst, fr.order, fr.vals)
		if !fr.listed || flushesEachWrite(ct, resp.ContentLength) || len(dst) != 2 || len(ct) != 1 || ct[0] != "text/plain" { // Date not relayed
			b.Fatalf("relayed %v", dst)
		}
		clear(dst)
		fr.reset()
	}
}

// TestFieldNameAllocates nothing for a name not canonical, long or short:
// plainField canonicalises it into the arena.
func TestFieldNameAllocates(t *testing.T) {
	a := arena.Get()
	defer arena.Put(a)
	for _, name := range []string{"x-powered-by", "access-control-allow-origin-and-more-than-32", "X-Ok"} {
		l := []byte(name + ": v")
		plainField(l, a) // the arena's chunk
		if n := testing.AllocsPerRun(100, func() { plainField(l, a) }); n > 0.05 {
			t.Errorf("plainField(%q): %v allocations", l, n)
		}
		want := http.CanonicalHeaderKey(name)
		if colon, got, asSent := plainField(l, a); colon != len(name) || got != want || asSent != (want == name) {
			t.Errorf("plainField(%q) = %d, %q, %v, want %d, %q, %v", l, colon, got, asSent, len(name), want, want == name)
		}
	}
}

// TestReadResponseOrder: the parse notes each field's name in the order
// the fields came, with the name as sent where it is not canonical.
func TestReadResponseOrder(t *testing.T) {
	t.Parallel()
	raw := "HTTP/1.1 200 OK\r\nDate: d\r\nx-a: 1\r\nX-B: 2\r\ncontent-type: t\r\nX-B: 3\r\nContent-Length: 0\r\n\r\n"
	fr := &fastResponse{header: make(http.Header)}
	resp, err := readResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: "GET"}, fr)
	if err != nil || resp != &fr.resp {
		t.Fatalf("not parsed by readResponse: %v", err)
	}
	want := []h1server.FieldName{{Name: "Date"}, {Name: "X-A", Wire: "x-a"}, {Name: "X-B"},
		{Name: "Content-Type", Wire: "content-type"}, {Name: "X-B"}, {Name: "Content-Length"}}
	if diff := cmp.Diff(want, fr.order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// TestReadResponseNoHop: the parse notes whether the head has a hop-by-hop
// field, in any case of its name.
func TestReadResponseNoHop(t *testing.T) {
	t.Parallel()
	for fields, want := range map[string]bool{
		"Content-Type: a\r\nDate: b\r\n": true,
		"Keep-Alive: timeout=5\r\n":      false,
		"connection: x-a\r\nx-a: 1\r\n":  false,
		"Connection: close\r\n":          false,
		"te: x\r\n":                      false,
		"Proxy-Connection: x\r\n":        false,
		"Upgrade: x\r\n":                 false,
		"X-Upgrade: x\r\n":               true,
	} {
		fr := &fastResponse{header: make(http.Header)}
		raw := "HTTP/1.1 200 OK\r\n" + fields + "Content-Length: 1\r\n\r\na"
		resp, err := readResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: "GET"}, fr)
		if err != nil || resp != &fr.resp {
			t.Fatalf("%q: not parsed by readResponse: %v", fields, err)
		}
		if fr.noHop != want {
			t.Errorf("%q: noHop %v, want %v", fields, fr.noHop, want)
		}
	}
}

// TestHeadEnd: headEnd finds the head bytes.Index(buf, "\r\n\r\n") found
// (readResponse's search before it), counts its field lines as
// bytes.Count did and notes where each line's CR is, for every buffer of
// up to 9 bytes of 'a', tab, CR and LF; where it finds none, the head that
// search found, if any, is one parse refuses (a bare LF or CR, or no
// status line).
func TestHeadEnd(t *testing.T) {
	t.Parallel()
	alphabet := []byte{'a', '\t', '\r', '\n'}
	buf := make([]byte, 0, 9)
	var ends [maxLineEnds]int32
	var walk func()
	walk = func() {
		end, fields := headEnd(buf, &ends)
		old := bytes.Index(buf, []byte("\r\n\r\n"))
		switch {
		case end >= 0:
			_, rest, _ := bytes.Cut(buf[:end], []byte("\n"))
			if old+2 != end || bytes.Count(rest, []byte("\n")) != fields {
				t.Fatalf("headEnd(%q) = %d, %d; bytes.Index %d", buf, end, fields, old)
			}
			for k, p := 0, 0; p < end; k++ {
				cr := p + bytes.IndexByte(buf[p:], '\r')
				if int(ends[k]) != cr {
					t.Fatalf("headEnd(%q): line %d ends at %d, want %d", buf, k, ends[k], cr)
				}
				p = cr + 2
			}
		case old >= 0:
			head := buf[:old+2]
			bare := head[0] == '\r' && head[1] == '\n'
			for i, c := range head {
				if c == '\n' && (i == 0 || head[i-1] != '\r') || c == '\r' && head[i+1] != '\n' {
					bare = true
				}
			}
			if !bare {
				t.Fatalf("headEnd(%q) found no head; bytes.Index %d", buf, old)
			}
		}
		if len(buf) == cap(buf) {
			return
		}
		for _, c := range alphabet {
			buf = append(buf, c)
			walk()
			buf = buf[:len(buf)-1]
		}
	}
	walk()
}

// TestHeadEndBytes: headEnd finds the heads that IndexByte for each LF
// and a check of each line's bytes found (what readResponse's search and
// parse took before headEnd's one pass): lines of a field's bytes (no
// control byte but tab, no DEL) each ending in CRLF. Each byte value at
// each place of a line of 1 to 24 bytes (headEnd's eight-at-a-time test
// and the bytes after the last whole word), with the head whole and cut.
func TestHeadEndBytes(t *testing.T) {
	t.Parallel()
	want := func(buf []byte) (int, int) {
		for p, fields := 0, 0; ; fields++ {
			i := bytes.IndexByte(buf[p:], '\n')
			if i < 1 || buf[p+i-1] != '\r' {
				return -1, 0
			}
			for _, c := range buf[p : p+i-1] {
				if c != '\t' && (c < 0x20 || c == 0x7f) {
					return -1, 0
				}
			}
			if i == 1 {
				if p == 0 {
					return -1, 0
				}
				return p, fields - 1
			}
			p += i + 1
		}
	}
	var ends [maxLineEnds]int32
	for n := 1; n <= 24; n++ {
		for _, head := range []string{"", "HTTP/1.1 200 OK\r\n"} {
			buf := append([]byte(head), bytes.Repeat([]byte{'a'}, n)...)
			buf = append(buf, "\r\nX: y\r\n\r\nbody"...)
			line := buf[len(head) : len(head)+n]
			for i := range line {
				for c := range 256 {
					line[i] = byte(c)
					for _, b := range [][]byte{buf, buf[:len(buf)-6]} {
						end, fields := headEnd(b, &ends)
						if wantEnd, wantFields := want(b); end != wantEnd || fields != wantFields {
							t.Fatalf("headEnd(%q) = %d, %d, want %d, %d", b, end, fields, wantEnd, wantFields)
						}
					}
				}
				line[i] = 'a'
			}
		}
	}
}

// TestKnownNames: every name knownName knows, which plainField does not
// check byte by byte, is a valid token and its own canonical form; another
// spelling of it is not known.
func TestKnownNames(t *testing.T) {
	t.Parallel()
	names := []string{"Content-Length", "Content-Type", "Date", "Server", "Connection", "Last-Modified", "Etag", "Cache-Control", "Keep-Alive"}
	for _, n := range names {
		got, ok := knownName([]byte(n))
		if !ok || got != n || !h1guard.ValidFieldName(n) || http.CanonicalHeaderKey(n) != n {
			t.Errorf("knownName(%q) = %q, %v; a token: %v", n, got, ok, h1guard.ValidFieldName(n))
		}
		for _, other := range []string{strings.ToLower(n), n + " ", n[:len(n)-1]} {
			if got, ok := knownName([]byte(other)); ok {
				t.Errorf("knownName(%q) = %q, true", other, got)
			}
		}
	}
}
