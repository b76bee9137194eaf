// Command benchtool is the Go side of `make bench` (bench/bench.sh): the
// backend every proxy forwards to, the idle-connection holder, the wrk output
// parser and the report writer. Each is a subcommand:
//
//	benchtool backend -listen 127.0.0.1:9000
//	benchtool idle -addr 127.0.0.1:8080 -host bench.local -n 10000 [-tls] [-hold 10m]
//	wrk --latency ... | benchtool wrk
//	benchtool report -in runs.tsv -out bench/results -date 2026-12-05 -about "..."
//
// See bench/README.md for the whole harness.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool backend|idle|wrk|report [flags]")
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "backend":
		err = runBackend(args)
	case "idle":
		err = runIdle(args)
	case "wrk":
		err = runWrk(os.Stdin, os.Stdout)
	case "report":
		err = runReport(args, os.Stdout)
	default:
		err = fmt.Errorf("unknown subcommand %q (want backend, idle, wrk or report)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}
