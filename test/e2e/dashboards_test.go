package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/nginxmetrics"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// The ingress-nginx dashboards, alerts and Prometheus set-up the test
// reproduces (testdata/ingress-nginx/README.md).
const dashboardData = "testdata/ingress-nginx"

// targetLabels are the labels Prometheus gives every series of a scrape of
// the controller pod through a ServiceMonitor (prometheus-operator), the
// set-up the dashboards were written for: a series' own label of the same
// name becomes exported_<name> (honor_labels false), which is where the
// dashboards' exported_namespace comes from.
func targetLabels(id nginxmetrics.Identity) map[string]string {
	return map[string]string{
		"job":       "ingress-nginx-controller-metrics",
		"instance":  "10.0.0.1:10254",
		"namespace": id.Namespace,
		"pod":       id.Pod,
		"service":   "ingress-nginx-controller-metrics",
		"endpoint":  "metrics",
		"container": "controller",
	}
}

// notExported are labels a query matches on that ingress-nginx's series do
// not carry either: the matcher is left out where a value is chosen (the
// panel is empty for that choice on ingress-nginx too), and with "All" the
// empty value matches.
var notExported = map[string]map[string]string{
	"nginx_ingress_controller_ssl_expire_time_seconds": {
		"ingress":             "ingress-nginx's sslLabelHost has no ingress",
		"kubernetes_pod_name": "a target label of old Prometheus scrape configs, not of the series",
	},
}

// series is one scraped series as Prometheus stores it: empty labels are
// absent.
type series struct {
	name   string
	labels map[string]string
}

// scrape reads Weir's /metrics as Prometheus does: histograms become their
// _bucket (with le), _sum and _count series, the target labels are added.
func scrape(t *testing.T, w *weir, target map[string]string) []series {
	t.Helper()
	resp, err := client.Get("http://" + w.d.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatalf("get /metrics: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	var out []series
	add := func(name string, m *dto.Metric, extra ...string) {
		l := map[string]string{}
		for _, lp := range m.Label {
			k := lp.GetName()
			if _, clash := target[k]; clash {
				k = "exported_" + k
			}
			l[k] = lp.GetValue()
		}
		for k, v := range target {
			l[k] = v
		}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		for k, v := range l {
			if v == "" {
				delete(l, k)
			}
		}
		out = append(out, series{name: name, labels: l})
	}
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			if h := m.GetHistogram(); h != nil {
				for _, b := range h.Bucket {
					add(name+"_bucket", m, "le", fmt.Sprint(b.GetUpperBound()))
				}
				add(name+"_bucket", m, "le", "+Inf")
				add(name+"_sum", m)
				add(name+"_count", m)
				continue
			}
			add(name, m)
		}
	}
	return out
}

type matcher struct{ label, op, value string }

type selector struct {
	name     string
	matchers []matcher
	text     string
}

var (
	selectorRe = regexp.MustCompile(`\b(nginx_ingress_controller_[a-zA-Z0-9_:]*)\s*(\{[^}]*\})?`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	byRe       = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	varRe      = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?`)
	labelsOfRe = regexp.MustCompile(`(?s)^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
)

// selectors returns the vector selectors of a PromQL expression (whose
// metrics are all ingress-nginx's) and the labels of its by clauses. A
// brace outside a selector is a parse the test does not handle: an error.
func selectors(expr string) ([]selector, []string, error) {
	var sels []selector
	for _, m := range selectorRe.FindAllStringSubmatch(expr, -1) {
		s := selector{name: m[1], text: m[0]}
		for _, mm := range matcherRe.FindAllStringSubmatch(m[2], -1) {
			s.matchers = append(s.matchers, matcher{mm[1], mm[2], mm[3]})
		}
		sels = append(sels, s)
	}
	if rest := selectorRe.ReplaceAllString(expr, ""); strings.ContainsAny(rest, "{}") {
		return nil, nil, fmt.Errorf("braces outside a selector in %q", rest)
	}
	if len(sels) == 0 {
		return nil, nil, fmt.Errorf("no ingress-nginx metric in %q", expr)
	}
	var by []string
	for _, m := range byRe.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				by = append(by, l)
			}
		}
	}
	return sels, by, nil
}

// match reports whether s carries labels l that sel's matchers accept,
// leaving out those on skip.
func (sel selector) match(s series, skip map[string]string) bool {
	if s.name != sel.name {
		return false
	}
	for _, m := range sel.matchers {
		if _, ok := skip[m.label]; ok {
			continue
		}
		v := s.labels[m.label]
		var ok bool
		switch m.op {
		case "=":
			ok = v == m.value
		case "!=":
			ok = v != m.value
		case "=~", "!~":
			ok = regexp.MustCompile("^(?:"+m.value+")$").MatchString(v) == (m.op == "=~")
		}
		if !ok {
			return false
		}
	}
	return true
}

// check evaluates what expr needs of the scrape: each selector matches a
// series, each matcher's and by clause's label is carried by one of them.
// all says the variables are "All" (.*): notExported labels may then be
// absent; otherwise their matchers are left out.
func check(all []series, expr string, allSelected bool) []string {
	sels, by, err := selectors(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	var matched []series
	for _, sel := range sels {
		skip := notExported[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(sel.name, "_bucket"), "_sum"), "_count")]
		var got []series
		for _, s := range all {
			if sel.match(s, skipIf(!allSelected, skip)) {
				got = append(got, s)
			}
		}
		if len(got) == 0 {
			problems = append(problems, fmt.Sprintf("no series for %s", sel.text))
			continue
		}
		matched = append(matched, got...)
		for _, m := range sel.matchers {
			if _, ok := skip[m.label]; ok || carried(got, m.label) {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: no series carries label %s", sel.text, m.label))
		}
	}
	for _, l := range by {
		if len(matched) > 0 && !carried(matched, l) {
			problems = append(problems, fmt.Sprintf("by (%s): no series carries it", l))
		}
	}
	return problems
}

func skipIf(cond bool, m map[string]string) map[string]string {
	if cond {
		return m
	}
	return nil
}

func carried(ss []series, label string) bool {
	for _, s := range ss {
		if s.labels[label] != "" {
			return true
		}
	}
	return false
}

// labelValues evaluates Grafana's label_values(selector, label).
func labelValues(all []series, query string) ([]string, error) {
	m := labelsOfRe.FindStringSubmatch(query)
	if m == nil {
		return nil, fmt.Errorf("not a label_values query: %q", query)
	}
	sels, _, err := selectors(m[1])
	if err != nil || len(sels) != 1 {
		return nil, fmt.Errorf("label_values selector %q: %v", m[1], err)
	}
	seen := map[string]bool{}
	for _, s := range all {
		if v := s.labels[m[2]]; v != "" && sels[0].match(s, nil) {
			seen[v] = true
		}
	}
	vals := make([]string, 0, len(seen))
	for v := range seen {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	return vals, nil
}

// dashboard is the queries of a Grafana dashboard: its panels' expressions
// and its template variables' label_values queries, in order.
type dashboard struct {
	exprs []string
	vars  []struct{ name, query string }
}

func readDashboard(t *testing.T, file string) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dashboardData, file))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var d dashboard
	for _, v := range raw.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if json.Unmarshal(v.Query, &q) != nil {
			var obj struct{ Query string }
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("%s: variable %s: %v", file, v.Name, err)
			}
			q = obj.Query
		}
		d.vars = append(d.vars, struct{ name, query string }{v.Name, q})
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(o any) {
		switch o := o.(type) {
		case map[string]any:
			if e, ok := o["expr"].(string); ok && strings.TrimSpace(e) != "" {
				d.exprs = append(d.exprs, e)
			}
			for _, v := range o {
				walk(v)
			}
		case []any:
			for _, v := range o {
				walk(v)
			}
		}
	}
	walk(tree)
	return d
}

// substitute replaces Grafana's $var and ${var} by vals' (regular
// expressions: "All" is .*).
func substitute(expr string, vals map[string]string) string {
	return varRe.ReplaceAllStringFunc(expr, func(v string) string {
		name := strings.Trim(v, "${}")
		if val, ok := vals[name]; ok {
			return val
		}
		return v
	})
}

// TestIngressNginxDashboards serves 2xx, 4xx, 5xx and canary traffic and a
// TLS host, then evaluates every query of ingress-nginx's two Grafana
// dashboards and its chart's example alerts against a scrape of /metrics
// as Prometheus would store it: every selector finds its series, every
// label a query names is there; the template variables' label_values
// queries find values, and the panels find their series again with the
// variables set to them.
func TestIngressNginxDashboards(t *testing.T) {
	// Not parallel: the controller's identity comes from the environment.
	t.Setenv("POD_NAMESPACE", "ingress-weir")
	t.Setenv("POD_NAME", "weir-controller-x7k2p")
	id := nginxmetrics.IdentityFromEnv(snapshot.DefaultOptions().ControllerClass)

	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "secure.test")
	main := newBackend(t, "main", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "main")
	})
	canary := newBackend(t, "canary", nil)
	w := startWeir(t, map[string]string{
		"class.yaml":  ingressClass,
		"svc.yaml":    service("main", main.port) + service("canary", canary.port) + service("empty"),
		"secret.yaml": certstest.SecretYAML("default", "secure-tls", crt, key),
		"ing.yaml": ingress("main", "dash.test", "main") +
			canaryIngress("main-canary", "dash.test", "canary", "canary-by-header", "X-Canary") +
			ingress("empty", "empty.test", "empty") +
			tlsIngress("secure", "secure.test", "secure.test", "secure-tls", "main"),
	})
	for _, r := range []struct {
		host, path string
		hdr        []string
		status     int
	}{
		{"dash.test", "/", nil, 200},
		{"dash.test", "/missing", nil, 404},
		{"dash.test", "/", []string{"X-Canary", "always"}, 200},
		{"empty.test", "/", nil, 503},
		{"nowhere.test", "/", nil, 404},
	} {
		if got := w.get(r.host, r.path, r.hdr...); got.status != r.status {
			t.Fatalf("GET %s%s %v: %d, want %d", r.host, r.path, r.hdr, got.status, r.status)
		}
	}
	var all []series
	// nowhere.test is a host no Ingress defines: not counted, as
	// ingress-nginx's socket collector leaves it out; the other four are.
	waitFor(t, 5*time.Second, "the four requests of defined hosts counted", func() bool {
		all = scrape(t, w, targetLabels(id))
		n := 0
		for _, s := range all {
			if s.name == "nginx_ingress_controller_request_duration_seconds_count" {
				n++
			}
		}
		return n == 4
	})

	allValues := map[string]string{}
	for _, file := range []string{"nginx.json", "request-handling-performance.json"} {
		d := readDashboard(t, file)
		if len(d.exprs) < 10 && file == "nginx.json" || len(d.exprs) == 0 {
			t.Fatalf("%s: only %d queries read", file, len(d.exprs))
		}
		// Every variable "All".
		for _, v := range d.vars {
			allValues[v.name] = ".*"
		}
		for _, e := range d.exprs {
			for _, p := range check(all, substitute(e, allValues), true) {
				t.Errorf("%s, all selected: %s\n\tin %s", file, p, e)
			}
		}
		// Each variable in turn set to a value its query finds (the
		// ingress with the traffic where there is a choice).
		chosen := map[string]string{}
		for _, v := range d.vars {
			vals, err := labelValues(all, substitute(v.query, chosen))
			if err != nil || len(vals) == 0 {
				t.Errorf("%s: variable %s: %q finds no value (%v)", file, v.name, v.query, err)
				chosen[v.name] = ".*"
				continue
			}
			pick := vals[0]
			for _, want := range []string{"main", id.Namespace, id.Class, id.Pod, "default"} {
				if slices.Contains(vals, want) {
					pick = want
					break
				}
			}
			chosen[v.name] = regexp.QuoteMeta(pick)
		}
		for _, e := range d.exprs {
			for _, p := range check(all, substitute(e, chosen), false) {
				t.Errorf("%s, variables %v: %s\n\tin %s", file, chosen, p, e)
			}
		}
	}
	rules, err := os.ReadFile(filepath.Join(dashboardData, "prometheusrules.txt"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range strings.Split(string(rules), "\n") {
		if e = strings.TrimSpace(e); e == "" || strings.HasPrefix(e, "#") {
			continue
		}
		n++
		for _, p := range check(all, e, true) {
			t.Errorf("alert: %s\n\tin %s", p, e)
		}
	}
	if n != 4 {
		t.Errorf("%d alert expressions read, want 4", n)
	}
}
