package annotations

import (
	"fmt"
	"strings"
)

// Vars is a string with nginx variables ("https://$host/auth?rd=$escaped_request_uri"),
// split into literal text and variable names. ParseVars accepts only the
// variables the proxy knows how to compute; it never evaluates anything
// else.
type Vars []VarPart

// VarPart is literal text (Name "") or one variable (Name without "$").
type VarPart struct {
	Text string
	Name string
}

// knownVars are the variables Vars may name, besides the families
// http_*, cookie_* and arg_*.
var knownVars = map[string]bool{
	"host": true, "http_host": true, "best_http_host": true, "request_uri": true, "escaped_request_uri": true,
	"uri": true, "args": true, "query_string": true, "scheme": true, "pass_access_scheme": true,
	"request_method": true, "remote_addr": true, "remote_user": true, "server_port": true, "request_id": true,
	"req_id": true, "literal_dollar": true,
}

// ParseVars splits s into literal text and the nginx variables it names
// ($name or ${name}). An unknown variable, or a "$" without a name, is an
// error.
func ParseVars(s string) (Vars, error) {
	return parseVars(s, knownVar)
}

// parseVars is ParseVars accepting the variables known names.
func parseVars(s string, known func(name string) bool) (Vars, error) {
	var out Vars
	for s != "" {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			out = append(out, VarPart{Text: s})
			break
		}
		if i > 0 {
			out = append(out, VarPart{Text: s[:i]})
		}
		s = s[i+1:]
		var name string
		if strings.HasPrefix(s, "{") {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed ${ in %q", s)
			}
			name, s = s[1:end], s[end+1:]
		} else {
			n := 0
			for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= '0' && s[n] <= '9') {
				n++
			}
			name, s = s[:n], s[n:]
		}
		if !known(name) {
			return nil, fmt.Errorf("variable $%s is not supported", name)
		}
		out = append(out, VarPart{Name: name})
	}
	return out, nil
}

func knownVar(name string) bool {
	if knownVars[name] {
		return true
	}
	for _, p := range []string{"http_", "cookie_", "arg_"} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" {
			return true
		}
	}
	return false
}

// HasVars reports whether v names a variable: false for literal text.
func (v Vars) HasVars() bool {
	for _, p := range v {
		if p.Name != "" {
			return true
		}
	}
	return false
}

// Expand returns the string with every variable replaced by value(name).
func (v Vars) Expand(value func(name string) string) string {
	if len(v) == 1 && v[0].Name == "" {
		return v[0].Text
	}
	var b strings.Builder
	for _, p := range v {
		if p.Name == "" {
			b.WriteString(p.Text)
		} else {
			b.WriteString(value(p.Name))
		}
	}
	return b.String()
}

// locationVars are the variables nginx.tmpl sets in every location ("set
// $namespace ..."), which an annotation evaluated in the location
// (upstream-vhost) may name: the Ingress's namespace and name, and the
// Service name and port (number or name) of the rule's backend, as the
// Ingress writes them. They are constant per route: the snapshot build
// resolves them (ResolveLocationVars), the proxy never sees them.
var locationVars = map[string]bool{"namespace": true, "ingress_name": true, "service_name": true, "service_port": true}

// parseLocationVars is ParseVars that also accepts locationVars.
func parseLocationVars(s string) (Vars, error) {
	return parseVars(s, func(name string) bool { return locationVars[name] || knownVar(name) })
}

// LocationVars holds the values of the location variables of one route.
type LocationVars struct {
	// Namespace and IngressName are the Ingress's ($namespace, $ingress_name).
	Namespace, IngressName string
	// ServiceName and ServicePort are the backend's Service name and port,
	// its number or name as written ($service_name, $service_port); "" for
	// a route without a Service of its own (upstream-default-backend).
	ServiceName, ServicePort string
}

// ResolveLocationVars replaces the location variables of s (a value
// parseLocationVars accepted) by their values in lv, and writes the other
// variables back as ${name} for the proxy to evaluate per request. A value
// without "$" is returned as it is, as is one that does not parse.
func ResolveLocationVars(s string, lv LocationVars) string {
	if strings.IndexByte(s, '$') < 0 {
		return s
	}
	vars, err := parseLocationVars(s)
	if err != nil {
		return s
	}
	var b strings.Builder
	for _, p := range vars {
		switch p.Name {
		case "":
			b.WriteString(p.Text)
		case "namespace":
			b.WriteString(lv.Namespace)
		case "ingress_name":
			b.WriteString(lv.IngressName)
		case "service_name":
			b.WriteString(lv.ServiceName)
		case "service_port":
			b.WriteString(lv.ServicePort)
		default:
			b.WriteString("${" + p.Name + "}")
		}
	}
	return b.String()
}
