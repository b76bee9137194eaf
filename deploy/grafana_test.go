package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestWeirDashboard reads Weir's Grafana dashboard: every panel queries
// Prometheus, and every family it names is one README's Metrics section
// documents (go_* and process_* are client_golang's).
func TestWeirDashboard(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("grafana/weir.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			ID      int
			Type    string
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/weir.json: %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`\b(weir_[a-z_]+|nginx_ingress_controller_[a-z_]+)`)
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if strings.Count(q.Expr, "(") != strings.Count(q.Expr, ")") || strings.Count(q.Expr, "{") != strings.Count(q.Expr, "}") {
				t.Errorf("panel %q: unbalanced %s", p.Title, q.Expr)
			}
			for _, n := range name.FindAllString(q.Expr, -1) {
				short := strings.TrimPrefix(n, "nginx_ingress_controller_")
				if !strings.Contains(string(readme), "`"+n) && !strings.Contains(string(readme), "`"+short+"`") {
					t.Errorf("panel %q queries %s, which README does not document", p.Title, n)
				}
			}
		}
	}
	if queries < 15 {
		t.Errorf("%d queries, want the dashboard's 15 at least", queries)
	}
}
