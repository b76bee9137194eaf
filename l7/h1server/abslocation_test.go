package h1server

import (
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
)

// TestAbsoluteLocationPlace: a Location the handler marks with
// SetAbsoluteLocation is written where nginx's header filter writes the
// Location it made absolute itself (after Content-Length, before
// Transfer-Encoding and Connection), even when SetFieldOrder names it;
// an unmarked Location goes among the other fields, after Connection, as
// nginx relays one.
func TestAbsoluteLocationPlace(t *testing.T) {
	t.Parallel()
	type absoluter interface{ SetAbsoluteLocation() }
	mux := http.NewServeMux()
	redirect := func(mark, chunked bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-A", "1")
			h.Set("Location", "http://a.test/x")
			h.Set("Content-Type", "text/html")
			if mark {
				w.(absoluter).SetAbsoluteLocation()
				w.(interface{ SetFieldOrder([]FieldName) }).SetFieldOrder([]FieldName{{Name: "X-A"}, {Name: "Location"}})
			}
			if chunked {
				h.Set("Transfer-Encoding", "chunked")
			} else {
				h.Set("Content-Length", "3")
			}
			w.WriteHeader(http.StatusMovedPermanently)
			io.WriteString(w, "abc")
		}
	}
	mux.HandleFunc("/marked", redirect(true, false))
	mux.HandleFunc("/marked-chunked", redirect(true, true))
	mux.HandleFunc("/relayed", redirect(false, false))
	addr, _ := startWith(t, nil, &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)})
	for path, want := range map[string][]string{
		"/marked":         {"Content-Type: text/html", "Content-Length: 3", "Location: http://a.test/x", "Connection: close", "X-A: 1"},
		"/marked-chunked": {"Content-Type: text/html", "Location: http://a.test/x", "Transfer-Encoding: chunked", "Connection: close", "X-A: 1"},
		"/relayed":        {"Content-Type: text/html", "Content-Length: 3", "Connection: close", "Location: http://a.test/x", "X-A: 1"},
	} {
		lines := headFields(t, addr, "GET "+path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: head fields\n%s\nwant\n%s", path, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestListedLengthPlace: a 204's "Content-Length: 0" the handler marks
// with SetListedLength is written among the other fields, at its place in
// SetFieldOrder's order, as nginx 1.22.1 wrote the one more_set_headers
// added before ingress-nginx's CORS "return 204" (after the
// Access-Control-* lines); unmarked, after Date, as nginx writes its own.
func TestListedLengthPlace(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	preflight := func(mark bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-B", "2")
			h.Set("X-A", "1")
			h.Set("Content-Length", "0")
			if mark {
				w.(interface{ SetListedLength() }).SetListedLength()
				w.(interface{ SetFieldOrder([]FieldName) }).SetFieldOrder([]FieldName{{Name: "X-B"}, {Name: "X-A"}})
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.HandleFunc("/marked", preflight(true))
	mux.HandleFunc("/unmarked", preflight(false))
	addr, _ := startWith(t, nil, &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)})
	for path, want := range map[string][]string{
		"/marked":   {"Connection: close", "X-B: 2", "X-A: 1", "Content-Length: 0"},
		"/unmarked": {"Content-Length: 0", "Connection: close", "X-A: 1", "X-B: 2"},
	} {
		lines := headFields(t, addr, "OPTIONS "+path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: head fields\n%s\nwant\n%s", path, strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
	}
}

// headFields sends req to addr and returns the response's header lines
// but Date.
func headFields(t *testing.T, addr, req string) []string {
	t.Helper()
	head, _, _ := strings.Cut(string(exchangeAll(t, addr, req)), "\r\n\r\n")
	var lines []string
	for _, l := range strings.Split(head, "\r\n")[1:] {
		if !strings.HasPrefix(l, "Date: ") {
			lines = append(lines, l)
		}
	}
	return lines
}
