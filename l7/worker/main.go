package worker

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/userspace/cmdline"
)

// Main is the hidden `weir worker` command: the supervisor runs it with the
// control socket and listeners as inherited files (FDControl, FDHTTP,
// FDHTTPS), pinned to its core, with GOMAXPROCS=1. args are the flags after
// "worker"; stdout receives the access log, stderr the log.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weir worker", flag.ContinueOnError)
	cpu := fs.Int("cpu", -1, "core this worker is pinned to (-1: not pinned)")
	httpsPort := fs.Int("https-port", 0, "HTTPS port for ssl-redirect Locations")
	https := fs.Bool("https", true, "an HTTPS listener is inherited")
	accessLog := fs.Bool("access-log", true, "write one JSON line per request to standard output")
	http1 := fs.String("http1-server", string(h1server.DefaultKind), "server of plain HTTP/1.x: weir (its own loop) or net (net/http's)")
	undefinedHosts := fs.Bool("metrics-undefined-hosts", false, "count the requests for hosts no Ingress defines in the request metrics")
	logFormat := fs.String("log-format", "text", "text or json")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	uid := fs.Int("uid", 0, "numeric user to switch to once the sockets are held (0: keep the supervisor's)")
	connSlot := fs.Int("conn-table-slot", -1, "the worker's slot in the limit-connections table inherited as fd 6 (-1: none, a table of its own)")
	gid := fs.Int("gid", 0, "numeric group to switch to once the sockets are held (0: keep the supervisor's)")
	if err := cmdline.Parse(fs, "Runs one proxy worker; the supervisor starts it with its sockets as inherited\nfiles. Not meant to be run by hand.", args, stdout); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("parse --log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	log := slog.New(h).With("worker", *cpu)

	if err := Pin(*cpu); err != nil {
		log.Warn("worker not pinned to its core", "error", err)
	}
	cf := os.NewFile(FDControl, "control")
	if cf == nil {
		return fmt.Errorf("inherit control socket: no file descriptor %d", FDControl)
	}
	ctl, err := net.FileConn(cf)
	cf.Close()
	if err != nil {
		return fmt.Errorf("inherit control socket: %w", err)
	}
	kind, err := h1server.ParseKind(*http1)
	if err != nil {
		return fmt.Errorf("parse --http1-server: %w", err)
	}
	cfg := Config{CPU: *cpu, Control: ctl, HTTPSPort: *httpsPort, Logger: log, HTTP1Server: kind, CountUndefinedHosts: *undefinedHosts}
	if cfg.HTTP, err = Listener(FDHTTP, "http"); err != nil {
		return err
	}
	if *https {
		if cfg.HTTPS, err = Listener(FDHTTPS, "https"); err != nil {
			return err
		}
	}
	if *connSlot >= 0 {
		f := os.NewFile(FDConnTable, "conn-table")
		if f == nil {
			return fmt.Errorf("inherit limit-connections table: no file descriptor %d", FDConnTable)
		}
		if cfg.ConnTable, err = connlimit.OpenTable(f); err != nil {
			return err
		}
		if *connSlot >= cfg.ConnTable.Workers() {
			return fmt.Errorf("inherit limit-connections table: slot %d of a table of %d", *connSlot, cfg.ConnTable.Workers())
		}
		cfg.ConnTableSlot = *connSlot
	}
	if *accessLog {
		cfg.AccessLog = stdout
	}
	if err := SwitchUser(*uid, *gid); err != nil {
		return err
	}
	if err := DropPrivileges(); err != nil {
		log.Debug("worker keeps the supervisor's privileges", "error", err)
	}
	return Run(ctx, cfg)
}
