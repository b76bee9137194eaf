package certs

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"sync"
	"time"
)

// DefaultTicketRotation is how often RotateEvery replaces the current
// session ticket key by default.
const DefaultTicketRotation = time.Hour

// TicketKey is one TLS session ticket key.
type TicketKey = [32]byte

// TicketKeys holds the session ticket keys of every tls.Config attached to
// it: the current key encrypts new tickets, the previous one still decrypts
// tickets issued before the last rotation. A ticket thus stays usable for
// one to two rotation periods. The keys can be generated here (Rotate) or
// handed out by a supervisor (Set) so that every worker resumes sessions
// the others issued. It is safe for concurrent use.
type TicketKeys struct {
	mu       sync.Mutex
	current  TicketKey
	previous *TicketKey // nil before the first rotation
	fixed    *TicketKey // ssl-session-ticket-key: the only key while set
	configs  []*tls.Config
}

// NewTicketKeys returns TicketKeys with a random current key and no
// previous one.
func NewTicketKeys() *TicketKeys {
	k := &TicketKeys{}
	k.current = randomKey()
	return k
}

func randomKey() TicketKey {
	var key TicketKey
	_, _ = rand.Read(key[:]) // crypto/rand.Read never fails
	return key
}

// Attach makes cfg use the keys now and after every change. cfg must be a
// server configuration.
func (k *TicketKeys) Attach(cfg *tls.Config) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.configs = append(k.configs, cfg)
	cfg.SetSessionTicketKeys(k.keysLocked())
}

// Rotate makes a new random key current; the current one becomes the
// previous, and the previous one is dropped.
func (k *TicketKeys) Rotate() {
	k.mu.Lock()
	defer k.mu.Unlock()
	prev := k.current
	k.current, k.previous = randomKey(), &prev
	k.applyLocked()
}

// Set installs keys chosen elsewhere (a supervisor sharing them with every
// worker). previous nil means none.
func (k *TicketKeys) Set(current TicketKey, previous *TicketKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.current = current
	k.previous = nil
	if previous != nil {
		p := *previous
		k.previous = &p
	}
	k.applyLocked()
}

// Keys returns the current key and the previous one (nil before the first
// rotation), e.g. for a supervisor to hand them out.
func (k *TicketKeys) Keys() (current TicketKey, previous *TicketKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.previous != nil {
		p := *k.previous
		previous = &p
	}
	return k.current, previous
}

// RotateEvery rotates the keys every period (DefaultTicketRotation when
// period is not positive) until ctx is done.
func (k *TicketKeys) RotateEvery(ctx context.Context, period time.Duration) {
	if period <= 0 {
		period = DefaultTicketRotation
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.Rotate()
		}
	}
}

// SetFixed makes key (32 bytes: ssl-session-ticket-key) the only key of
// every attached configuration: it seals and opens every ticket, whatever
// Rotate and Set do meanwhile. A key of another length (nil) goes back to
// the rotating keys.
func (k *TicketKeys) SetFixed(key []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var fixed *TicketKey
	if len(key) == len(TicketKey{}) {
		fixed = new(TicketKey)
		copy(fixed[:], key)
	}
	if fixed == nil && k.fixed == nil || fixed != nil && k.fixed != nil && *fixed == *k.fixed {
		return
	}
	k.fixed = fixed
	k.applyLocked()
}

func (k *TicketKeys) keysLocked() []TicketKey {
	if k.fixed != nil {
		return []TicketKey{*k.fixed}
	}
	if k.previous == nil {
		return []TicketKey{k.current}
	}
	return []TicketKey{k.current, *k.previous}
}

func (k *TicketKeys) applyLocked() {
	keys := k.keysLocked()
	for _, cfg := range k.configs {
		// Safe while cfg serves handshakes.
		cfg.SetSessionTicketKeys(keys)
	}
}
