package redistest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// MasterName is the name the Sentinels monitor the primary under.
	MasterName = "waitroom"
	// sentinelReplicas and sentinelCount: a primary, two replicas, three
	// Sentinels with a quorum of two, the smallest set that survives one
	// dead Sentinel as well as a dead primary.
	sentinelReplicas = 2
	sentinelCount    = 3
	sentinelQuorum   = 2
	// DownAfter is how long the Sentinels wait for a silent primary before
	// they call it down: short, so a test's failover takes seconds.
	DownAfter = time.Second
	// setTimeout bounds the start of the whole set, up to every Sentinel
	// knowing every replica and every other Sentinel.
	setTimeout = 60 * time.Second
)

// Sentinel is a primary, two replicas and three Sentinels, each its own
// redis-server or redis-sentinel process on 127.0.0.1, as production runs
// Redis with automatic failover. The primary is the first data node at
// start; after a failover it is whichever node the Sentinels promoted.
type Sentinel struct {
	// Data are the primary and replicas, in start order (Data[0] is the
	// first primary). Each keeps its port across Kill and Start.
	Data []*Server
	// Sentinels are the three redis-sentinel processes.
	Sentinels []*Server

	clients clients
}

// NewSentinel starts the set and returns once both replicas are in sync
// and every Sentinel knows both replicas and both other Sentinels. opt
// applies to the data nodes. The caller must Close it; tests should use
// StartSentinel instead.
func NewSentinel(opt Options) (*Sentinel, error) {
	if _, err := lookPath("redis-sentinel", "redis-sentinel"); err != nil {
		return nil, err
	}
	s := &Sentinel{}
	primary, err := NewServer(opt)
	if err != nil {
		return nil, err
	}
	replicas, err := startN(sentinelReplicas, func() (*Server, error) {
		return newServer(opt, []string{"--replicaof", "127.0.0.1", strconv.Itoa(primary.port)}, freePort)
	})
	s.Data = append([]*Server{primary}, replicas...)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d\n"+
		"sentinel down-after-milliseconds %s %d\n"+
		"sentinel failover-timeout %s 10000\n"+
		"sentinel parallel-syncs %s 2\n",
		MasterName, primary.port, sentinelQuorum, MasterName, DownAfter.Milliseconds(), MasterName, MasterName)
	s.Sentinels, err = startN(sentinelCount, func() (*Server, error) {
		return newProcess(spec{bin: "redis-sentinel", conf: conf, pick: freePort})
	})
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), setTimeout)
	defer cancel()
	if err := s.waitKnown(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// SentinelAddrs are the Sentinels' addresses, for REDIS_SENTINEL_ADDRS.
func (s *Sentinel) SentinelAddrs() []string { return addrs(s.Sentinels) }

// Client returns a failover client (go-redis's, as redisconn opens it) that
// follows the primary. Close closes it too.
func (s *Sentinel) Client() *redis.Client {
	return add(&s.clients, redis.NewFailoverClient(&redis.FailoverOptions{MasterName: MasterName,
		SentinelAddrs: s.SentinelAddrs(), DisableIdentity: true}))
}

// Primary asks the Sentinels which data node is the primary now: the one a
// majority of the Sentinels that answer name.
func (s *Sentinel) Primary(ctx context.Context) (*Server, error) {
	votes := map[string]int{}
	for _, sn := range s.Sentinels {
		if !sn.running() {
			continue
		}
		sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr(), MaxRetries: -1, DialTimeout: time.Second})
		addr, err := sc.GetMasterAddrByName(ctx, MasterName).Result()
		_ = sc.Close()
		if err == nil && len(addr) == 2 {
			votes[addr[0]+":"+addr[1]]++
		}
	}
	for addr, n := range votes {
		if n >= sentinelQuorum {
			for _, d := range s.Data {
				if d.Addr() == addr {
					return d, nil
				}
			}
			return nil, fmt.Errorf("redistest: the Sentinels name %s, which is none of the set's nodes", addr)
		}
	}
	return nil, fmt.Errorf("redistest: no majority of the Sentinels names one primary: %v", votes)
}

// WaitFailover waits until the Sentinels name a primary other than old and
// that node says it is a primary, and returns it.
func (s *Sentinel) WaitFailover(ctx context.Context, old *Server) (*Server, error) {
	var p *Server
	err := poll(ctx, 50*time.Millisecond, func() error {
		var err error
		if p, err = s.Primary(ctx); err != nil {
			return err
		}
		return newPrimary(p, old)
	})
	if err != nil {
		return nil, fmt.Errorf("redistest: no failover away from %s: %w", old.Addr(), err)
	}
	return p, nil
}

// newPrimary says why p, named primary after old, is not the new primary
// yet: it is old, or it does not say it is a primary.
func newPrimary(p, old *Server) error {
	if p == old {
		return fmt.Errorf("%s is still named the primary", old.Addr())
	}
	role, err := nodeRole(p.Addr())
	if err != nil {
		return err
	}
	if role != "master" {
		return fmt.Errorf("%s is named the primary but its role is %q", p.Addr(), role)
	}
	return nil
}

// WaitReplicaOf waits until node, started again after a failover, has been
// turned into a replica of primary by the Sentinels and is in sync, or of
// the node a later failover promoted: on a loaded machine the Sentinels
// have run a second failover seconds after the first.
func (s *Sentinel) WaitReplicaOf(ctx context.Context, node, primary *Server) error {
	err := poll(ctx, 50*time.Millisecond, func() error {
		if inSync(node, primary) == nil {
			return nil
		}
		now, err := s.Primary(ctx)
		if err != nil {
			return err
		}
		return inSync(node, now)
	})
	if err != nil {
		return fmt.Errorf("redistest: %s not in sync with %s or a later primary: %w", node.Addr(), primary.Addr(), err)
	}
	return nil
}

// Close closes the clients made by Client and stops every process.
func (s *Sentinel) Close() error {
	s.clients.closeAll()
	var errs []error
	for _, sn := range s.Sentinels {
		errs = append(errs, sn.Close())
	}
	for _, d := range s.Data {
		errs = append(errs, d.Close())
	}
	return errors.Join(errs...)
}

// waitKnown waits until the replicas are in sync and every Sentinel sees
// the primary with both replicas and both other Sentinels: before that, a
// killed primary might not be failed over.
func (s *Sentinel) waitKnown(ctx context.Context) error {
	for _, r := range s.Data[1:] {
		if err := waitInSync(ctx, r, s.Data[0]); err != nil {
			return err
		}
	}
	err := poll(ctx, 100*time.Millisecond, func() error {
		for _, sn := range s.Sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr(), MaxRetries: -1})
			m, err := sc.Master(ctx, MasterName).Result()
			_ = sc.Close()
			switch {
			case err != nil:
				return err
			case m["num-slaves"] != strconv.Itoa(sentinelReplicas):
				return fmt.Errorf("sentinel %s knows %s replicas", sn.Addr(), m["num-slaves"])
			case m["num-other-sentinels"] != strconv.Itoa(sentinelCount-1):
				return fmt.Errorf("sentinel %s knows %s other sentinels", sn.Addr(), m["num-other-sentinels"])
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redistest: sentinel set not ready: %w", err)
	}
	return nil
}

// waitInSync waits until replica reports primary as its primary with the
// link up and no sync in progress.
func waitInSync(ctx context.Context, replica, primary *Server) error {
	err := poll(ctx, 50*time.Millisecond, func() error { return inSync(replica, primary) })
	if err != nil {
		return fmt.Errorf("redistest: %s not in sync with %s: %w", replica.Addr(), primary.Addr(), err)
	}
	return nil
}

// inSync says why replica is not a replica of primary in sync, or nil.
func inSync(replica, primary *Server) error {
	_, port, _ := strings.Cut(primary.Addr(), ":")
	info, err := command(replica.Addr(), time.Second, "INFO", "replication")
	if err != nil {
		return err
	}
	if f := infoFields(info); f["role"] != "slave" || f["master_port"] != port ||
		f["master_link_status"] != "up" || f["master_sync_in_progress"] != "0" {
		return fmt.Errorf("replication: %v", f)
	}
	return nil
}

// nodeRole is "master" or "slave", from INFO replication.
func nodeRole(addr string) (string, error) {
	info, err := command(addr, time.Second, "INFO", "replication")
	if err != nil {
		return "", err
	}
	return infoFields(info)["role"], nil
}

func infoFields(info string) map[string]string {
	f := map[string]string{}
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			f[k] = v
		}
	}
	return f
}
