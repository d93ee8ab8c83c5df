package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer/pacertest"
	"github.com/waitroom/waitroom/internal/pacer/sqstest"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// start runs an admitter process with env (on top of a clean environment
// that reaches the SQS emulator) and args, for the tests that run it as
// separate processes (and kill them).
func start(t *testing.T, env []string, args ...string) *testproc.Process {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	return testproc.Start(t, testproc.Command{Path: testproc.Binary(t, "admitter"), Args: args, Env: append([]string{
		"AWS_CONFIG_FILE=" + none,
		"AWS_SHARED_CREDENTIALS_FILE=" + none,
		"ADMITTER_METRICS_ADDR=127.0.0.1:0", // many admitters run side by side
	}, append(sqstest.Env(), env...)...)})
}

// bundle is a Redis of the test's own (every admitter ticks every room of
// its Redis, so parallel tests never share one) and a store over it.
type bundle struct {
	ctx   context.Context
	srv   *redistest.Server
	store *queue.Store
	env   []string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	srv := redistest.Start(t)
	return &bundle{ctx: ctx, srv: srv, store: queue.New(srv.Client(), queue.Options{}),
		env: []string{"REDIS_URL=redis://" + srv.Addr() + "/0"}}
}

// withQueue adds a queue of the test's own on the SQS emulator to the
// admitters' environment.
func (b *bundle) withQueue(t *testing.T) *bundle {
	t.Helper()
	_, url := sqstest.Queue(t)
	b.env = append(b.env, "SQS_QUEUE_URL="+url)
	return b
}

// countTicks counts the room's ticks over d (see pacertest.Count).
func countTicks(t *testing.T, ctx context.Context, store *queue.Store, room string, d time.Duration) int64 {
	t.Helper()
	n, _ := pacertest.Count(t, ctx, store, room, d, 10*time.Second)
	return n
}

// countAtOnce counts the ticks of several rooms at the same time, each for
// its own span.
func countAtOnce(t *testing.T, ctx context.Context, store *queue.Store, spans map[string]time.Duration) map[string]int64 {
	t.Helper()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		n  = map[string]int64{}
	)
	for room, d := range spans {
		wg.Go(func() {
			c := countTicks(t, ctx, store, room, d)
			mu.Lock()
			n[room] = c
			mu.Unlock()
		})
	}
	wg.Wait()
	return n
}

// sqsArgs are short timeouts, so a test sees a dead loop recover in seconds.
var sqsArgs = []string{"-visibility-timeout", "2s", "-slack", "1s"}

func TestSQSAdmittersTickEachRoomOncePerInterval(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(n, " admitters"), func(t *testing.T) {
			t.Parallel()
			b := setup(t).withQueue(t)
			pacertest.CountingRoom(t, b.ctx, b.store, "a", 1000, 200)
			pacertest.CountingRoom(t, b.ctx, b.store, "b", 1000, 200)
			var as []*testproc.Process
			for range n {
				as = append(as, start(t, b.env))
			}
			n := countAtOnce(t, b.ctx, b.store, map[string]time.Duration{"a": 20 * time.Second, "b": 20 * time.Second})
			pacertest.Within(t, n["a"], 20, 1, "room a: ticks in 20 s at 1 s")
			pacertest.Within(t, n["b"], 20, 1, "room b: ticks in 20 s at 1 s")
			for _, a := range as {
				a.RequireStop(t, 10*time.Second)
			}
		})
	}
}

func TestSQSKilledAdmitterLoopGoesOnAtItsPace(t *testing.T) {
	t.Parallel()
	b := setup(t).withQueue(t)
	pacertest.CountingRoom(t, b.ctx, b.store, "k", 1000, 200)
	live := []*testproc.Process{start(t, b.env, sqsArgs...), start(t, b.env, sqsArgs...)}
	require.Eventually(t, func() bool { return pacertest.Ticks(t, b.ctx, b.store, "k") > 0 }, 10*time.Second, 20*time.Millisecond)
	began, c0 := time.Now(), pacertest.Ticks(t, b.ctx, b.store, "k")

	// Three times: SIGKILL the older admitter mid-loop (whichever of receive,
	// claim, tick, send or delete it is at), start a fresh one. Whichever
	// held the loop, it ticks again within interval + visibility timeout +
	// slack and a watchdog pass: 1 + 2 + 1 + 1 s.
	for i := range 3 {
		time.Sleep(time.Duration(1200+300*i) * time.Millisecond)
		live[0].Kill()
		live = append(live[1:], start(t, b.env, sqsArgs...))
		before := pacertest.Ticks(t, b.ctx, b.store, "k")
		require.Eventually(t, func() bool { return pacertest.Ticks(t, b.ctx, b.store, "k") > before }, 8*time.Second, 50*time.Millisecond,
			"the room ticks again after kill %d", i+1)
	}
	total := pacertest.Ticks(t, b.ctx, b.store, "k") - c0
	require.LessOrEqual(t, total, int64(time.Since(began)/time.Second)+1, "never faster than the interval")
	pacertest.Within(t, countTicks(t, b.ctx, b.store, "k", 5*time.Second), 5, 1, "ticks in 5 s once settled")
	for _, a := range live {
		a.RequireStop(t, 10*time.Second)
	}
}

func TestLocalAdmittersTickEachRoomOncePerInterval(t *testing.T) {
	t.Parallel()
	b := setup(t) // no SQS_QUEUE_URL: the in-process pacer
	pacertest.CountingRoom(t, b.ctx, b.store, "second", 1000, 200)
	pacertest.CountingRoom(t, b.ctx, b.store, "quarter", 250, 200)
	a1, a2 := start(t, b.env), start(t, b.env)
	n := countAtOnce(t, b.ctx, b.store, map[string]time.Duration{"second": 10 * time.Second, "quarter": 5 * time.Second})
	pacertest.Within(t, n["second"], 10, 1, "ticks in 10 s at 1 s, two processes")
	pacertest.Within(t, n["quarter"], 20, 1, "ticks in 5 s at 250 ms, two processes")

	a1.Kill()
	pacertest.Within(t, countTicks(t, b.ctx, b.store, "second", 5*time.Second), 5, 1, "ticks in 5 s at 1 s after a SIGKILL")
	a2.RequireStop(t, 10*time.Second)
}

func TestAdmitterRunsOnARedisCluster(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cluster := redistest.StartCluster(t)
	var rdb redis.UniversalClient = cluster.Client()
	store := queue.New(rdb, queue.Options{})
	for _, room := range []string{"c1", "c2", "c3"} {
		pacertest.CountingRoom(t, ctx, store, room, 500, 200)
	}
	env := []string{"REDIS_CLUSTER_ADDRS=" + strings.Join(cluster.Addrs(), ",")}
	a := start(t, env)
	for _, room := range []string{"c1", "c2", "c3"} {
		require.Eventually(t, func() bool { return pacertest.Ticks(t, ctx, store, room) > 0 }, 10*time.Second, 50*time.Millisecond)
	}
	pacertest.Within(t, countTicks(t, ctx, store, "c2", 3*time.Second), 6, 1, "ticks in 3 s at 500 ms on a cluster")
	a.RequireStop(t, 10*time.Second)
}

func TestHelpListsEveryFlagAndVariableWithItsDefault(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	require.ErrorIs(t, run(t.Context(), []string{"--help"}, noEnv, &stdout, &stderr), flag.ErrHelp)
	out := stdout.String()
	s, _ := declare(noEnv)
	for _, st := range s.Settings() {
		require.Contains(t, out, "-"+st.Flag+" ")
		require.Contains(t, out, "env "+st.Env+", default ")
		if st.Default != "" {
			require.Contains(t, out, "env "+st.Env+", default "+st.Default+"\n")
		}
	}
	for _, v := range []string{"REDIS_URL", "REDIS_CLUSTER_ADDRS", "SQS_QUEUE_URL", "AWS_ENDPOINT_URL_SQS", "-visibility-timeout", "default 30s\n"} {
		require.Contains(t, out, v)
	}
}

func TestBadConfigurationFailsAndSaysWhy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{want: "REDIS_URL"},
		{env: map[string]string{"REDIS_URL": "http://x"}, want: "REDIS_URL"},
		{env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}, args: []string{"-visibility-timeout", "soon"}, want: "-visibility-timeout"},
		{env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "ADMITTER_VISIBILITY_TIMEOUT": "1500ms", "SQS_QUEUE_URL": "http://127.0.0.1:1/q"}, want: "VisibilityTimeout"},
		{env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}, args: []string{"-log-level", "loud"}, want: "-log-level"},
		{env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}, args: []string{"extra"}, want: "unexpected"},
		{env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "ADMITTER_POLL": "0s"}, want: "-poll (ADMITTER_POLL) must be a positive duration"},
		{env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1", "ADMITTER_POLL": "soon"}, want: `ADMITTER_POLL="soon"`},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), c.args, func(k string) string { return c.env[k] }, &stdout, &stderr)
		require.ErrorContains(t, err, c.want, "%+v", c)
	}
}

func noEnv(string) string { return "" }
