package h1server

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// TestRecycleKeepsNothing: a conn that ended after a Connection: close
// answer is kept for the next connection (recycle) with nothing of the
// connection it served: every field is zero but those meant to be reused
// (the Server, the maps and slices, emptied, the background-read timer
// and the idle-wait func), so that a field added later and not reset
// fails here. The next connection on the recycled conn is served as a
// new one.
func TestRecycleKeepsNothing(t *testing.T) {
	addr, s := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Path", r.URL.Path)
		w.Header().Add("Trailer", "X-T")
		io.WriteString(w, r.RemoteAddr+" "+r.Header.Get("X-Secret"))
		w.Header().Set("X-T", "t")
	}))
	rs := testutil.RawExchange(t, addr, "GET /one HTTP/1.1\r\nHost: a\r\nX-Secret: first\r\nConnection: close\r\n\r\n")
	if len(rs) != 1 || !strings.HasSuffix(rs[0].Body, " first") {
		t.Fatalf("first connection: got %+v", rs)
	}
	var c *conn
	testutil.WaitFor(t, 5*time.Second, "the ended conn kept for the next connection", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.free) == 1 {
			c = s.free[0]
		}
		return c != nil
	})
	s.mu.Lock() // newConn takes it from s.free under s.mu
	checkRecycled(t, c)
	s.mu.Unlock()

	rs = testutil.RawExchange(t, addr, "GET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if len(rs) != 1 || strings.Contains(rs[0].Body, "first") || rs[0].Header.Get("X-Path") != "/two" {
		t.Fatalf("second connection, on the recycled conn: got %+v", rs)
	}
	testutil.WaitFor(t, 5*time.Second, "the same conn kept again after the second connection", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.free) == 1 && s.free[0] == c
	})
}

// checkRecycled fails t unless c, recycled, holds nothing but what it
// reuses, emptied.
func checkRecycled(t *testing.T, c *conn) {
	t.Helper()
	reused := map[string]bool{"srv": true, "header": true, "resp": true, "body": true, "idle": true,
		"parser": true, "bgRead": true, "bgTimer": true, "bgDone": true, "bgByte": true}
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if !reused[name] && !v.Field(i).IsZero() {
			t.Errorf("recycled conn: field %s is not zero", name)
		}
	}
	if len(c.header) != 0 || len(c.resp.header) != 0 {
		t.Errorf("recycled conn: header maps %v and %v, want empty", c.header, c.resp.header)
	}
	w := reflect.ValueOf(&c.resp).Elem()
	for i := range w.NumField() {
		switch name := w.Type().Field(i).Name; name {
		case "c", "header":
		case "keys", "trailers":
			f := w.Field(i)
			if f.Len() != 0 || !allZero(f.Slice(0, f.Cap())) {
				t.Errorf("recycled conn: response %s %v, want empty and cleared", name, f.Slice(0, f.Cap()))
			}
		default:
			if !w.Field(i).IsZero() {
				t.Errorf("recycled conn: response field %s is not zero", name)
			}
		}
	}
	if c.resp.c != c || c.body != (body{c: c}) {
		t.Errorf("recycled conn: its response and body no longer point to it")
	}
	if c.idle.raw != nil || c.idle.first != nil || c.idle.firstErr != nil || c.idle.polled || c.idle.tlsProbe || len(c.idle.buffered) != 0 {
		t.Errorf("recycled conn: idle wait %+v, want only its func kept", c.idle)
	}
}

// allZero reports whether every element of the slice v is zero.
func allZero(v reflect.Value) bool {
	for i := range v.Len() {
		if !v.Index(i).IsZero() {
			return false
		}
	}
	return true
}
