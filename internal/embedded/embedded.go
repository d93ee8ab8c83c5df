// Package embedded is standalone mode's store: an in-memory Redis-compatible
// server (miniredis) listening on a loopback socket, so the very same
// go-redis client code and Lua scripts run as in production. It keeps
// nothing on disk; everything is gone when the process exits.
package embedded

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Store is a running embedded server.
type Store struct {
	srv *miniredis.Miniredis
}

// Start starts the server on a free 127.0.0.1 port.
func Start() (*Store, error) {
	srv := miniredis.NewMiniRedis()
	if err := srv.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("start embedded store: %w", err)
	}
	return &Store{srv: srv}, nil
}

// Addr is the server's host:port.
func (s *Store) Addr() string { return s.srv.Addr() }

// Client returns a client for it.
func (s *Store) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.srv.Addr(), ContextTimeoutEnabled: true, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
}

// Close stops the server; its data is gone.
func (s *Store) Close() { s.srv.Close() }
