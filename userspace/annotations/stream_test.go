package annotations

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStream(t *testing.T) {
	t.Parallel()
	zero, five := 0, 5
	tests := []struct {
		name     string
		data     map[string]string
		want     Stream
		wantErrs int
		// effective values
		timeout, nextTimeout time.Duration
		next                 bool
		tries, responses     int
	}{
		{name: "defaults", timeout: 600 * time.Second, nextTimeout: 600 * time.Second, next: true, tries: 3, responses: 1},
		{
			name: "every key",
			data: map[string]string{"proxy-stream-timeout": "10m", "proxy-stream-next-upstream": "false",
				"proxy-stream-next-upstream-timeout": "30", "proxy-stream-next-upstream-tries": "5", "proxy-stream-responses": "0"},
			want:    Stream{Timeout: 10 * time.Minute, NextUpstreamOff: true, NextUpstreamTimeout: 30 * time.Second, NextUpstreamTries: &five, Responses: &zero},
			timeout: 10 * time.Minute, nextTimeout: 30 * time.Second, next: false, tries: 5, responses: 0,
		},
		{
			name: "invalid values keep the defaults",
			data: map[string]string{"proxy-stream-timeout": "0s", "proxy-stream-next-upstream": "maybe",
				"proxy-stream-next-upstream-timeout": "soon", "proxy-stream-next-upstream-tries": "-1", "proxy-stream-responses": "x"},
			wantErrs: 5,
			timeout:  600 * time.Second, nextTimeout: 600 * time.Second, next: true, tries: 3, responses: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, errs := ParseGlobal(tc.data)
			if len(errs) != tc.wantErrs {
				t.Errorf("errors %v, want %d", errs, tc.wantErrs)
			}
			if diff := cmp.Diff(tc.want, g.Stream); diff != "" {
				t.Errorf("Stream (-want +got):\n%s", diff)
			}
			if g.StreamTimeout() != tc.timeout || g.StreamNextUpstreamTimeout() != tc.nextTimeout || g.StreamNextUpstream() != tc.next ||
				g.StreamNextUpstreamTries() != tc.tries || g.StreamResponses() != tc.responses {
				t.Errorf("effective values %v %v %v %v %v, want %v %v %v %v %v",
					g.StreamTimeout(), g.StreamNextUpstreamTimeout(), g.StreamNextUpstream(), g.StreamNextUpstreamTries(), g.StreamResponses(),
					tc.timeout, tc.nextTimeout, tc.next, tc.tries, tc.responses)
			}
		})
	}
}
