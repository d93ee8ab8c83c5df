package queue

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/embedded"
	"github.com/waitroom/waitroom/internal/redistest"
)

// backends are the Redis deployments every test runs against: one node and
// a 3-node Cluster, both real redis-server processes started for this run,
// and standalone mode's embedded store (the same scripts must run there).
var backends []redistest.Backend

func TestMain(m *testing.M) {
	flag.Parse()
	if fuzzing() { // fuzz targets need no Redis; every fuzz worker runs TestMain
		os.Exit(m.Run())
	}
	redistest.Main(m, "queue tests", func(nodes []redistest.Backend) (func(), error) {
		emb, err := embedded.Start()
		if err != nil {
			return nil, err
		}
		backends = append(nodes, redistest.Backend{Name: "embedded", Client: emb.Client()})
		return func() { emb.Close() }, nil
	})
}

func fuzzing() bool {
	for _, name := range []string{"test.fuzz", "test.fuzzworker"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" && f.Value.String() != "false" {
			return true
		}
	}
	return false
}

// bundle is what a test needs: a store, its Redis, a fresh room.
type bundle struct {
	ctx   context.Context
	store *Store
	rdb   redis.UniversalClient
	room  string
}

var roomSeq atomic.Int64

// each runs the test once per backend, each time with a new room created
// with the given config patch.
func each(t *testing.T, patch ConfigPatch, test func(t *testing.T, b *bundle)) {
	t.Helper()
	eachOf(t, backends, patch, test)
}

// eachReal is each on the real redis-server backends only (large tests).
func eachReal(t *testing.T, patch ConfigPatch, test func(t *testing.T, b *bundle)) {
	t.Helper()
	eachOf(t, backends[:2], patch, test)
}

func eachOf(t *testing.T, bes []redistest.Backend, patch ConfigPatch, test func(t *testing.T, b *bundle)) {
	t.Helper()
	for _, be := range bes {
		t.Run(be.Name, func(t *testing.T) {
			// Auto-pipelining on, as cmd/waitroom runs by default.
			b := &bundle{ctx: context.Background(), store: New(be.Client, Options{AutoPipeline: true}), rdb: be.Client,
				room: fmt.Sprintf("t%d", roomSeq.Add(1))}
			_, _, err := b.store.PutRoom(b.ctx, b.room, patch)
			require.NoError(t, err)
			test(t, b)
		})
	}
}

func (b *bundle) join(t *testing.T) Status {
	t.Helper()
	st, created, err := b.store.Join(b.ctx, b.room, JoinRequest{})
	require.NoError(t, err)
	require.True(t, created)
	return st
}

func (b *bundle) status(t *testing.T, ticket string) Status {
	t.Helper()
	st, err := b.store.Status(b.ctx, b.room, ticket)
	require.NoError(t, err)
	return st
}

func (b *bundle) tick(t *testing.T) Event {
	t.Helper()
	ev, err := b.store.Tick(b.ctx, b.room)
	require.NoError(t, err)
	return ev
}

func (b *bundle) put(t *testing.T, p ConfigPatch) Config {
	t.Helper()
	cfg, _, err := b.store.PutRoom(b.ctx, b.room, p)
	require.NoError(t, err)
	return cfg
}

// expireAdmissions moves every admission's end into the past, as if the
// session time had run out (session_ttl_s is at least 10 s: too long to
// wait in a test).
func (b *bundle) expireAdmissions(t *testing.T) {
	t.Helper()
	k := roomKeys(b.room)
	all, err := b.rdb.ZRange(b.ctx, k.adm, 0, -1).Result()
	require.NoError(t, err)
	if len(all) == 0 {
		return
	}
	zs := make([]redis.Z, len(all))
	for i, tk := range all {
		zs[i] = redis.Z{Score: 1, Member: tk}
	}
	require.NoError(t, b.rdb.ZAddXX(b.ctx, k.adm, zs...).Err())
}

func admittedTickets(ev Event) []string {
	out := make([]string, len(ev.Admitted))
	for i, a := range ev.Admitted {
		out[i] = a.Ticket
	}
	return out
}

func eventually(t *testing.T, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, within, 20*time.Millisecond, msg)
}
