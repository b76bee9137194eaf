package router

import "testing"

// TestCompileCaseless checks the expressions of use-regex locations and
// rewrites against what nginx 1.22.1 (PCRE, no UTF mode) matched in the
// routediff differential, and the rest of the syntax against RE2's own
// case-insensitive matching, which it must keep.
func TestCompileCaseless(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr, in string
		want     bool
	}{
		{"^/static", "/STATIC", true},
		{"^/static", "/\u017ftatic", false}, // nginx: "/%C5%BFtatic" went to "/"
		{"^/k", "/\u212a", false},           // nor the Kelvin sign for k
		{"^/k", "/K", true},
		{"^/[s]x", "/\u017fx", false},
		{"^/[s]x", "/Sx", true},
		{"^/[^a]x", "/Ax", false}, // a negated class is folded before it is negated
		{"^/[^a]x", "/bx", true},
		{"^/[a-c]+$", "/ABC", true},
		{"^/caf\u00e9", "/CAF\u00e9", true},
		{"^/caf\u00e9", "/caf\u00c9", true}, // PCRE without UTF would not: a difference left
		{"^/id/[0-9]+$", "/id/12\n", true},  // nginx: "/id/12%0A" matched "^/id/[0-9]+$"
		{"^/id/[0-9]+$", "/id/12\nx", false},
		{"^/id/[0-9]+$", "/id/12\n\n", false},
		{`^/a\$`, "/a$", true},
		{"^/x(?-i)Y", "/XY", true},
		{"^/x(?-i)Y", "/Xy", false},
		{"^/api/v[0-9]+/", "/API/V2/", true},
		{"^/img/.*\\.png", "/IMG/a.PNG", true},
	} {
		re, err := compileCaseless(tc.expr)
		if err != nil {
			t.Errorf("compileCaseless(%q): %v", tc.expr, err)
			continue
		}
		if got := re.MatchString(tc.in); got != tc.want {
			t.Errorf("%q (compiled %q) on %q: %v, want %v", tc.expr, re, tc.in, got, tc.want)
		}
	}
	// RE2 cannot compile these; the path is skipped by the Snapshot build.
	for _, expr := range []string{"^/neg/(?!x)", `^/(a)\1`, "^/a++"} {
		if _, err := compileCaseless(expr); err == nil {
			t.Errorf("compileCaseless(%q) compiled", expr)
		}
	}
}
