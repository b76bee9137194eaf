package cmdline

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in the error
	}{
		{name: "no args", wantCode: 0},
		{name: "flag", args: []string{"--n", "3"}, wantCode: 0},
		{name: "help", args: []string{"--help"}, wantOut: "Usage: weir test [flags]\n\nDoes a test.\n\nFlags:\n  -n int"},
		{name: "h", args: []string{"-h", "--bogus"}, wantOut: "Usage: weir test [flags]"},
		{name: "unknown flag", args: []string{"--bogus"}, wantCode: 2, wantErr: "weir test: flag provided but not defined: -bogus (see weir test --help)"},
		{name: "bad value", args: []string{"--n", "many"}, wantCode: 2, wantErr: "invalid value \"many\" for flag -n"},
		{name: "stray argument", args: []string{"--n", "1", "extra"}, wantCode: 2, wantErr: "weir test: unexpected argument \"extra\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("weir test", flag.ContinueOnError)
			fs.Int("n", 1, "a number")
			var out bytes.Buffer
			err := Parse(fs, "Does a test.", tc.args, &out)
			if got := ExitCode(err); got != tc.wantCode {
				t.Errorf("ExitCode(%v) = %d, want %d", err, got, tc.wantCode)
			}
			if !strings.Contains(out.String(), tc.wantOut) || (tc.wantOut == "" && out.Len() > 0) {
				t.Errorf("stdout %q, want it to contain %q", out.String(), tc.wantOut)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	if got := ExitCode(errors.New("run failed")); got != 1 {
		t.Errorf("ExitCode(other error) = %d, want 1", got)
	}
}
