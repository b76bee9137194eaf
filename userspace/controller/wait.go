package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// Wait returns the live Snapshot once its Version is above after: at once
// if it already is, else when Sync publishes one (every publisher has
// returned, so in the supervisor every worker has acknowledged it). It
// returns ctx's error, with the live Snapshot (nil before the first), when
// ctx is done first.
func (c *Controller) Wait(ctx context.Context, after uint64) (*snapshot.Snapshot, error) {
	for {
		// The channel first: a version stored after the check below closes
		// it.
		c.pubMu.Lock()
		ch := c.published
		c.pubMu.Unlock()
		if s := c.live.Load(); s != nil && s.Version > after {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return c.live.Load(), fmt.Errorf("wait for configuration version above %d: %w", after, ctx.Err())
		}
	}
}

// MaxConfigWait bounds the wait parameter of ConfigHandler: 60 seconds.
const MaxConfigWait = 60 * time.Second

// ConfigStatus is the JSON answer of ConfigHandler.
type ConfigStatus struct {
	// Version is the live configuration version, 0 before the first.
	Version uint64 `json:"version"`
	// Hash is the live Snapshot's Hash.
	Hash string `json:"hash"`
	// Servers and Routes count the live hosts and paths.
	Servers int `json:"servers"`
	Routes  int `json:"routes"`
	// Warnings counts what the last build rejected or ignored.
	Warnings int `json:"warnings"`
}

// ConfigHandler serves GET /config: the live version as JSON. With
// ?after=N it answers once a version above N is live, or after wait
// (?wait=10s; default 30s, at most MaxConfigWait) with the version live then:
// a client waits for a change without polling.
func (c *Controller) ConfigHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s := c.live.Load()
		if v := q.Get("after"); v != "" {
			after, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				http.Error(w, fmt.Sprintf("parse after=%q: %v", v, err), http.StatusBadRequest)
				return
			}
			wait := 30 * time.Second
			if v := q.Get("wait"); v != "" {
				if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
					http.Error(w, fmt.Sprintf("parse wait=%q: want a duration such as 10s", v), http.StatusBadRequest)
					return
				}
			}
			ctx, cancel := context.WithTimeout(r.Context(), min(wait, MaxConfigWait))
			defer cancel()
			s, _ = c.Wait(ctx, after)
		}
		st := ConfigStatus{}
		if s != nil {
			st = ConfigStatus{Version: s.Version, Hash: s.Hash, Servers: len(s.Servers), Routes: routes(s), Warnings: len(s.Warnings)}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
}
