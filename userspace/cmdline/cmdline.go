// Package cmdline parses the command lines of Weir's commands one way:
// -h and --help print the command's usage on standard output and succeed
// without doing anything else; an unknown flag, a bad flag value or a stray
// argument is a UsageError, on which Weir exits with status 2.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// UsageError is a command line that the command cannot run with.
type UsageError struct {
	// Command is the command as typed: "weir inspect".
	Command string
	// Err says what is wrong with the command line.
	Err error
}

// Error returns "<command>: <reason> (see <command> --help)".
func (e *UsageError) Error() string {
	return fmt.Sprintf("%s: %v (see %s --help)", e.Command, e.Err, e.Command)
}

// Unwrap returns the reason.
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError of the command fs is named after.
func Usagef(fs *flag.FlagSet, format string, args ...any) error {
	return &UsageError{Command: fs.Name(), Err: fmt.Errorf(format, args...)}
}

// Parse parses args with fs, whose name is the command as typed ("weir
// inspect"), for a command that takes flags only. On -h or --help it writes
// "Usage: <name> [flags]", about and the flags with their defaults to
// stdout and returns flag.ErrHelp: the caller returns it at once, and Weir
// exits with status 0. A parse error or an argument left over is a
// UsageError.
func Parse(fs *flag.FlagSet, about string, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard) // Parse's errors are returned, not printed
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "Usage: %s [flags]\n\n%s\n", fs.Name(), about)
		if hasFlags(fs) {
			fmt.Fprintln(stdout, "\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return flag.ErrHelp
	}
	if err != nil {
		return &UsageError{Command: fs.Name(), Err: err}
	}
	if fs.NArg() > 0 {
		return Usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// ExitCode is the exit status of a command that returned err: 0 for nil and
// flag.ErrHelp, 2 for a UsageError, 1 otherwise.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}
