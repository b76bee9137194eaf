package main

import (
	"fmt"
	"os"
	"path/filepath"
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
			got, err := parseWorkers(tc.in, t.TempDir())
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseWorkers(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseWorkers(%q) (-want +got)\n%s", tc.in, diff)
			}
		})
	}
}

// TestParseWorkersCgroupLimit: auto starts as many workers as the cgroup's
// CPU limit allows, on the first online cores, as ingress-nginx's
// worker-processes default (test/e2e/cgroups/cgroups.go: quota 4 over
// period 2 is 2); a limit at or above the online cores, or none, leaves
// one per online core, and a number is taken as given.
func TestParseWorkersCgroupLimit(t *testing.T) {
	t.Parallel()
	online, err := supervisor.OnlineCores()
	if err != nil {
		t.Fatal(err)
	}
	root := func(cpuMax string) string {
		dir := t.TempDir()
		for name, body := range map[string]string{"cgroup.controllers": "cpu\n", "cpu.max": cpuMax} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	tests := []struct {
		in, cpuMax string
		want       []int
	}{
		{in: "auto", cpuMax: "100000 100000", want: online[:1]},
		{in: "auto", cpuMax: "max 100000", want: online},
		{in: "auto", cpuMax: fmt.Sprintf("%d 100000", 100000*(len(online)+1)), want: online},
		{in: "1", cpuMax: "max 100000", want: online[:1]},
	}
	if len(online) >= 2 {
		tests = append(tests, struct {
			in, cpuMax string
			want       []int
		}{in: "auto", cpuMax: "4 2", want: online[:2]})
	}
	for _, tc := range tests {
		got, err := parseWorkers(tc.in, root(tc.cpuMax))
		if err != nil {
			t.Fatalf("parseWorkers(%q) with cpu.max %q: %v", tc.in, tc.cpuMax, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseWorkers(%q) with cpu.max %q (-want +got)\n%s", tc.in, tc.cpuMax, diff)
		}
	}
}
