package proxy

import "testing"

// Not parallel: testing.AllocsPerRun refuses to run in a parallel test.
func TestMatchPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"/x/../admin", "/admin"},
		{"//admin", "/admin"},
		{"/a//b/", "/a/b/"},
		{"/./a", "/a"},
		{"/a/.", "/a/"},
		{"/a/..", "/"},
		{"/a/b/..", "/a/"},
		{"/a/b//.", "/a/b/"},
		{"/a/b/%2e", "/a/b/%2e"},
		{"/../../etc", "/etc"},
		{"/.well-known/acme-challenge/../../login", "/login"},
		{"/a/.b/..c", "/a/.b/..c"},
		{"admin", "/admin"},
	} {
		if got := matchPath(tc.in); got != tc.want {
			t.Errorf("matchPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { matchPath("/api/v1/users/42") }); n != 0 {
		t.Errorf("a clean path allocates %v times, want 0", n)
	}
}
