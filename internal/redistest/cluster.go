package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// clusterNodes is the number of masters: the fewest redis-cli accepts.
	clusterNodes = 3
	// clusterSlots is the number of hash slots every node must see assigned.
	clusterSlots = 16384
	// busOffset is where Redis puts the cluster bus port, relative to the
	// client port, unless cluster-port is set.
	busOffset = 10000
	// maxClusterPort keeps port+busOffset clear of the top of the port range.
	maxClusterPort = 50000
	// clusterTimeout bounds redis-cli and the wait for cluster_state:ok.
	clusterTimeout = 60 * time.Second
)

// Cluster is three redis-server masters joined into a Redis Cluster, each
// with its own port and temporary directory, and no replicas. It exists so
// tests prove that every multi-key script keeps its keys in one hash slot,
// which a single server never checks.
type Cluster struct {
	nodes []*Server
	mu    sync.Mutex
	conns []*redis.ClusterClient
}

// NewCluster starts three cluster-enabled masters, joins them with
// redis-cli --cluster create, and returns once every node reports
// cluster_state:ok with all 16384 slots assigned. Options apply to every
// node. The caller must Close it; tests should use StartCluster instead.
func NewCluster(opt Options) (*Cluster, error) {
	// Check both binaries first, so a missing redis-cli does not cost three
	// server starts before it is reported.
	if _, err := lookPath("redis-server", "redis-server"); err != nil {
		return nil, err
	}
	cli, err := lookPath("redis-cli", "redis-tools")
	if err != nil {
		return nil, err
	}

	c := &Cluster{}
	extra := []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		// Short, so a test that kills a node sees failure detection soon.
		"--cluster-node-timeout", "5000",
	}
	for range clusterNodes {
		s, err := newServer(opt, extra, freeClusterPort)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		c.nodes = append(c.nodes, s)
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.SysProcAttr = sysProcAttr()
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %w\n%s", err, out)
	}

	// redis-cli returns once the nodes agree on the configuration, but a node
	// may still report fail until it has heard from every other; a client
	// that connects before then gets CLUSTERDOWN.
	if err := c.waitReady(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Addrs returns the masters' addresses, "127.0.0.1:PORT", in start order.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Client returns a new cluster client that knows every node. Close closes it
// too, so a test need not.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.mu.Lock()
	c.conns = append(c.conns, cc)
	c.mu.Unlock()
	return cc
}

// Close closes the clients made by Client, stops every node and removes
// their directories.
func (c *Cluster) Close() error {
	c.mu.Lock()
	conns := c.conns
	c.conns = nil
	c.mu.Unlock()
	for _, cc := range conns {
		_ = cc.Close() // a client the test closed already says so; that is fine
	}
	var errs []error
	for _, s := range c.nodes {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// waitReady polls CLUSTER INFO on every node until all are ok, see every
// slot assigned and know every node.
func (c *Cluster) waitReady(ctx context.Context) error {
	for {
		var notReady error
		for _, s := range c.nodes {
			if err := nodeReady(s.Addr(), len(c.nodes)); err != nil {
				notReady = fmt.Errorf("node %s: %w", s.Addr(), err)
				break
			}
		}
		if notReady == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: cluster not ready: %w", notReady)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// nodeReady says why the node at addr is not yet serving the whole cluster.
func nodeReady(addr string, nodes int) error {
	info, err := command(addr, time.Second, "CLUSTER", "INFO")
	if err != nil {
		return err
	}
	fields := map[string]string{}
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = v
		}
	}
	want := map[string]string{
		"cluster_state":          "ok",
		"cluster_slots_assigned": strconv.Itoa(clusterSlots),
		"cluster_known_nodes":    strconv.Itoa(nodes),
	}
	for k, v := range want {
		if fields[k] != v {
			return fmt.Errorf("%s is %q, want %q", k, fields[k], v)
		}
	}
	return nil
}

// freeClusterPort finds a free port whose bus port, port+10000, is free too.
// Ports of 50000 and above are skipped so the bus port stays in range.
func freeClusterPort() (int, error) {
	for range 100 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		if port >= maxClusterPort {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+busOffset)))
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, fmt.Errorf("redistest: no free port below %d with a free bus port", maxClusterPort)
}

// StartCluster starts a cluster for the test and closes it when the test
// ends; only opt[0] is used. It fails the test, never skips it, when the
// cluster cannot start.
func StartCluster(tb testing.TB, opt ...Options) *Cluster {
	tb.Helper()
	c, err := NewCluster(first(tb, opt))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

// Backend is one Redis deployment that all of a package's tests run
// against.
type Backend struct {
	// Name is "single" or "cluster", for t.Run.
	Name   string
	Client redis.UniversalClient
}

// StartBackends starts one redis-server and one 3-node Cluster for a whole
// test process (call it from TestMain) and returns them, with stop to end
// both after m.Run.
func StartBackends() (backends []Backend, stop func(), err error) {
	srv, err := NewServer(Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("redis-server: %w", err)
	}
	cl, err := NewCluster(Options{})
	if err != nil {
		srv.Close()
		return nil, nil, fmt.Errorf("Redis Cluster: %w", err)
	}
	return []Backend{{"single", srv.Client()}, {"cluster", cl.Client()}}, func() { cl.Close(); srv.Close() }, nil
}
