package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/weir-lb/weir/l7/proxy"
	"github.com/weir-lb/weir/userspace/cmdline"
)

// The Server header of server-tokens "true" names this build's version.
func init() { proxy.Version, _, _ = buildInfo() }

// version and commit name the build. The Makefile sets them with
// -ldflags "-X main.version=$(git describe) -X main.commit=$(git rev-parse HEAD)";
// without, buildInfo falls back to what the Go toolchain stamped.
var version, commit string

// buildInfo returns the version (default: the main module's, else "devel"),
// the commit (default: the vcs.revision go build stamped, with "-dirty"
// when the tree had changes, else "unknown") and the Go version.
func buildInfo() (ver, rev, goVersion string) {
	ver, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			ver = bi.Main.Version
		}
		if rev == "" {
			dirty := false
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if rev != "" && dirty {
				rev += "-dirty"
			}
		}
	}
	return cmp.Or(ver, "devel"), cmp.Or(rev, "unknown"), runtime.Version()
}

// printVersion writes the version, commit and Go version, one per line.
func printVersion(w io.Writer) error {
	ver, rev, goVersion := buildInfo()
	_, err := fmt.Fprintf(w, "weir %s\ncommit: %s\ngo: %s %s/%s\n", ver, rev, goVersion, runtime.GOOS, runtime.GOARCH)
	return err
}

// runVersion is `weir version`.
func runVersion(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("weir version", flag.ContinueOnError)
	if err := cmdline.Parse(fs, "Prints the version, the commit and the Go version of weir.", args, stdout); err != nil {
		return err
	}
	return printVersion(stdout)
}
