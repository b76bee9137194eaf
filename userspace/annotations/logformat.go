package annotations

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// LogFormat is the controller ConfigMap's access-log format:
// log-format-upstream, log-format-escape-json and log-format-escape-none,
// as ingress-nginx's log_format upstreaminfo. The zero value keeps Weir's
// own JSON line.
type LogFormat struct {
	// Upstream is log-format-upstream: the format of every access-log
	// line, nginx variables ($name or ${name}) substituted. "" means
	// Weir's JSON line (not ingress-nginx's default, DefaultLogFormat).
	Upstream string `json:"upstream,omitempty"`
	// Escape is how variable values are escaped: "" for nginx's
	// escape=default (", \ and bytes below 0x20 or from 0x7f as \xHH),
	// "json" (log-format-escape-json) or "none"
	// (log-format-escape-none, which wins over json, as ingress-nginx's
	// template).
	Escape string `json:"escape,omitempty"`
}

// DefaultLogFormat is ingress-nginx's log-format-upstream default, its
// upstreaminfo format.
const DefaultLogFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id`

// LogVariables are the nginx variables a log format may use, besides
// $http_<name> (a request header, '_' for '-').
var LogVariables = []string{
	"remote_addr", "remote_user", "time_local", "time_iso8601", "request", "status", "body_bytes_sent",
	"bytes_sent", "request_length", "request_time", "proxy_upstream_name", "proxy_alternative_upstream_name",
	"upstream_addr", "upstream_response_length", "upstream_response_time", "upstream_connect_time",
	"upstream_header_time", "upstream_status", "req_id",
	"request_id", "host", "request_method", "request_uri", "uri", "args", "query_string", "server_protocol",
	"scheme", "namespace", "ingress_name", "service_name", "service_port", "the_real_ip", "remote_port",
	"server_port", "msec", "pipe", "realip_remote_addr", "proxy_protocol_addr", "proxy_protocol_port",
	"proxy_add_x_forwarded_for",
}

// LogSegment is a piece of a log format: literal text, or the variable
// Var (its name without '$') when Var is not "".
type LogSegment struct {
	Literal string
	Var     string
}

// AppendLogEscaped appends v to b as nginx's log_format escape=default
// writes a variable: '"', '\' and the bytes below 0x20 or from 0x7f as
// \xHH. The HTTP access log (log-format-upstream) and the stream one
// (log-format-stream) both use it.
func AppendLogEscaped[T ~string | ~[]byte](b []byte, v T) []byte {
	const upperHex = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if logSafe[c] {
			continue
		}
		b = append(b, v[start:i]...)
		b = append(b, '\\', 'x', upperHex[c>>4], upperHex[c&0xf])
		start = i + 1
	}
	return append(b, v[start:]...)
}

// logSafe marks the bytes AppendLogEscaped copies as they are, which it
// does a run at a time: printable ASCII but " and \.
var logSafe = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// ParseLogFormat splits format into segments and lists the variables it
// uses that are not LogVariables nor $http_<name>, each once, in order (they
// are logged as "-"). A '$' not followed by a name is literal text.
func ParseLogFormat(format string) (segs []LogSegment, unknown []string) {
	lit := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '$' {
			continue
		}
		name, end := logVarAt(format, i+1)
		if name == "" {
			continue
		}
		if lit < i {
			segs = append(segs, LogSegment{Literal: format[lit:i]})
		}
		segs = append(segs, LogSegment{Var: name})
		if !knownLogVariable(name) && !slices.Contains(unknown, name) {
			unknown = append(unknown, name)
		}
		lit, i = end, end-1
	}
	if lit < len(format) {
		segs = append(segs, LogSegment{Literal: format[lit:]})
	}
	return segs, unknown
}

// logVarAt reads the variable name at s[i:], "name" or "{name}", and
// returns it and the index after it; "" when there is none.
func logVarAt(s string, i int) (string, int) {
	if i < len(s) && s[i] == '{' {
		j := strings.IndexByte(s[i:], '}')
		if j < 2 || !isLogName(s[i+1:i+j]) {
			return "", i
		}
		return s[i+1 : i+j], i + j + 1
	}
	j := i
	for j < len(s) && isLogNameByte(s[j]) {
		j++
	}
	return s[i:j], j
}

func isLogName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isLogNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isLogNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func knownLogVariable(name string) bool {
	if n, ok := strings.CutPrefix(name, "http_"); ok && n != "" {
		return true
	}
	return slices.Contains(LogVariables, name)
}

// parseLogFormat reads the log-format-* keys into f. A format with unknown
// variables is applied (they log "-") with one warning naming them.
func parseLogFormat(data map[string]string, f *LogFormat, wrap func(key, value string, err error)) {
	if v, ok := data["log-format-upstream"]; ok && strings.TrimSpace(v) != "" {
		f.Upstream = v
		if err := validateLogFormat(v); err != nil {
			wrap("log-format-upstream", v, err)
		}
	}
	var escJSON, escNone bool
	globalKey(data, "log-format-escape-json", configBool, wrap, func(b bool) { escJSON = b })
	globalKey(data, "log-format-escape-none", configBool, wrap, func(b bool) { escNone = b })
	switch {
	case escNone:
		f.Escape = "none"
	case escJSON:
		f.Escape = "json"
	}
}

// validateLogFormat reports the unknown variables of a format.
func validateLogFormat(v string) error {
	if _, unknown := ParseLogFormat(v); len(unknown) > 0 {
		return fmt.Errorf("unknown variables $%s: %w", strings.Join(unknown, ", $"), ErrLoggedAsDash)
	}
	return nil
}

// ErrLoggedAsDash is the reason of a log-format-upstream warning: the
// format is applied, its unknown variables logged as "-".
var ErrLoggedAsDash = errors.New(`logged as "-"`)

// logFormatMeta is the metadata table of the log-format-* keys.
var logFormatMeta = []Meta{
	{
		Key: "log-format-upstream", Default: "Weir's JSON line", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Format of every access-log line, nginx variables substituted (ingress-nginx's `log_format upstreaminfo`; its default is `" + DefaultLogFormat + "`). Unset, Weir writes its own JSON line. Supported: " + "`$" + strings.Join(LogVariables, "`, `$") + "` and `$http_<name>`; another variable logs `-` with an `InvalidConfigMapValue` warning.",
		Validate: validateLogFormat,
	},
	{
		Key: "log-format-escape-json", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` escapes the variables of `log-format-upstream` as JSON strings (nginx's `escape=json`; a missing value is empty, not `-`); `\"false\"`: nginx's `escape=default`, `\"`, `\\` and bytes below 0x20 or from 0x7f as `\\xHH`.",
		Validate: validateConfigBool,
	},
	{
		Key: "log-format-escape-none", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` writes the variables of `log-format-upstream` unescaped (nginx's `escape=none`; a missing value is empty, not `-`); wins over `log-format-escape-json`.",
		Validate: validateConfigBool,
	},
}
