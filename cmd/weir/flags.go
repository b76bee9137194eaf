package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/weir-lb/weir/userspace/cmdline"
)

// parseWithEnv parses the command line of a command (see cmdline.Parse),
// after setting each of its flags from its WEIR_* environment variable
// (envName) when that is set: the command line wins.
func parseWithEnv(fs *flag.FlagSet, about string, args []string, stdout io.Writer) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if noEnv[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return cmdline.Parse(fs, about, args, stdout)
}

// noEnv are the flags no environment variable sets: a WEIR_VERSION a
// deployment sets for its own use must not turn Weir into `weir version`.
var noEnv = map[string]bool{"version": true}

// byteSize is a flag of a size in bytes, written as a Kubernetes quantity:
// 4Mi, 512Ki, 1M or a plain number of bytes.
type byteSize int64

func (b *byteSize) String() string {
	return resource.NewQuantity(int64(*b), resource.BinarySI).String()
}

func (b *byteSize) Set(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("parse size %q: %w", v, err)
	}
	n, ok := q.AsInt64()
	if !ok || n <= 0 {
		return fmt.Errorf("parse size %q: want a positive whole number of bytes, such as 4Mi", v)
	}
	*b = byteSize(n)
	return nil
}
