package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
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
// with its own port and temporary directory, and no replicas (or one each,
// from NewClusterWithReplicas). It exists so tests prove that every
// multi-key script keeps its keys in one hash slot, which a single server
// never checks, and that waitroom survives a primary's failover.
type Cluster struct {
	nodes   []*Server
	clients clients
}

// NewCluster starts three cluster-enabled masters, joins them with
// redis-cli --cluster create, and returns once every node reports
// cluster_state:ok with all 16384 slots assigned. Options apply to every
// node. The caller must Close it; tests should use StartCluster instead.
func NewCluster(opt Options) (*Cluster, error) { return newCluster(opt, 0) }

// NewClusterWithReplicas is NewCluster with one replica per master (six
// nodes, redis-cli --cluster-replicas 1), a node timeout of ClusterNodeTimeout
// so that a killed primary's replica takes over within seconds, and returns
// once every replica is in sync.
func NewClusterWithReplicas(opt Options) (*Cluster, error) { return newCluster(opt, 1) }

// ClusterNodeTimeout is the cluster-node-timeout of NewClusterWithReplicas:
// a primary silent that long is failed, and its replica elected.
const ClusterNodeTimeout = 2 * time.Second

func newCluster(opt Options, replicas int) (*Cluster, error) {
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
	timeout := 5 * time.Second
	if replicas > 0 {
		timeout = ClusterNodeTimeout
	}
	extra := []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		// Short, so a test that kills a node sees failure detection soon.
		"--cluster-node-timeout", strconv.Itoa(int(timeout.Milliseconds())),
	}
	c.nodes, err = startN(clusterNodes*(1+replicas), func() (*Server, error) { return newServer(opt, extra, freeClusterPort) })
	if err != nil {
		_ = c.Close()
		return nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
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
	if replicas > 0 {
		if err := c.waitReplicasInSync(ctx); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// waitReplicasInSync waits until every node that is a replica has its link
// to its primary up and no sync in progress.
func (c *Cluster) waitReplicasInSync(ctx context.Context) error {
	err := poll(ctx, 50*time.Millisecond, func() error {
		for _, s := range c.nodes {
			info, err := command(s.Addr(), time.Second, "INFO", "replication")
			f := infoFields(info)
			switch {
			case err != nil:
				return err
			case f["role"] == "slave" && (f["master_link_status"] != "up" || f["master_sync_in_progress"] != "0"):
				return fmt.Errorf("replica %s not in sync: %v", s.Addr(), f)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redistest: cluster replicas: %w", err)
	}
	return nil
}

// Nodes are every node, in start order; which are primaries changes with
// failovers (see PrimaryFor). Each keeps its port and nodes.conf across
// Kill and Start, so a killed node started again rejoins the Cluster.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// PrimaryFor asks the running nodes which one is the primary of key's hash
// slot now; a majority of them must agree.
func (c *Cluster) PrimaryFor(ctx context.Context, key string) (*Server, error) {
	votes := map[string]int{}
	asked := 0
	for _, s := range c.nodes {
		if !s.running() {
			continue
		}
		asked++
		rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		var slots []redis.ClusterSlot
		if err == nil {
			slots, err = rdb.ClusterSlots(ctx).Result()
		}
		_ = rdb.Close()
		if err != nil {
			continue
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
				votes[r.Nodes[0].Addr]++
			}
		}
	}
	for addr, n := range votes {
		if 2*n > asked {
			for _, s := range c.nodes {
				if s.Addr() == addr {
					return s, nil
				}
			}
		}
	}
	return nil, fmt.Errorf("redistest: no majority of the nodes names one primary for %q: %v", key, votes)
}

// WaitFailover waits until the running nodes agree that key's primary is a
// node other than old, that node says it is a primary, and the cluster is
// ok on every running node; it returns the new primary.
func (c *Cluster) WaitFailover(ctx context.Context, key string, old *Server) (*Server, error) {
	var p *Server
	err := poll(ctx, 50*time.Millisecond, func() error {
		var err error
		if p, err = c.PrimaryFor(ctx, key); err != nil {
			return err
		}
		if err := newPrimary(p, old); err != nil {
			return err
		}
		return c.runningOK()
	})
	if err != nil {
		return nil, fmt.Errorf("redistest: no failover of %q away from %s: %w", key, old.Addr(), err)
	}
	return p, nil
}

// WaitReplicaOf waits until node, started again after a failover, is a
// replica of primary and in sync.
func (c *Cluster) WaitReplicaOf(ctx context.Context, node, primary *Server) error {
	return waitInSync(ctx, node, primary)
}

// runningOK says why a running node does not report cluster_state:ok.
func (c *Cluster) runningOK() error {
	for _, s := range c.nodes {
		if !s.running() {
			continue
		}
		info, err := command(s.Addr(), time.Second, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if st := infoFields(info)["cluster_state"]; st != "ok" {
			return fmt.Errorf("node %s: cluster_state %s", s.Addr(), st)
		}
	}
	return nil
}

// Addrs returns the masters' addresses, "127.0.0.1:PORT", in start order.
func (c *Cluster) Addrs() []string { return addrs(c.nodes) }

// Client returns a new cluster client that knows every node. Close closes it
// too, so a test need not.
func (c *Cluster) Client() *redis.ClusterClient {
	return add(&c.clients, redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()}))
}

// Close closes the clients made by Client, stops every node and removes
// their directories.
func (c *Cluster) Close() error {
	c.clients.closeAll()
	var errs []error
	for _, s := range c.nodes {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// waitReady polls CLUSTER INFO on every node until all are ok, see every
// slot assigned and know every node.
func (c *Cluster) waitReady(ctx context.Context) error {
	err := poll(ctx, 50*time.Millisecond, func() error {
		for _, s := range c.nodes {
			if err := nodeReady(s.Addr(), len(c.nodes)); err != nil {
				return fmt.Errorf("node %s: %w", s.Addr(), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redistest: cluster not ready: %w", err)
	}
	return nil
}

// nodeReady says why the node at addr is not yet serving the whole cluster.
func nodeReady(addr string, nodes int) error {
	info, err := command(addr, time.Second, "CLUSTER", "INFO")
	if err != nil {
		return err
	}
	fields := infoFields(info)
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
