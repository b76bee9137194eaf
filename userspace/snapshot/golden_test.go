package snapshot_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// readCase decodes testdata/<name>.yaml and its options. Options are read
// from lines "# options: a, b=c" at the top of the file:
// watch-ingress-without-class, configmap=<ns/name>.
func readCase(tb testing.TB, path string) (snapshot.Objects, snapshot.Options) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	opts := snapshot.DefaultOptions()
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "# options:")
		if !ok {
			continue
		}
		for _, o := range strings.Split(line, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(o), "=")
			switch k {
			case "watch-ingress-without-class":
				opts.WatchIngressWithoutClass = true
			case "configmap":
				opts.ConfigMap = v
			default:
				tb.Fatalf("%s: unknown option %q", path, k)
			}
		}
	}
	objs, errs := manifest.DecodeObjects(data)
	for _, err := range errs {
		tb.Errorf("%s: %v", path, err)
	}
	return objs, opts
}

func marshal(tb testing.TB, s *snapshot.Snapshot) []byte {
	tb.Helper()
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		tb.Fatalf("marshal snapshot: %v", err)
	}
	return append(out, '\n')
}

func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no testdata/*.yaml")
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs, opts := readCase(t, path)
			got := marshal(t, snapshot.Build(objs, opts))
			golden := strings.TrimSuffix(path, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Build(%s) (-want +got):\n%s", path, diff)
			}
		})
	}
}
