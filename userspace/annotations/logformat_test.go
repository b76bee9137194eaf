package annotations

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLogFormat(t *testing.T) {
	segs, unknown := ParseLogFormat(`$remote_addr [${time_local}] $ $http_x_a "$nope" $nope$also${} $`)
	want := []LogSegment{
		{Var: "remote_addr"}, {Literal: " ["}, {Var: "time_local"}, {Literal: "] $ "}, {Var: "http_x_a"},
		{Literal: ` "`}, {Var: "nope"}, {Literal: `" `}, {Var: "nope"}, {Var: "also"}, {Literal: "${} $"},
	}
	if diff := cmp.Diff(want, segs); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"nope", "also"}, unknown); diff != "" {
		t.Errorf("unknown (-want +got):\n%s", diff)
	}
	if _, unknown := ParseLogFormat(DefaultLogFormat); unknown != nil {
		t.Errorf("the default format uses unknown variables %v", unknown)
	}
}

func TestParseGlobalLogFormat(t *testing.T) {
	for _, tc := range []struct {
		data map[string]string
		want LogFormat
		errs int
	}{
		{nil, LogFormat{}, 0},
		{map[string]string{"log-format-escape-json": "true"}, LogFormat{Escape: "json"}, 0},
		{map[string]string{"log-format-upstream": "$status", "log-format-escape-json": "true"}, LogFormat{Upstream: "$status", Escape: "json"}, 0},
		{map[string]string{"log-format-upstream": "$status", "log-format-escape-json": "true", "log-format-escape-none": "true"}, LogFormat{Upstream: "$status", Escape: "none"}, 0},
		{map[string]string{"log-format-upstream": "$status $x $x $y", "log-format-escape-json": "maybe"}, LogFormat{Upstream: "$status $x $x $y"}, 2},
		{map[string]string{"log-format-upstream": "  "}, LogFormat{}, 0},
	} {
		g, errs := ParseGlobal(tc.data)
		if g.LogFormat != tc.want || len(errs) != tc.errs {
			t.Errorf("ParseGlobal(%v) = %+v, %v; want %+v and %d errors", tc.data, g.LogFormat, errs, tc.want, tc.errs)
		}
		for _, err := range errs {
			var e *Error
			if !errors.As(err, &e) || !e.ConfigMap {
				t.Errorf("error %v is not a ConfigMap *Error", err)
			}
			if e.Annotation == "log-format-upstream" && (!strings.Contains(err.Error(), "$x, $y") || !errors.Is(err, ErrLoggedAsDash)) {
				t.Errorf("error %q does not name $x, $y once each", err)
			}
		}
	}
}
