package annotations

import (
	"errors"
	"slices"
	"testing"
)

// TestParseBlock reads ingress-nginx's e2e values (global_access_block.go)
// and drops invalid entries with a warning, keeping the others.
func TestParseBlock(t *testing.T) {
	t.Parallel()
	g, errs := ParseGlobal(map[string]string{
		"block-cidrs":       "172.16.0.0/12, 192.168.0.0/16,10.0.0.0/8,,10.1.2.3",
		"block-user-agents": `~*chrome\/68\.0\.3440\.106\ safari\/537\.36,AlphaBot`,
		"block-referers":    `~*example\.com,qwerty,~(bad`,
	})
	if want := []string{"172.16.0.0/12", "192.168.0.0/16", "10.0.0.0/8", "10.1.2.3/32"}; !slices.Equal(g.Block.CIDRs, want) {
		t.Errorf("CIDRs = %q, want %q", g.Block.CIDRs, want)
	}
	if want := []string{`~*chrome\/68\.0\.3440\.106\ safari\/537\.36`, "AlphaBot"}; !slices.Equal(g.Block.UserAgents, want) {
		t.Errorf("UserAgents = %q, want %q", g.Block.UserAgents, want)
	}
	if want := []string{`~*example\.com`, "qwerty"}; !slices.Equal(g.Block.Referers, want) {
		t.Errorf("Referers = %q, want %q (the invalid regexp dropped)", g.Block.Referers, want)
	}
	var e *Error
	if len(errs) != 1 || !errors.As(errs[0], &e) || e.Annotation != "block-referers" || !e.ConfigMap {
		t.Fatalf("errs = %v, want one ConfigMap error for block-referers", errs)
	}

	g, errs = ParseGlobal(map[string]string{"block-cidrs": "10.0.0.0/8,nope"})
	if len(errs) != 1 || !slices.Equal(g.Block.CIDRs, []string{"10.0.0.0/8"}) {
		t.Errorf("block-cidrs with an invalid entry: CIDRs %q, errs %v; want the valid entry kept and one warning", g.Block.CIDRs, errs)
	}
}

// TestCompileBlockPattern: nginx map semantics: a string is the whole value
// ignoring case; "~" is a case-sensitive and "~*" a case-insensitive regexp
// found anywhere.
func TestCompileBlockPattern(t *testing.T) {
	t.Parallel()
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/68.0.3440.106 Safari/537.36"
	for _, tc := range []struct {
		entry, value string
		want         bool
	}{
		{`~*chrome\/68\.0\.3440\.106\ safari\/537\.36`, chrome, true},
		{`~chrome\/68`, chrome, false},
		{`~Chrome\/68`, chrome, true},
		{"AlphaBot", "AlphaBot", true},
		{"AlphaBot", "alphabot", true},
		{"AlphaBot", "AlphaBot/2", false},
		{"qwerty", "qwerty123", false},
		{`~*example\.com`, "http://www.EXAMPLE.com/x", true},
	} {
		m, err := CompileBlockPattern(tc.entry)
		if err != nil {
			t.Fatalf("CompileBlockPattern(%q): %v", tc.entry, err)
		}
		if got := m(tc.value); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.entry, tc.value, got, tc.want)
		}
	}
	if _, err := CompileBlockPattern("~(bad"); err == nil {
		t.Error("CompileBlockPattern(~(bad) = nil error, want one")
	}
}
