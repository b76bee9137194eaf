package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/weir-lb/weir/userspace/daemon"
	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/supervisor"
	"github.com/weir-lb/weir/userspace/upgrade"
)

// parseWorkers turns --workers into the cores to run one worker each on:
// none for "0" (the in-process mode), every online core for "auto" (the
// first of them that the CPU limit of the cgroup file system at
// cgroupRoot allows when it is lower, as ingress-nginx's worker-processes
// default), the first N for N.
func parseWorkers(v, cgroupRoot string) ([]int, error) {
	if v == "0" {
		return nil, nil
	}
	online, err := supervisor.OnlineCores()
	if err != nil {
		return nil, fmt.Errorf("parse --workers: %w", err)
	}
	if v == "auto" {
		if n := supervisor.CPULimit(cgroupRoot); n > 0 && n < len(online) {
			return online[:n], nil
		}
		return online, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("parse --workers: %q is not auto, 0 or a number of workers", v)
	}
	if n > len(online) {
		return nil, fmt.Errorf("parse --workers: %d workers but %d online cores (one worker per core)", n, len(online))
	}
	return online[:n], nil
}

// runSupervisor runs Weir as a supervisor with one worker process per core,
// on the XDP data path where it attaches (the SK_REUSEPORT program then hands
// each connection to the worker of the core XDP chose), else on plain
// SO_REUSEPORT sockets.
func runSupervisor(ctx context.Context, o *options, cfg daemon.Config, cores []int, feed *datapath.SourceListPublisher, take *upgrade.Takeover, stderr io.Writer) error {
	log := cfg.Logger
	uid, gid := 0, 0
	if os.Geteuid() == 0 { // a worker can only switch away from root
		uid, gid = o.workerUID, o.workerGID
	}
	sup, err := supervisor.New(supervisor.Config{
		BindAddress:             cfg.BindAddress,
		HTTPPort:                cfg.HTTPPort,
		HTTPSPort:               cfg.HTTPSPort,
		MetricsAddress:          cfg.MetricsAddress,
		MetricsPort:             cfg.MetricsPort,
		HealthPath:              cfg.HealthPath,
		Profiling:               cfg.Profiling,
		Cores:                   cores,
		Manifests:               cfg.Manifests,
		ManifestLimit:           cfg.ManifestLimit,
		Source:                  cfg.Source,
		Registry:                cfg.Registry,
		Controller:              cfg.Controller,
		RequestMetrics:          cfg.RequestMetrics,
		Publishers:              cfg.Publishers,
		AccessLog:               cfg.AccessLog,
		HTTP1Server:             string(cfg.HTTP1Server),
		WorkerLog:               stderr,
		LogFormat:               o.logFormat,
		LogLevel:                logLevel(o),
		TicketRotation:          cfg.TicketRotation,
		WorkerUID:               uid,
		WorkerGID:               gid,
		ShutdownGracePeriod:     cfg.ShutdownGracePeriod,
		WorkerShutdownTimeout:   cfg.WorkerShutdownTimeout,
		PostShutdownGracePeriod: cfg.PostShutdownGracePeriod,
		Listeners:               cfg.Listeners,
		Logger:                  log,
	})
	if err != nil {
		return err
	}
	live := func() bool {
		for _, w := range sup.Workers() {
			if w.Version == 0 {
				return false
			}
		}
		return true
	}
	steer := func() {
		if err := sup.SteerByCore(); err != nil {
			log.Warn("SK_REUSEPORT program not attached: each worker still serves, but a connection may be accepted off the core XDP chose",
				"error", err)
		}
	}
	unsteer := func() {
		if err := sup.ReleaseSteering(); err != nil {
			log.Warn("the new weir cannot steer connections by core", "error", err)
		}
	}
	return serveNode(ctx, o, sup, nodeHooks{live: live, steered: steer, unsteer: unsteer}, feed, take, log)
}
