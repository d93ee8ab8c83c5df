package redistest

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/waitroom/waitroom/internal/relay"
)

// Failover is a primary whose replica reaches it through a relay that can
// hold the replication stream back (Repl), and clients that, like go-redis's
// Sentinel client, dial whichever node is the primary now: first the
// primary, through a relay that can stall a reply (Replies), then, once
// Promote has run, the promoted replica.
type Failover struct {
	Primary, Replica *Server
	Repl, Replies    *relay.Relay
	// P and R go straight to each node.
	P, R *redis.Client

	at atomic.Value // the address the clients dial
}

// StartFailover starts the primary and its replica, in sync; they stop when
// the test ends.
func StartFailover(tb testing.TB) *Failover {
	tb.Helper()
	f := &Failover{}
	f.Primary, f.Replica = StartReplicated(tb, func(tb testing.TB, to string) string {
		f.Repl = relay.Start(tb, to)
		return f.Repl.Addr()
	})
	f.P, f.R = f.Primary.Client(), f.Replica.Client()
	f.Replies = relay.Start(tb, f.Primary.Addr())
	f.at.Store(f.Replies.Addr())
	return f
}

// StartReplicated starts a primary with one replica, in sync; they stop
// when the test ends. The replica reaches its primary at link(the
// primary's address), a relay of the test's, or directly when link is nil.
func StartReplicated(tb testing.TB, link func(tb testing.TB, to string) string) (primary, replica *Server) {
	tb.Helper()
	// No diskless-sync delay, on the replica too (a failover test promotes
	// it): a replica's first sync would wait 5 s.
	noDelay := []string{"--repl-diskless-sync-delay", "0"}
	primary = Start(tb, Options{Args: noDelay})
	addr := primary.Addr()
	if link != nil {
		addr = link(tb, addr)
	}
	host, port, _ := strings.Cut(addr, ":")
	replica = Start(tb, Options{Args: append(noDelay, "--replicaof", host, port)})
	waitSynced(tb, replica.Client(), "the replica syncs")
	return primary, replica
}

// Client returns a client of the primary of the moment, with
// internal/redisconn's settings; it is closed when the test ends.
func (f *Failover) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	return DialClient(tb, func() string { return f.at.Load().(string) })
}

// DialClient returns a client with internal/redisconn's settings that dials
// the address addr returns at each dial; it is closed when the test ends.
func DialClient(tb testing.TB, addr func() string) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: "the-primary",
		Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr())
		},
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
		MaxRetries: 1, DialerRetries: 2, ContextTimeoutEnabled: true, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// InSync waits until the replica has every byte the primary has written.
func (f *Failover) InSync(tb testing.TB) {
	tb.Helper()
	want := ReplOffset(tb, f.P, "master_repl_offset")
	waitFor(tb, 5*time.Second, 5*time.Millisecond, "the replica catches up", func() bool {
		return ReplOffset(tb, f.R, "slave_repl_offset") >= want
	})
}

// Blocked is how many clients of the primary wait in a blocking command
// (here: WAIT).
func (f *Failover) Blocked(tb testing.TB) int {
	tb.Helper()
	for line := range strings.Lines(f.P.Info(context.Background(), "clients").Val()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "blocked_clients:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				tb.Fatalf("redistest: blocked_clients: %v", err)
			}
			return n
		}
	}
	tb.Fatal("redistest: no blocked_clients in INFO clients")
	return 0
}

// Kill SIGKILLs the primary: what the replica had not received is gone.
func (f *Failover) Kill(tb testing.TB) {
	tb.Helper()
	if err := f.Primary.Kill(); err != nil {
		tb.Fatalf("redistest: kill the primary: %v", err)
	}
}

// Promote is the rest of the failover: the replica made the primary
// (Sentinel's REPLICAOF NO ONE), and the clients dialling it.
func (f *Failover) Promote(tb testing.TB) {
	tb.Helper()
	if err := f.R.Do(context.Background(), "REPLICAOF", "NO", "ONE").Err(); err != nil {
		tb.Fatalf("redistest: promote the replica: %v", err)
	}
	f.at.Store(f.Replica.Addr())
}

// Rejoin starts the old primary again as a replica of the promoted node, as
// an operator's restart script does, and waits until it is in sync: the
// promoted node can confirm WAIT 1 again.
func (f *Failover) Rejoin(tb testing.TB) {
	tb.Helper()
	if err := f.Primary.StartReplicaOf(f.Replica); err != nil {
		tb.Fatalf("redistest: restart the old primary: %v", err)
	}
	waitSynced(tb, f.Primary.Client(), "the old primary syncs with the promoted one")
}

// waitSynced waits until the replica c has finished its sync with its
// primary.
func waitSynced(tb testing.TB, c *redis.Client, what string) {
	tb.Helper()
	waitFor(tb, 10*time.Second, 20*time.Millisecond, what, func() bool {
		info := c.Info(context.Background(), "replication").Val()
		return strings.Contains(info, "master_link_status:up") && strings.Contains(info, "master_sync_in_progress:0")
	})
}

// ReplOffset is a replication offset of INFO replication (field
// master_repl_offset or slave_repl_offset).
func ReplOffset(tb testing.TB, c *redis.Client, field string) int64 {
	tb.Helper()
	for line := range strings.Lines(c.Info(context.Background(), "replication").Val()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				tb.Fatalf("redistest: %s: %v", field, err)
			}
			return n
		}
	}
	tb.Fatalf("redistest: no %s in INFO replication", field)
	return 0
}

func waitFor(tb testing.TB, within, every time.Duration, what string, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %s: not within %v", what, within)
		}
		time.Sleep(every)
	}
}
