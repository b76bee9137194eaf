package annotations

import (
	"testing"
	"time"
)

// TestParseLoggingKeys covers generate-request-id, skip-access-log-urls,
// enable-access-log-for-default-backend, upstream-keepalive-time,
// allow-backend-server-header and default-type: each applied, and each
// invalid value warned about with its default kept.
func TestParseLoggingKeys(t *testing.T) {
	t.Parallel()
	runParseGlobal(t, []parseGlobalCase{
		{
			name: "defaults written out change nothing",
			data: map[string]string{"generate-request-id": "true", "enable-access-log-for-default-backend": "false",
				"allow-backend-server-header": "false", "default-type": "text/html", "skip-access-log-urls": "",
				"log-format-stream": DefaultLogFormatStream},
		},
		{
			name: "every key",
			data: map[string]string{
				"generate-request-id": "false", "enable-access-log-for-default-backend": "true",
				"skip-access-log-urls": " /healthz, ,~^/metrics, ~*\\.PNG$ ", "upstream-keepalive-time": "30m",
				"allow-backend-server-header": "true", "default-type": " application/octet-stream ",
				"log-format-stream": "$remote_addr $upstream_addr $status",
			},
			want: Global{
				Logs: RequestLog{NoRequestID: true, DefaultBackend: true, SkipURLs: []string{"/healthz", "~^/metrics", `~*\.PNG$`},
					Stream: "$remote_addr $upstream_addr $status"},
				UpstreamKeepaliveTime:    30 * time.Minute,
				AllowBackendServerHeader: true,
				DefaultType:              "application/octet-stream",
			},
		},
		{
			name: "invalid values keep the defaults",
			data: map[string]string{
				"generate-request-id": "no", "enable-access-log-for-default-backend": "yes",
				"skip-access-log-urls": "/ok,~(unclosed", "upstream-keepalive-time": "0",
				"allow-backend-server-header": "maybe", "default-type": "html", "log-format-stream": "$status $request $nope",
			},
			want: Global{Logs: RequestLog{SkipURLs: []string{"/ok"}, Stream: "$status $request $nope"}},
			wantErrs: []string{
				`configmap key allow-backend-server-header: value "maybe": must be "true" or "false"`,
				`configmap key default-type: value "html": must be a media type such as "text/html"`,
				`configmap key upstream-keepalive-time: value "0": must be a positive time such as 240s, 4m or 30`,
				`configmap key generate-request-id: value "no": must be "true" or "false"`,
				`configmap key enable-access-log-for-default-backend: value "yes": must be "true" or "false"`,
				`configmap key log-format-stream: value "$status $request $nope": unknown variables $request, $nope: logged as "-"`,
				`configmap key skip-access-log-urls: value "/ok,~(unclosed": entries ["~(unclosed"] are not regular expressions Go can compile; skipped`,
			},
		},
	})
}

func TestLoggingKeysDefaults(t *testing.T) {
	t.Parallel()
	var zero Global
	if zero.Logs.StreamFormat() != DefaultLogFormatStream {
		t.Errorf("zero Global: StreamFormat %q", zero.Logs.StreamFormat())
	}
	if zero.UpstreamKeepaliveLifetime() != time.Hour || zero.ContentType() != "text/html" {
		t.Errorf("zero Global: UpstreamKeepaliveLifetime %v, ContentType %q, want 1h and text/html", zero.UpstreamKeepaliveLifetime(), zero.ContentType())
	}
	for _, key := range []string{"generate-request-id", "skip-access-log-urls", "enable-access-log-for-default-backend",
		"upstream-keepalive-time", "allow-backend-server-header", "default-type", "log-format-stream"} {
		if e := ConfigMapEntry(key); e.Status != StatusApplied {
			t.Errorf("%s: status %q (%s), want applied", key, e.Status, e.Note)
		}
	}
}

func TestCompileSkipURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		entry, uri string
		want       bool
	}{
		{"/healthz", "/HEALTHZ", true}, // strings ignore case, as nginx's map
		{"/healthz", "/healthz?x=1", false},
		{"~^/metrics", "/metrics?x", true},
		{"~^/metrics", "/Metrics", false},
		{`~*\.png$`, "/a/B.PNG", true},
		{`\~home`, "/~home", false},
		{`\~home`, "~HOME", true},
	}
	if s := CompileSkipURLs(nil); !s.Empty() || s.Match("/") {
		t.Errorf("no entries: Empty %v, Match(\"/\") %v", s.Empty(), s.Match("/"))
	}
	for _, tc := range tests {
		if _, _, err := CompileSkipURL(tc.entry); err != nil {
			t.Fatalf("CompileSkipURL(%q): %v", tc.entry, err)
		}
		s := CompileSkipURLs([]string{tc.entry})
		if got := s.Match(tc.uri); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.entry, tc.uri, got, tc.want)
		}
	}
}
