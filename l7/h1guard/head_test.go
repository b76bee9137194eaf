package h1guard

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// TestParseHeadAllocates nothing: the Head is offsets into the caller's
// buffer.
func TestParseHeadAllocates(t *testing.T) {
	b := []byte("POST http://h/p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: keep-alive, Upgrade\r\nUpgrade: x\r\nX-A: " + strings.Repeat("v", 100) + "\r\n\r\nabc")
	var h Head
	allocs := testing.AllocsPerRun(100, func() {
		h, _, _ = ParseHead(b, Limits{})
	})
	if allocs != 0 {
		t.Errorf("ParseHead allocates %v times, want 0", allocs)
	}
	if string(h.Method.Of(b)) != "POST" || string(h.Target.Of(b)) != "http://h/p?q" || string(h.Host.Of(b)) != "h" ||
		h.ContentLength != 3 || !h.Upgrade || h.Fields != 5 || string(b[h.End:]) != "abc" {
		t.Errorf("parsed %+v", h)
	}
}

// FuzzCanonical holds IsCanonical and AppendCanonical to
// http.CanonicalHeaderKey.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"", "Host", "host", "sec-ch-ua", "X-A B", "x-ü", "ACCEPT", "-a-", "a--b", "X_y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		want := http.CanonicalHeaderKey(name)
		if got := IsCanonical(name); got != (want == name) {
			t.Errorf("IsCanonical(%q) = %v, CanonicalHeaderKey gives %q", name, got, want)
		}
		if ValidFieldName(name) && IsCanonicalToken(name) != (want == name) {
			t.Errorf("IsCanonicalToken(%q) = %v, CanonicalHeaderKey gives %q", name, !(want == name), want)
		}
		if got := string(AppendCanonical([]byte("x"), name)); got != "x"+want {
			t.Errorf("AppendCanonical(%q) = %q, want %q", name, got[1:], want)
		}
	})
}

// TestUpgradeWithoutConnectionToken: an Upgrade header alone makes the head
// an upgrade, whatever Connection says: nginx forwards it with Connection:
// upgrade (ingress-nginx's $connection_upgrade map reads $http_upgrade
// alone) and tunnels once the upstream answers 101 (the request had an
// Upgrade header), so what follows the head may not be HTTP/1.
func TestUpgradeWithoutConnectionToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, fields string
		want         bool
	}{
		{"connection upgrade", "Connection: Upgrade\r\nUpgrade: websocket\r\n", true},
		{"no connection", "Upgrade: websocket\r\n", true},
		{"connection keep-alive", "Connection: keep-alive\r\nUpgrade: websocket\r\n", true},
		{"connection close", "Connection: close\r\nUpgrade: websocket\r\n", true},
		{"empty upgrade", "Connection: Upgrade\r\nUpgrade: \r\n", false},
		{"no upgrade", "Connection: Upgrade\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := []byte("GET /ws HTTP/1.1\r\nHost: h\r\n" + tc.fields + "\r\n")
			h, done, err := ParseHead(b, Limits{})
			if err != nil || !done {
				t.Fatalf("ParseHead: done %v, %v", done, err)
			}
			if h.Upgrade != tc.want {
				t.Errorf("Upgrade = %v, want %v", h.Upgrade, tc.want)
			}
		})
	}
}

// TestTokenBytes: isTokenByte is RFC 9110's tchar, byte for byte: ALPHA,
// DIGIT and "!#$%&'*+-.^_`|~", nothing else (no control, space, separator
// or byte over 0x7f).
func TestTokenBytes(t *testing.T) {
	t.Parallel()
	for c := 0; c < 256; c++ {
		b := byte(c)
		want := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
		if got := isTokenByte(b); got != want {
			t.Errorf("isTokenByte(%#x) = %v, want %v", b, got, want)
		}
	}
}

// TestValidFieldValue: ValidFieldValue, which tests eight bytes at a time,
// answers as the byte loop (no control byte but tab) for every byte value
// at each position of values of every length to 24, amid plain and high
// bytes, and for two bad bytes in one word.
func TestValidFieldValue(t *testing.T) {
	t.Parallel()
	slow := func(v []byte) bool {
		for _, c := range v {
			if isCTL(c) && c != '\t' {
				return false
			}
		}
		return true
	}
	for n := 1; n <= 24; n++ {
		for pos := range n {
			for c := range 256 {
				v := []byte(strings.Repeat("a\xff ~", n)[:n])
				v[pos] = byte(c)
				if got, want := ValidFieldValue(v), slow(v); got != want {
					t.Fatalf("ValidFieldValue(%q) = %v, want %v", v, got, want)
				}
				if got := ValidFieldValue(string(v)); got != slow(v) {
					t.Fatalf("ValidFieldValue(string %q) = %v", v, got)
				}
			}
		}
	}
	for _, v := range []string{"", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", "\x00\x7f abcdef", "abc\tdef\tghi", "\x80\x81\x9f\xa0\xfe\xff\x20\x7e"} {
		if got, want := ValidFieldValue(v), slow([]byte(v)); got != want {
			t.Errorf("ValidFieldValue(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestValidHostTable: validHost, with its table's shortcut, answers as
// validHostFull (the one loop every host took before) for every host of
// up to two bytes, every one of up to four over the bytes its classes and
// switch tell apart, and random ones of up to 24.
func TestValidHostTable(t *testing.T) {
	t.Parallel()
	check := func(h []byte) {
		if got, want := validHost(h), validHostFull(h); got != want {
			t.Fatalf("validHost(%q) = %v, validHostFull %v", h, got, want)
		}
	}
	check(nil)
	for a := range 256 {
		check([]byte{byte(a)})
		for b := range 256 {
			check([]byte{byte(a), byte(b)})
		}
	}
	alphabet := []byte("aZ9-_.:[]/ \t\x00\x7f\x80\xff")
	var rec func(h []byte)
	rec = func(h []byte) {
		check(h)
		if len(h) == 4 {
			return
		}
		for _, c := range alphabet {
			rec(append(h, c))
		}
	}
	rec(nil)
	rng := rand.New(rand.NewPCG(1, 2))
	hostish := []byte("abcxyz0129-.._:[]")
	for range 100000 {
		h := make([]byte, rng.IntN(25))
		for i := range h {
			h[i] = hostish[rng.IntN(len(hostish))]
		}
		check(h)
	}
}

// TestCheckPathShortcut: checkPath, with its loop for a path without a dot
// or a '%' before its query, answers as checkSegments (the loops every
// path took before) for every path of up to six bytes over the bytes that
// tell its cases apart, and random ones of up to 24.
func TestCheckPathShortcut(t *testing.T) {
	t.Parallel()
	check := func(p []byte) {
		if got, want := checkPath(p), checkSegments(p); got != want {
			t.Fatalf("checkPath(%q) = %v, checkSegments %v", p, got, want)
		}
	}
	alphabet := []byte("/.%02ea?")
	var rec func(p []byte)
	rec = func(p []byte) {
		check(p)
		if len(p) == 6 {
			return
		}
		for _, c := range alphabet {
			rec(append(p, c))
		}
	}
	rec(nil)
	rng := rand.New(rand.NewPCG(3, 4))
	pathish := []byte("/./%002eEfF?ab")
	for range 100000 {
		p := make([]byte, rng.IntN(25))
		for i := range p {
			p[i] = pathish[rng.IntN(len(pathish))]
		}
		check(p)
	}
}
