package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
)

var update = flag.Bool("update", false, "rewrite the README's generated tables")

// TestREADME checks that the README documents every flag and every supported
// annotation, from the same tables the code uses. -update rewrites them.
func TestREADME(t *testing.T) {
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	var flags bytes.Buffer
	fs, _ := newFlags(&bytes.Buffer{})
	if err := printFlags(&flags, fs); err != nil {
		t.Fatal(err)
	}
	var compat bytes.Buffer
	if err := printCompatFlags(&compat); err != nil {
		t.Fatal(err)
	}
	got := string(readme)
	for _, sec := range []struct{ name, body string }{
		{"flags", flags.String()},
		{"compat-flags", compat.String()},
		{"annotations", annotations.Markdown()},
		{"configmap", annotations.ConfigMapMarkdown()},
	} {
		begin := "<!-- BEGIN GENERATED " + sec.name + " -->\n"
		end := "<!-- END GENERATED " + sec.name + " -->"
		i, j := strings.Index(got, begin), strings.Index(got, end)
		if i < 0 || j < i {
			t.Fatalf("README lacks the markers %q … %q", begin, end)
		}
		current := got[i+len(begin) : j]
		if current == sec.body {
			continue
		}
		if !*update {
			t.Errorf("README's %s table is stale; run `make docs`.\nwant:\n%s", sec.name, sec.body)
			continue
		}
		got = got[:i+len(begin)] + sec.body + got[j:]
	}
	if *update && got != string(readme) {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEnvOverridesDefaults checks that WEIR_* variables set flags and that
// the command line wins over them.
func TestEnvOverridesDefaults(t *testing.T) {
	t.Setenv("WEIR_HTTP_PORT", "9999")
	t.Setenv("WEIR_INGRESS_CLASS", "fromenv")
	fs, o := newFlags(&bytes.Buffer{})
	if err := parse(fs, []string{"--ingress-class=fromflag"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if o.httpPort != 9999 || o.ingressClass != "fromflag" {
		t.Fatalf("got http-port %d, ingress-class %q; want 9999 from env, fromflag from the command line", o.httpPort, o.ingressClass)
	}
	t.Setenv("WEIR_HTTP_PORT", "eighty")
	fs, _ = newFlags(&bytes.Buffer{})
	if err := parse(fs, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "WEIR_HTTP_PORT") {
		t.Fatalf("bad env value: got error %v, want one naming WEIR_HTTP_PORT", err)
	}
}
