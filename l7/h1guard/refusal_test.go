package h1guard

import (
	"bytes"
	"strings"
	"testing"
)

// TestRefusalParse checks what Parse takes of a refused head: nginx's
// $request, $request_length and the header lines it took (the figures of
// nginx 1.22.1, l7/proxy's TestRefusedAccessLog).
func TestRefusalParse(t *testing.T) {
	t.Parallel()
	long := "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n"
	for _, tc := range []struct {
		name, head string
		line       string
		parsed     bool
		length     int64
		fields     string // name=value, comma-separated
		host       string
	}{
		{"request line", "GARBAGE\r\n\r\n", "GARBAGE", false, 0, "", ""},
		{"empty lines first", "\r\n\r\nGARBAGE\r\n", "GARBAGE", false, 0, "", ""},
		{"only empty lines", "\r\n", "", false, 0, "", ""},
		{"line cut", "GET /p HT", "GET /p HT", false, 0, "", ""},
		{"414", long, long[:8192], false, 0, "", ""},
		{"505", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", "GET / HTTP/2.0", false, 0, "", ""},
		{"path refused", "GET /../x HTTP/1.1\r\nHost: a\r\n\r\n", "GET /../x HTTP/1.1", true, 20, "", ""},
		{"absolute target refused", "GET http://a_b/ HTTP/1.1\r\nHost: a\r\n\r\n", "GET http://a_b/ HTTP/1.1", false, 0, "", ""},
		{"header line", "GET /p HTTP/1.1\r\nHost: a\r\nUser-Agent:  ua \r\nX: \x00\r\nY: y\r\n\r\n", "GET /p HTTP/1.1", true, 44, "Host=a,User-Agent=ua", "a"},
		{"bare LF", "GET /p HTTP/1.1\nHost: a\nX: \x00\n\n", "GET /p HTTP/1.1", true, 24, "Host=a", "a"},
		{"second Host taken", "GET /p HTTP/1.1\r\nHost: a\r\nHost: b\r\nX: x\r\n\r\n", "GET /p HTTP/1.1", true, 35, "Host=a,Host=b", "a"},
		{"second Authorization taken", "GET /p HTTP/1.1\r\nHost: a\r\nAuthorization: x\r\nAuthorization: y\r\nX: x\r\n\r\n", "GET /p HTTP/1.1", true, 62, "Host=a,Authorization=x,Authorization=y", "a"},
		{"field over max_headers taken", "GET /p HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: v\r\n", 1001) + "\r\n", "GET /p HTTP/1.1", true, 6026, "Host=a" + strings.Repeat(",X=v", 1000), "a"},
		{"invalid Host taken", "GET /p HTTP/1.1\r\nHost: a/b\r\nX: x\r\n\r\n", "GET /p HTTP/1.1", true, 28, "Host=a/b", ""},
		{"rule at the end", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\nbody", "POST /p HTTP/1.1", true, 48, "Host=a,Content-Length=x", "a"},
		{"head not finished", "GET /p HTTP/1.1\r\nHost: a\r\nUser-Ag", "GET /p HTTP/1.1", true, 26, "Host=a", "a"},
		{"head whole", "GET /p HTTP/1.0\r\n\r\n", "GET /p HTTP/1.0", true, 19, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := (&Refusal{Head: []byte(tc.head)}).Parse(Limits{})
			var fields []string
			for _, f := range h.Fields {
				fields = append(fields, string(f.Name)+"="+string(f.Value))
			}
			if string(h.Line) != tc.line || h.Parsed != tc.parsed || h.Length != tc.length ||
				strings.Join(fields, ",") != tc.fields || string(h.Host) != tc.host {
				t.Errorf("Parse = line %.40q parsed %v length %d fields %q host %q; want %.40q %v %d %q %q",
					h.Line, h.Parsed, h.Length, strings.Join(fields, ","), h.Host, tc.line, tc.parsed, tc.length, tc.fields, tc.host)
			}
		})
	}
}

// TestRefusalAnswered checks the bytes of an answer counted: all of it,
// and its body those after the head.
func TestRefusalAnswered(t *testing.T) {
	t.Parallel()
	p := []byte("HTTP/1.1 400 Bad Request\r\nA: b\r\n\r\n<html>")
	for _, tc := range []struct {
		n          int
		sent, body int64
	}{{len(p), int64(len(p)), 6}, {10, 10, 0}, {0, 0, 0}} {
		var r Refusal
		r.Answered(p, tc.n)
		if r.Sent != tc.sent || r.BodySent != tc.body {
			t.Errorf("Answered(%d): sent %d body %d, want %d %d", tc.n, r.Sent, r.BodySent, tc.sent, tc.body)
		}
	}
}

// FuzzRefusalParse feeds Parse any head a client can send, under the
// default and small buffers: it must not panic (a refusal's log line is
// made from hostile bytes), and what it returns lies within the head: the
// line, the length, each field a name before its colon.
func FuzzRefusalParse(f *testing.F) {
	for _, s := range []string{
		"GARBAGE\r\n\r\n", "\r\n\r\nGET /p HT", "GET /../x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a_b/ HTTP/1.1\r\n", "GET /p HTTP/1.1\nHost: a\nX: \x00\n\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: x\r\n\r\nbody",
		"CONNECT a:443 HTTP/1.1\r\n\r\n", "GET / HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, head []byte, small bool) {
		lim := Limits{}
		if small {
			lim = Limits{BufferSize: 32, Buffers: 2}
		}
		h := (&Refusal{Head: head}).Parse(lim)
		if h.Length < 0 || h.Length > int64(len(head)) {
			t.Fatalf("length %d of a %d-byte head", h.Length, len(head))
		}
		if len(h.Line) > len(head) || !bytes.Contains(head, h.Line) {
			t.Fatalf("line %q not in the head", h.Line)
		}
		if !h.Parsed && (h.Method != nil || h.Length != 0 || len(h.Fields) != 0) {
			t.Fatalf("unparsed line with method %q, length %d, %d fields", h.Method, h.Length, len(h.Fields))
		}
		for _, fl := range h.Fields {
			if len(fl.Name) == 0 || bytes.IndexByte(fl.Name, ':') >= 0 {
				t.Fatalf("field name %q", fl.Name)
			}
		}
	})
}
