package redistest

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// Start starts a server for the test and closes it when the test ends. With
// no options the server is in-memory; only opt[0] is used. It fails the test,
// never skips it, when redis-server cannot start.
func Start(tb testing.TB, opt ...Options) *Server {
	tb.Helper()
	return startFor(tb, opt, NewServer)
}

// first returns the one optional Options, or the zero value.
func first(tb testing.TB, opt []Options) Options {
	tb.Helper()
	switch len(opt) {
	case 0:
		return Options{}
	case 1:
		return opt[0]
	default:
		tb.Fatalf("redistest: at most one Options, got %d", len(opt))
		return Options{}
	}
}

// StartClusterWithReplicas is StartCluster with NewClusterWithReplicas.
func StartClusterWithReplicas(tb testing.TB, opt ...Options) *Cluster {
	tb.Helper()
	return startFor(tb, opt, NewClusterWithReplicas)
}

// StartCluster starts a cluster for the test and closes it when the test
// ends; only opt[0] is used. It fails the test, never skips it, when the
// cluster cannot start.
func StartCluster(tb testing.TB, opt ...Options) *Cluster {
	tb.Helper()
	return startFor(tb, opt, NewCluster)
}

// StartSentinel starts a Sentinel set for the test and closes it when the
// test ends; only opt[0] is used. It fails the test, never skips it, when
// the set cannot start.
func StartSentinel(tb testing.TB, opt ...Options) *Sentinel {
	tb.Helper()
	return startFor(tb, opt, NewSentinel)
}

// Main is the TestMain of tests that run against Backends: it starts them
// (StartBackends) and hands them to use, which may start more and returns
// what to stop after the tests; then it runs the tests, stops it all and
// exits with their code. A failed start exits 1 saying what the tests,
// named by who, need.
func Main(m *testing.M, who string, use func([]Backend) (stop func(), err error)) {
	backends, stopBackends, err := StartBackends()
	if err != nil {
		fmt.Fprintln(os.Stderr, who, "need", err)
		os.Exit(1)
	}
	stopMore, err := use(backends)
	if err != nil {
		stopBackends()
		fmt.Fprintln(os.Stderr, who, "need", err)
		os.Exit(1)
	}
	code := m.Run()
	stopMore()
	stopBackends()
	os.Exit(code)
}

// startFor makes what newFn starts for the test and closes it when the test
// ends; only opt[0] is used. It fails the test, never skips it, when the
// start fails. Start, StartCluster and StartSentinel are it.
func startFor[T io.Closer](tb testing.TB, opt []Options, newFn func(Options) (T, error)) T {
	tb.Helper()
	v, err := newFn(first(tb, opt))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := v.Close(); err != nil {
			tb.Error(err)
		}
	})
	return v
}

// startN starts n processes, one after the other, and stops at the first
// that fails; what it started is returned either way, for the caller to
// close.
func startN(n int, start func() (*Server, error)) ([]*Server, error) {
	var started []*Server
	for range n {
		s, err := start()
		if err != nil {
			return started, err
		}
		started = append(started, s)
	}
	return started, nil
}

// poll calls check, and again every so often, until it returns nil. Once
// ctx is done it gives up with ctx's error and the last reason check gave.
func poll(ctx context.Context, every time.Duration, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(every):
		}
	}
}

// clients are the clients handed out by a Server, Cluster or Sentinel, which
// its Close closes so that a test need not.
type clients struct {
	mu    sync.Mutex
	conns []io.Closer
}

// add records c and returns it.
func add[C io.Closer](cs *clients, c C) C {
	cs.mu.Lock()
	cs.conns = append(cs.conns, c)
	cs.mu.Unlock()
	return c
}

// closeAll closes every client handed out so far.
func (cs *clients) closeAll() {
	cs.mu.Lock()
	conns := cs.conns
	cs.conns = nil
	cs.mu.Unlock()
	for _, c := range conns {
		_ = c.Close() // a client the test closed already says so; that is fine
	}
}
