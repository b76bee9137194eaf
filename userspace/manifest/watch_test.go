package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// service returns a Service manifest whose port number tells versions apart.
func service(name string, port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: default
spec:
  ports:
  - name: http
    port: %d
`, name, port)
}

// brokenService is a Service whose kind and name can be read but which the
// strict decoder rejects.
func brokenService(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
  prots: []
`, name)
}

func writeFile(tb testing.TB, dir, name, content string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// services summarises the Services of u as "name:port", in order.
func services(u Update) []string {
	var out []string
	for _, s := range u.Objects.Services {
		out = append(out, fmt.Sprintf("%s:%d", s.Name, s.Spec.Ports[0].Port))
	}
	return out
}

// problems summarises the problems of u as "file|object", in order.
func problems(u Update) []string {
	var out []string
	for _, p := range u.Problems {
		out = append(out, p.File+"|"+p.Object)
	}
	return out
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLoadMultiDocument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "all.yaml", "# two services\n"+service("a", 1)+"---\n"+service("b", 2)+"---\n# nothing\n")
	writeFile(t, dir, "c.yml", service("c", 3))
	writeFile(t, dir, "d.json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"d"},"spec":{"ports":[{"port":4}]}}`)
	// None of these is read.
	writeFile(t, dir, ".all.yaml.swp", "garbage")
	writeFile(t, dir, "all.yaml~", service("backup", 9))
	writeFile(t, dir, ".hidden.yaml", service("hidden", 9))
	writeFile(t, dir, "README.md", "# not a manifest")
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub.yaml"), "e.yaml", service("e", 5))

	u := NewSource(dir, Options{Logger: discard()}).Load()
	if diff := cmp.Diff([]string{"a:1", "b:2", "c:3", "d:4"}, services(u)); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if len(u.Problems) != 0 {
		t.Errorf("problems: %v", u.Problems)
	}
	if got := u.Objects.Services[3].Namespace; got != "default" {
		t.Errorf("namespace of d = %q, want default", got)
	}
}

func TestLoadKeepsLastGood(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		before       string
		after        string
		wantServices []string
		wantProblems []string
		wantReason   string
	}{{
		name:         "malformed object keeps its last good version",
		before:       service("a", 1) + "---\n" + service("b", 2),
		after:        service("a", 10) + "---\n" + brokenService("b"),
		wantServices: []string{"a:10", "b:2"},
		wantProblems: []string{"f.yaml|Service default/b"},
		wantReason:   `unknown field "spec.prots"`,
	}, {
		name:         "malformed new object is reported and left out",
		before:       service("a", 1),
		after:        service("a", 1) + "---\n" + brokenService("b"),
		wantServices: []string{"a:1"},
		wantProblems: []string{"f.yaml|Service default/b"},
		wantReason:   `unknown field "spec.prots"`,
	}, {
		name:         "unreadable document keeps the object of its index",
		before:       service("a", 1) + "---\n" + service("b", 2),
		after:        service("a", 10) + "---\nkind: [Service\n",
		wantServices: []string{"a:10", "b:2"},
		wantProblems: []string{"f.yaml|document 1"},
		wantReason:   "parse yaml document 1",
	}, {
		name:   "a document inserted before others does not shadow them",
		before: service("a", 1) + "---\n" + service("b", 2),
		after:  "kind: [\n---\n" + service("a", 10) + "---\n" + service("b", 20),
		// document 0 used to be a, which is defined again by document 1.
		wantServices: []string{"a:10", "b:20"},
		wantProblems: []string{"f.yaml|document 0"},
		wantReason:   "parse yaml document 0",
	}, {
		name:         "unsupported kind",
		before:       service("a", 1),
		after:        service("a", 1) + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
		wantServices: []string{"a:1"},
		wantProblems: []string{"f.yaml|Pod default/p"},
		wantReason:   `kind "Pod" is not one Weir reads`,
	}, {
		name:         "same object twice in one file",
		before:       service("a", 1),
		after:        service("a", 1) + "---\n" + service("a", 2),
		wantServices: []string{"a:1"},
		wantProblems: []string{"f.yaml|Service default/a"},
		wantReason:   "defined twice in this file",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := NewSource(dir, Options{Logger: discard()})
			writeFile(t, dir, "f.yaml", tc.before)
			if u := s.Load(); len(u.Problems) != 0 {
				t.Fatalf("before: problems: %v", u.Problems)
			}
			writeFile(t, dir, "f.yaml", tc.after)
			u := s.Load()
			if diff := cmp.Diff(tc.wantServices, services(u)); diff != "" {
				t.Errorf("services (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantProblems, problems(u)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			for _, p := range u.Problems {
				if !strings.Contains(p.Err.Error(), tc.wantReason) {
					t.Errorf("reason %q does not contain %q", p.Err, tc.wantReason)
				}
				if want := p.File + ": " + p.Object + ": "; !strings.HasPrefix(p.Error(), want) {
					t.Errorf("Error() = %q, want prefix %q", p.Error(), want)
				}
			}
		})
	}
}

func TestLoadGarbageFileKeepsOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", service("a", 1))
	writeFile(t, dir, "b.yaml", "{{{ this is not yaml\n\t- at: all\n")
	writeFile(t, dir, "c.yaml", service("c", 3))

	u := NewSource(dir, Options{Logger: discard()}).Load()
	if diff := cmp.Diff([]string{"a:1", "c:3"}, services(u)); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b.yaml|document 0"}, problems(u)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if got := u.Problems[0].Error(); !strings.HasPrefix(got, "b.yaml: document 0: parse yaml document 0: ") {
		t.Errorf("Error() = %q", got)
	}
}

func TestLoadConflictFirstFileWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "b.yaml", service("x", 2))
	writeFile(t, dir, "a.yaml", service("x", 1))

	u := NewSource(dir, Options{Logger: discard()}).Load()
	if diff := cmp.Diff([]string{"x:1"}, services(u)); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b.yaml|Service default/x"}, problems(u)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if got, want := u.Problems[0].Error(), "b.yaml: Service default/x: ignored: Service default/x is already defined in a.yaml"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestLoadDeletedFileDropsObjects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := NewSource(dir, Options{Logger: discard()})
	writeFile(t, dir, "a.yaml", service("a", 1))
	writeFile(t, dir, "b.yaml", service("b", 2))
	s.Load()
	// Broken, then deleted, then recreated broken: nothing of the old b
	// may come back.
	writeFile(t, dir, "b.yaml", brokenService("b"))
	if diff := cmp.Diff([]string{"a:1", "b:2"}, services(s.Load())); diff != "" {
		t.Errorf("broken: services (-want +got):\n%s", diff)
	}
	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a:1"}, services(s.Load())); diff != "" {
		t.Errorf("deleted: services (-want +got):\n%s", diff)
	}
	writeFile(t, dir, "b.yaml", brokenService("b"))
	if diff := cmp.Diff([]string{"a:1"}, services(s.Load())); diff != "" {
		t.Errorf("recreated broken: services (-want +got):\n%s", diff)
	}
}

func TestLoadMissingFolder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "m")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "a.yaml", service("a", 1))
	s := NewSource(dir, Options{Logger: discard()})
	s.Load()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	u := s.Load()
	if diff := cmp.Diff([]string{"a:1"}, services(u)); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	if len(u.Problems) != 1 || u.Problems[0].File != dir || !errors.Is(u.Problems[0], os.ErrNotExist) {
		t.Errorf("problems = %v, want one not-exist problem for %s", u.Problems, dir)
	}
}

func TestProblemError(t *testing.T) {
	t.Parallel()
	err := errors.New("boom")
	if got, want := (Problem{File: "f.yaml", Object: "Ingress a/b", Err: err}).Error(), "f.yaml: Ingress a/b: boom"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := (Problem{File: "f.yaml", Err: err}).Error(), "f.yaml: boom"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !errors.Is(Problem{Err: err}, err) {
		t.Error("errors.Is does not see the reason")
	}
}

// runSource starts s.Run and returns the channel of its Updates. The source
// is stopped, and Run's result checked, when the test ends.
func runSource(tb testing.TB, s *Source) <-chan Update {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan Update, 64)
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(u Update) { updates <- u })
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			tb.Error("Run did not return after cancel")
		}
	})
	return updates
}

// waitFor receives Updates until one satisfies ok, failing after 5s.
func waitFor(tb testing.TB, updates <-chan Update, what string, ok func(Update) bool) Update {
	tb.Helper()
	deadline := time.After(5 * time.Second)
	var last Update
	for {
		select {
		case u := <-updates:
			if ok(u) {
				return u
			}
			last = u
		case <-deadline:
			tb.Fatalf("no update with %s within 5s; last: services %v, problems %v", what, services(last), last.Problems)
			return Update{}
		}
	}
}

func hasServices(want ...string) func(Update) bool {
	return func(u Update) bool { return slices.Equal(services(u), want) }
}

func TestRunEmitsChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", service("a", 1))
	updates := runSource(t, NewSource(dir, Options{Logger: discard()}))

	waitFor(t, updates, "initial a", hasServices("a:1"))

	writeFile(t, dir, "b.yaml", service("b", 2))
	waitFor(t, updates, "new file b", hasServices("a:1", "b:2"))

	writeFile(t, dir, "a.yaml", service("a", 10))
	waitFor(t, updates, "edited a", hasServices("a:10", "b:2"))

	writeFile(t, dir, "a.yaml", brokenService("a"))
	u := waitFor(t, updates, "broken a reported", func(u Update) bool { return len(u.Problems) > 0 })
	if diff := cmp.Diff([]string{"a:10", "b:2"}, services(u)); diff != "" {
		t.Errorf("broken a: services (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a.yaml|Service default/a"}, problems(u)); diff != "" {
		t.Errorf("broken a: problems (-want +got):\n%s", diff)
	}

	if err := os.Remove(filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, updates, "deleted b", hasServices("a:10"))

	// An editor's save: write a hidden temporary file, rename it over.
	writeFile(t, dir, ".a.yaml.tmp", service("a", 100))
	if err := os.Rename(filepath.Join(dir, ".a.yaml.tmp"), filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	u = waitFor(t, updates, "renamed-over a", hasServices("a:100"))
	if len(u.Problems) != 0 {
		t.Errorf("renamed-over a: problems: %v", u.Problems)
	}
}

// TestRunConfigMapMount swaps the "..data" symlink the way the kubelet
// updates a mounted ConfigMap.
func TestRunConfigMapMount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	version := func(n int, objs ...string) {
		t.Helper()
		ts := fmt.Sprintf("..2026_01_01_00_00_0%d.000000001", n)
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		for i, o := range objs {
			writeFile(t, filepath.Join(dir, ts), fmt.Sprintf("f%d.yaml", i), o)
		}
		if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version(1, service("a", 1))
	for _, name := range []string{"f0.yaml", "f1.yaml"} {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	updates := runSource(t, NewSource(dir, Options{Logger: discard()}))
	waitFor(t, updates, "initial a (f1.yaml dangling)", hasServices("a:1"))

	version(2, service("a", 2), service("b", 1))
	waitFor(t, updates, "swapped ..data", hasServices("a:2", "b:1"))
}

func TestRunDebouncesBursts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	updates := runSource(t, NewSource(dir, Options{Logger: discard()}))
	waitFor(t, updates, "initial empty", hasServices())

	// Many writes in a burst end in the final state, in far fewer updates.
	const n = 50
	for i := range n {
		writeFile(t, dir, fmt.Sprintf("s%02d.yaml", i), service(fmt.Sprintf("s%02d", i), 1))
	}
	count := 0
	waitFor(t, updates, "all services", func(u Update) bool {
		count++
		return len(u.Objects.Services) == n
	})
	if count >= n {
		t.Errorf("%d updates for %d writes: not debounced", count, n)
	}
}

func TestRunMissingFolder(t *testing.T) {
	t.Parallel()
	s := NewSource(filepath.Join(t.TempDir(), "nope"), Options{Logger: discard()})
	err := s.Run(context.Background(), func(Update) { t.Error("emitted for a missing folder") })
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Run = %v, want a not-exist error", err)
	}
}

// padded returns content followed by a comment line that makes it exactly
// size bytes long.
func padded(tb testing.TB, content string, size int) string {
	tb.Helper()
	pad := size - len(content) - len("#\n")
	if pad < 0 {
		tb.Fatalf("content is %d bytes, more than %d", len(content), size)
	}
	return content + "#" + strings.Repeat("x", pad) + "\n"
}

// checkUpdate compares the services and problems of u (as summarised by
// services and problems) with the wanted ones; it stops the test when the
// problems differ, since callers then look at u.Problems.
func checkUpdate(tb testing.TB, what string, u Update, wantServices, wantProblems []string) {
	tb.Helper()
	if diff := cmp.Diff(wantServices, services(u)); diff != "" {
		tb.Errorf("%s: services (-want +got):\n%s", what, diff)
	}
	if diff := cmp.Diff(wantProblems, problems(u)); diff != "" {
		tb.Fatalf("%s: problems (-want +got):\n%s", what, diff)
	}
}

func TestLoadFileSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 4096
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", padded(t, service("a", 1), limit))
	writeFile(t, dir, "big.yaml", padded(t, service("big", 2), limit+1))
	writeFile(t, dir, "c.yaml", service("c", 3))
	s := NewSource(dir, Options{Logger: discard(), MaxFileSize: limit})

	u := s.Load()
	checkUpdate(t, "first load", u, []string{"a:1", "c:3"}, []string{"big.yaml|"})
	if !errors.Is(u.Problems[0], ErrFileTooLarge) {
		t.Errorf("problem %v is not ErrFileTooLarge", u.Problems[0])
	}
	if got, want := u.Problems[0].Error(), "big.yaml: skipped: file too large: 4097 bytes, over the limit of 4096"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}

	// A served file that grows over the limit keeps its last good objects.
	writeFile(t, dir, "a.yaml", padded(t, service("a", 10), limit+1))
	u = s.Load()
	checkUpdate(t, "grown a", u, []string{"a:1", "c:3"}, []string{"a.yaml|", "big.yaml|"})
	if got := u.Problems[0].Error(); !strings.HasSuffix(got, "(keeping the last good version)") {
		t.Errorf("grown a: Error() = %q, want it to say the last good version is kept", got)
	}
}

// TestRunReadsOnlyChangedFiles edits one file of several and counts the
// files Run reads from disk for it.
func TestRunReadsOnlyChangedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", service("a", 1))
	writeFile(t, dir, "b.yaml", service("b", 1))
	writeFile(t, dir, "broken.yaml", "{{{ not yaml\n")
	writeFile(t, dir, "c.yaml", service("c", 1))
	s := NewSource(dir, Options{Logger: discard()})
	var mu sync.Mutex
	reads := map[string]int{}
	s.readHook = func(name string) {
		mu.Lock()
		defer mu.Unlock()
		reads[name]++
	}
	takeReads := func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		r := maps.Clone(reads)
		clear(reads)
		return r
	}
	updates := runSource(t, s)
	waitFor(t, updates, "initial a, b, c", hasServices("a:1", "b:1", "c:1"))
	want := map[string]int{"a.yaml": 1, "b.yaml": 1, "broken.yaml": 1, "c.yaml": 1}
	if diff := cmp.Diff(want, takeReads()); diff != "" {
		t.Errorf("initial reads (-want +got):\n%s", diff)
	}

	writeFile(t, dir, "b.yaml", service("b", 2)) // same size as before
	u := waitFor(t, updates, "edited b", hasServices("a:1", "b:2", "c:1"))
	if diff := cmp.Diff(map[string]int{"b.yaml": 1}, takeReads()); diff != "" {
		t.Errorf("reads for an edit of b (-want +got):\n%s", diff)
	}
	// The file not read again still reports its problem.
	checkUpdate(t, "edited b", u, []string{"a:1", "b:2", "c:1"}, []string{"broken.yaml|document 0"})
}

// TestRunNamesChanges: after its first Update, Run names in Objects.Changed
// the objects of the files it read again and those that went, so the build
// is scoped to them.
func TestRunNamesChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", service("a", 1))
	writeFile(t, dir, "bc.yaml", service("b", 1)+"---\n"+service("c", 1))
	writeFile(t, dir, "d.yaml", service("d", 1))
	updates := runSource(t, NewSource(dir, Options{Logger: discard()}))
	if u := waitFor(t, updates, "initial", hasServices("a:1", "b:1", "c:1", "d:1")); u.Objects.Changed != nil {
		t.Errorf("first Update: Changed = %v, want nil (unknown: a full build)", u.Objects.Changed)
	}
	ref := func(name string) snapshot.ObjectRef {
		return snapshot.ObjectRef{Kind: "Service", Namespace: "default", Name: name}
	}

	writeFile(t, dir, "bc.yaml", service("b", 2)+"---\n"+service("c", 1))
	u := waitFor(t, updates, "edited b", hasServices("a:1", "b:2", "c:1", "d:1"))
	if diff := cmp.Diff([]snapshot.ObjectRef{ref("b"), ref("c")}, u.Objects.Changed); diff != "" {
		t.Errorf("edit of bc.yaml: Changed (-want +got):\n%s", diff)
	}

	if err := os.Remove(filepath.Join(dir, "d.yaml")); err != nil {
		t.Fatal(err)
	}
	u = waitFor(t, updates, "removed d", hasServices("a:1", "b:2", "c:1"))
	if diff := cmp.Diff([]snapshot.ObjectRef{ref("d")}, u.Objects.Changed); diff != "" {
		t.Errorf("removal of d.yaml: Changed (-want +got):\n%s", diff)
	}
}
