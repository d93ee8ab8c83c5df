package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated reports that a write reached the primary but not
// Options.WaitReplicas replicas within Options.WaitTimeout. It wraps
// ErrUnavailable (503): the write may survive or not, so it is not
// acknowledged, as when Redis dies before answering.
var ErrNotReplicated = fmt.Errorf("%w: not confirmed by the replicas", ErrUnavailable)

// durably runs write on one connection of the primary that holds key, then
// waitReplicas on the same connection: WAIT counts the writes of its own
// connection only, so it must follow the write there.
func (s *Store) durably(ctx context.Context, key string, write func(redis.Scripter) error) error {
	return s.onPrimary(ctx, key, func(conn *redis.Conn) error {
		if err := write(conn); err != nil {
			return err
		}
		return s.waitReplicas(ctx, conn)
	})
}

// onPrimary runs run on one connection of the primary that holds key.
func (s *Store) onPrimary(ctx context.Context, key string, run func(*redis.Conn) error) error {
	node, err := s.primaryFor(ctx, key)
	if err != nil {
		return err
	}
	conn := node.Conn()
	defer conn.Close()
	if err := run(conn); err != nil {
		// The node's own client does not follow the Cluster's failovers as
		// the Cluster client does: have it read the slots again.
		if cc, ok := s.rdb.(*redis.ClusterClient); ok && Unreachable(err) {
			cc.ReloadState(ctx)
		}
		return err
	}
	return nil
}

// waitReplicas blocks until Options.WaitReplicas replicas have every write
// made on conn so far, or Options.WaitTimeout passes (ErrNotReplicated).
// It is one call after the write is acknowledged, so that a batch of
// writes on one connection can wait once for all of them.
func (s *Store) waitReplicas(ctx context.Context, conn *redis.Conn) error {
	n, err := conn.Wait(ctx, s.opt.WaitReplicas, s.opt.WaitTimeout).Result()
	if err != nil {
		return storeErr("wait for replicas", err)
	}
	if n < int64(s.opt.WaitReplicas) {
		return fmt.Errorf("wait for replicas: %d of %d: %w", n, s.opt.WaitReplicas, ErrNotReplicated)
	}
	return nil
}

// primaryFor is the client of the primary that serves key: the client itself
// on a single node or behind Sentinel, the slot's primary on a Cluster.
func (s *Store) primaryFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, storeErr("find the key's primary", err)
		}
		return node, nil
	}
	return nil, errors.New("queue: WaitReplicas needs a *redis.Client or *redis.ClusterClient")
}

// durable runs write on c (one of the store's clients) or, with
// Options.WaitReplicas, on one connection of the key's primary followed by
// WAIT: a join batch waits once for all its joiners.
func (s *Store) durable(ctx context.Context, key string, c redis.Scripter, write func(redis.Scripter) error) error {
	if s.opt.WaitReplicas <= 0 {
		return write(c)
	}
	return s.durably(ctx, key, write)
}
