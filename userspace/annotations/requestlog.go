package annotations

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// RequestLog is the controller ConfigMap's request ID and access-log
// selection: generate-request-id, skip-access-log-urls,
// enable-access-log-for-default-backend and log-format-stream. The zero
// value is ingress-nginx's defaults.
type RequestLog struct {
	// NoRequestID is generate-request-id "false": a request without an
	// X-Request-ID gets none ($req_id is empty), instead of a new random
	// one. Default false (one is generated).
	NoRequestID bool `json:"noRequestID,omitempty"`
	// SkipURLs is skip-access-log-urls: the requests whose $request_uri
	// (path and query as the client sent them) is one of these are not
	// logged, as the keys of nginx's map: a string matched ignoring case,
	// "~regexp" matched case-sensitively, "~*regexp" ignoring case, and
	// "\" escaping a leading "~". Nil means none.
	SkipURLs []string `json:"skipURLs,omitempty"`
	// DefaultBackend is enable-access-log-for-default-backend: log the
	// requests answered by the default server's default backend (a host no
	// Ingress serves, or a host-less rule's server with no path matching).
	// Default false: they are not logged.
	DefaultBackend bool `json:"defaultBackend,omitempty"`
	// Stream is log-format-stream: the access-log line of each TCP or UDP
	// service session, nginx stream variables substituted. "" means the
	// default, DefaultLogFormatStream.
	Stream string `json:"stream,omitempty"`
}

// DefaultLogFormatStream is log-format-stream's default, ingress-nginx's.
const DefaultLogFormatStream = `[$remote_addr] [$time_local] $protocol $status $bytes_sent $bytes_received $session_time`

// StreamLogVariables are the nginx stream variables log-format-stream may
// use; another one logs "-".
var StreamLogVariables = []string{
	"remote_addr", "remote_port", "server_addr", "server_port", "time_local", "time_iso8601", "msec", "protocol",
	"status", "bytes_sent", "bytes_received", "session_time", "upstream_addr", "upstream_bytes_sent",
	"upstream_bytes_received", "proxy_upstream_name",
}

// StreamFormat returns log-format-stream, DefaultLogFormatStream when
// unset.
func (l RequestLog) StreamFormat() string {
	if l.Stream == "" {
		return DefaultLogFormatStream
	}
	return l.Stream
}

// requestLogMeta is the metadata table of the RequestLog keys.
var requestLogMeta = []Meta{
	{
		Key: "generate-request-id", Default: "true", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"`: a request without an `X-Request-ID` header gets a new random one (32 hex digits, nginx's `$request_id`), sent upstream and logged as `$req_id`. `\"false\"`: only the client's is passed on; without one, no `X-Request-ID` is sent upstream and `$req_id` is empty.",
		Validate: validateConfigBool,
	},
	{
		Key: "skip-access-log-urls", Default: "", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated `$request_uri` values (path and query as sent) whose requests are not logged, as the keys of ingress-nginx's `map $request_uri $loggable`: a string matches ignoring case, `~regexp` is a case-sensitive regular expression, `~*regexp` a case-insensitive one (Go syntax: one Go cannot compile is skipped with an `InvalidConfigMapValue` warning).",
		Validate: func(v string) error { _, err := parseSkipURLs(v); return err },
	},
	{
		Key: "log-format-stream", Default: DefaultLogFormatStream, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Format of the access-log line Weir writes when a TCP or UDP service session ends (ingress-nginx's `log_format log_stream`), nginx's default escaping. Supported: `$" + strings.Join(StreamLogVariables, "`, `$") + "`; `$status` is 200, 400 (a broken PROXY protocol header) or 502 (no endpoint answered); another variable logs `-` with an `InvalidConfigMapValue` warning. `disable-access-log` turns it off too.",
		Validate: validateStreamLogFormat,
	},
	{
		Key: "enable-access-log-for-default-backend", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` logs the requests answered by the default server's default backend (`--default-backend-service`, or Weir's 404 without one): those for a host no Ingress rule names, or for a host-less rule's server when no path matches. `\"false\"`: they are not logged, as ingress-nginx's `access_log off` in that location, unless `custom-http-errors` sends one to an error page (nginx's `@custom_` location logs it). A catch-all Ingress's `spec.defaultBackend` is logged as its `enable-access-log` says.",
		Validate: validateConfigBool,
	},
}

// parseRequestLog reads the RequestLog keys of data into g.Logs.
func parseRequestLog(data map[string]string, g *Global, wrap func(key, value string, err error)) {
	l := &g.Logs
	globalKey(data, "generate-request-id", configBool, wrap, func(b bool) { l.NoRequestID = !b })
	globalKey(data, "enable-access-log-for-default-backend", configBool, wrap, func(b bool) { l.DefaultBackend = b })
	if v, ok := data["log-format-stream"]; ok && strings.TrimSpace(v) != "" {
		if v != DefaultLogFormatStream {
			l.Stream = v
		}
		if err := validateStreamLogFormat(v); err != nil {
			wrap("log-format-stream", v, err)
		}
	}
	if v, ok := data["skip-access-log-urls"]; ok {
		urls, err := parseSkipURLs(v)
		if err != nil {
			wrap("skip-access-log-urls", v, err)
		}
		l.SkipURLs = urls
	}
}

// validateStreamLogFormat reports the variables of a log-format-stream
// that are not StreamLogVariables.
func validateStreamLogFormat(v string) error {
	var unknown []string
	for _, seg := range ParseStreamLogFormat(v) {
		if seg.Var != "" && !slices.Contains(StreamLogVariables, seg.Var) && !slices.Contains(unknown, seg.Var) {
			unknown = append(unknown, seg.Var)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown variables $%s: %w", strings.Join(unknown, ", $"), ErrLoggedAsDash)
	}
	return nil
}

// ParseStreamLogFormat splits a log-format-stream into segments, as
// ParseLogFormat.
func ParseStreamLogFormat(format string) []LogSegment {
	segs, _ := ParseLogFormat(format)
	return segs
}

// parseSkipURLs splits skip-access-log-urls as ingress-nginx does
// (comma-separated, trimmed, empty entries skipped) and returns the
// entries; an entry whose regular expression Go cannot compile is left out
// and reported.
func parseSkipURLs(v string) ([]string, error) {
	var out, bad []string
	for _, u := range splitList(v) {
		if _, _, err := CompileSkipURL(u); err != nil {
			bad = append(bad, u)
			continue
		}
		out = append(out, u)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("entries %q are not regular expressions Go can compile; skipped", bad)
	}
	return out, nil
}

// CompileSkipURL compiles one skip-access-log-urls entry as nginx's map
// reads its key: the string to match ignoring case (re nil), or the
// regular expression of "~" (case-sensitive) or "~*" (ignoring case). A
// leading "\" is dropped from a string.
func CompileSkipURL(entry string) (exact string, re *regexp.Regexp, err error) {
	switch {
	case strings.HasPrefix(entry, "~*"):
		re, err = regexp.Compile("(?i)" + entry[2:])
	case strings.HasPrefix(entry, "~"):
		re, err = regexp.Compile(entry[1:])
	default:
		return strings.TrimPrefix(entry, `\`), nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("compile %q: %w", entry, err)
	}
	return "", re, nil
}

// SkipURLs is skip-access-log-urls compiled: nginx's map $request_uri
// $loggable with every entry mapped to 0. The zero value matches nothing.
type SkipURLs struct {
	exact []string // matched ignoring case
	res   []*regexp.Regexp
}

// CompileSkipURLs compiles the entries of RequestLog.SkipURLs; one that
// does not compile (ParseGlobal never keeps one) is left out.
func CompileSkipURLs(entries []string) SkipURLs {
	var s SkipURLs
	for _, e := range entries {
		exact, re, err := CompileSkipURL(e)
		switch {
		case err != nil:
		case re != nil:
			s.res = append(s.res, re)
		default:
			s.exact = append(s.exact, exact)
		}
	}
	return s
}

// Match reports whether requestURI (nginx's $request_uri) is one whose
// request is not logged.
func (s *SkipURLs) Match(requestURI string) bool {
	for _, e := range s.exact {
		if strings.EqualFold(e, requestURI) {
			return true
		}
	}
	for _, re := range s.res {
		if re.MatchString(requestURI) {
			return true
		}
	}
	return false
}

// Empty reports whether s matches nothing.
func (s *SkipURLs) Empty() bool { return len(s.exact) == 0 && len(s.res) == 0 }
