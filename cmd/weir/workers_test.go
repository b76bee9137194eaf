package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/supervisor"
)

func TestParseWorkers(t *testing.T) {
	t.Parallel()
	online, err := supervisor.OnlineCores()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "0", want: nil},
		{in: "auto", want: online},
		{in: "1", want: online[:1]},
		{in: "999999", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "two", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseWorkers(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseWorkers(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseWorkers(%q) (-want +got)\n%s", tc.in, diff)
			}
		})
	}
}
