package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestRouteDiff replays the routediff differential (testdata/routediff):
// the requests sent to nginx 1.22.1 configured as ingress-nginx renders
// manifests.yaml (nginx.conf) and to Weir, each answered by an upstream
// that names itself and the request line it got, and nginx's recorded
// answer: "STATUS", "200 UPSTREAM REQUEST-LINE" when an upstream
// answered, "3xx LOCATION" for a redirect. Weir must give the same: the same location (upstream), the
// same rewritten target and query, the same status where no upstream
// answers (ingress-nginx's upstream-default-backend, which Weir's own 404
// stands for without --default-backend-service).
func TestRouteDiff(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/routediff/manifests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The upstreams s1..s8 were 127.0.0.1:25100-25107.
	yaml := string(data)
	for i := range 8 {
		name := fmt.Sprintf("s%d", i+1)
		up := backend(t, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %s %s\n", name, r.Method, r.RequestURI, r.Proto)
		})
		port := up.Listener.Addr().String()[len("127.0.0.1:"):]
		yaml = strings.ReplaceAll(yaml, fmt.Sprintf(`"port": %d,`, 25100+i), `"port": `+port+`,`)
	}
	objs, errs := manifest.DecodeObjects([]byte(yaml))
	if len(errs) > 0 {
		t.Fatalf("decode manifests: %v", errs)
	}
	s := snapshot.Build(objs, snapshot.DefaultOptions())
	// pcre.test's "/neg/(?!x)" (upstream s1) is PCRE that RE2 cannot
	// compile: Weir skips the path with a warning, and its requests go to
	// the host's root location (s7) instead.
	if !slices.ContainsFunc(s.Warnings, func(w snapshot.Warning) bool {
		return w.Reason == snapshot.ReasonInvalidPath && strings.Contains(w.Message, "(?!x)")
	}) {
		t.Errorf("no InvalidPath warning for /neg/(?!x) in %+v", s.Warnings)
	}
	var answers []struct{ Host, Target, Nginx string }
	if data, err = os.ReadFile("testdata/routediff/answers.json"); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &answers); err != nil {
		t.Fatal(err)
	}
	_, srv := front(t, Options{}, s)
	for _, a := range answers {
		resp, body := rawGet(t, addr(srv), a.Host, a.Target)
		got := fmt.Sprint(resp.StatusCode)
		if line, _, _ := strings.Cut(body, "\n"); resp.StatusCode == http.StatusOK && strings.HasPrefix(line, "s") {
			got += " " + line
		} else if loc := resp.Header.Get("Location"); loc != "" {
			got += " " + loc
		}
		want := a.Nginx
		if line, ok := strings.CutPrefix(want, "200 s1 "); ok && a.Host == "pcre.test" {
			want = "200 s7 " + line
		}
		if got != want {
			t.Errorf("GET %s (Host %s): Weir %q, want %q (nginx %q)", a.Target, a.Host, got, want, a.Nginx)
		}
	}
}
