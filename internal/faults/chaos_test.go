package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer/sqstest"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/relay"
)

// chaosFlag holds how long the chaos soak runs (a Go duration); unset, the
// soak is skipped. scripts/chaos.sh sets it (3m by default), and
// scripts/test.sh runs it for 40s.
const chaosFlag = "WAITROOM_CHAOS_DURATION"

// A steady sale on a Sentinel set, with joins acknowledged only once a
// replica has them (WAIT 1), while random faults hit it one after another:
// SIGKILL and restart of a waitroom instance or an admitter, SIGKILL of the
// Redis primary (failed over, then back as a replica), the SQS emulator
// stopped and started again empty, every visitor connection to an instance
// cut, every admitter connection to SQS cut, every client connection to the
// Redis primary killed (CLIENT KILL). At the end, against what every client
// saw: no acknowledged join lost, nobody holding two live admissions, the
// line in acknowledged order, no lost admission's token finding a live
// admission, the pace never doubled, and every process serving again
// within 15 s of the last fault.
func TestChaos(t *testing.T) {
	v := os.Getenv(chaosFlag)
	if v == "" {
		t.Skipf("not run: set %s (e.g. 40s; scripts/chaos.sh runs 3m)", chaosFlag)
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, chaosFlag)
	ctx, cancel := context.WithTimeout(context.Background(), d+3*time.Minute)
	defer cancel()

	be := sentinelBackend(t)
	em := startEmulator(t)
	const queueName = "chaos"
	url := em.createQueue(t, ctx, queueName)
	sqsProxy := relay.Start(t, strings.TrimPrefix(em.endpoint, "http://"))
	sqsEnv := []string{"SQS_QUEUE_URL=" + url, "AWS_ENDPOINT_URL_SQS=http://" + sqsProxy.Addr(), "AWS_REGION=" + sqstest.Region,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true"}

	var front [2]*relay.Relay
	s := startSale(t, ctx, be, saleOptions{pacer: "sqs", waitReplicas: true, sqsEnv: sqsEnv,
		via: func(i int) string { return front[i].Addr() }})
	for i, w := range s.waitrooms {
		front[i] = relay.Start(t, w.Addr)
	}
	s.run(6, 2)
	time.Sleep(2 * time.Second)

	// One fault at a time, every 1–3 s. A primary is killed only once the
	// set is whole again (the last old primary back in sync).
	var primaryBusy atomic.Bool
	var log []string
	var faults []fault
	var watchMu sync.Mutex
	var watched []string
	// Every change of the primary the Sentinels name, and when: a second
	// failover after the one a primary kill caused would show here.
	var primaries []string
	first := time.Now()
	go func() {
		var cur string
		for ctx.Err() == nil {
			if p, err := be.primary(ctx); err == nil && p.Addr() != cur {
				cur = p.Addr()
				watchMu.Lock()
				primaries = append(primaries, fmt.Sprintf("%s %s", time.Since(first).Round(100*time.Millisecond), cur))
				watchMu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var last time.Time
	counts := map[string]int{}
	for time.Since(first) < d {
		last = time.Now()
		at := last.Sub(first).Round(100 * time.Millisecond)
		kind := []string{"waitroom", "admitter", "primary", "sqs", "cut-visitors", "cut-sqs", "client-kill"}[rand.IntN(7)]
		if kind == "primary" && primaryBusy.Load() {
			kind = "client-kill"
		}
		counts[kind]++
		faults = append(faults, fault{at: last, kind: kind})
		switch kind {
		case "waitroom":
			i := rand.IntN(2)
			s.down[i].Store(true)
			s.waitrooms[i].Kill()
			time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
			require.NoError(t, s.waitrooms[i].Restart(20*time.Second))
			s.down[i].Store(false)
			log = append(log, fmt.Sprintf("%s waitroom-%d killed", at, i+1))
		case "admitter":
			i := rand.IntN(2)
			s.admitters[i].Kill()
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Millisecond)
			require.NoError(t, s.admitters[i].Start())
			log = append(log, fmt.Sprintf("%s admitter-%d killed", at, i+1))
		case "primary":
			old, err := be.primary(ctx)
			require.NoError(t, err)
			require.NoError(t, old.Kill())
			promoted, err := be.failedOver(ctx, old)
			require.NoError(t, err)
			// As an operator's restart script would: a replica of the new
			// primary from the start, never an empty primary of its own.
			require.NoError(t, old.StartReplicaOf(promoted))
			primaryBusy.Store(true)
			restarted := time.Now()
			go func() {
				defer primaryBusy.Store(false)
				w := watchRestarted(ctx, be, old, restarted)
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if err := be.replicaOf(rctx, old, promoted); err != nil {
					w += fmt.Sprintf("; not in sync with %s, the primary it came back to: %v", promoted.Addr(), err)
				}
				watchMu.Lock()
				watched = append(watched, fmt.Sprintf("%s %s", at, w))
				watchMu.Unlock()
			}()
			log = append(log, fmt.Sprintf("%s primary %s killed, failed over in %s", at, old.Addr(), time.Since(last).Round(time.Millisecond)))
		case "sqs":
			em.stop(t)
			time.Sleep(time.Duration(1000+rand.IntN(2000)) * time.Millisecond)
			require.NoError(t, em.Start())
			require.NoError(t, em.waitAnswers(10*time.Second))
			require.Equal(t, url, em.createQueue(t, ctx, queueName), "the queue comes back at the same URL")
			log = append(log, fmt.Sprintf("%s SQS emulator down %s", at, time.Since(last).Round(time.Millisecond)))
		case "cut-visitors":
			i := rand.IntN(2)
			log = append(log, fmt.Sprintf("%s %d visitor connections to waitroom-%d cut", at, front[i].CutAll(), i+1))
		case "cut-sqs":
			log = append(log, fmt.Sprintf("%s %d admitter connections to SQS cut", at, sqsProxy.CutAll()))
		case "client-kill":
			p, err := be.primary(ctx)
			if err == nil {
				n, err := p.Client().ClientKillByFilter(ctx, "TYPE", "normal").Result()
				if err == nil {
					log = append(log, fmt.Sprintf("%s %d client connections of the primary killed", at, n))
				}
			}
		}
		time.Sleep(time.Duration(1000+rand.IntN(2000)) * time.Millisecond)
	}
	t.Logf("%d faults in %s: %v", len(log), d, counts)
	for _, l := range log {
		t.Log(l)
	}

	// Recovery after the last fault, then a steady end.
	lastDone := time.Now()
	serving, ok := s.waitServing(lastDone, recoverWithin)
	require.True(t, ok, "joins acknowledged through both instances within %s of the last fault", recoverWithin)
	var ticking time.Time
	require.Eventually(t, func() bool { ticking = s.ticksAfter(lastDone); return !ticking.IsZero() },
		recoverWithin, 50*time.Millisecond, "the room ticks within %s of the last fault", recoverWithin)
	time.Sleep(3 * time.Second)
	s.stop()
	f := s.check(first, false)
	t.Logf("chaos %s: joins through both instances %s and ticks %s after the last fault; %s",
		d, serving.Round(time.Millisecond), ticking.Sub(lastDone).Round(time.Millisecond), f)
	watchMu.Lock()
	t.Logf("primaries the Sentinels named: %v", primaries)
	for _, w := range watched {
		t.Log("restarted primary: " + w)
	}
	watchMu.Unlock()
	for _, r := range s.rollbacks() {
		t.Log("the store's admission count went back: " + r.String(first))
	}
	for _, l := range lostAcross(faults, f.lostSeenAt, first) {
		t.Log(l)
	}
}

// fault is one fault the soak injected, and when.
type fault struct {
	at   time.Time
	kind string
}

// lostAcross attributes each lost admission to the last fault before a
// client was told of it, and says how many each fault lost.
func lostAcross(faults []fault, lostSeenAt []time.Time, first time.Time) []string {
	n := make([]int, len(faults))
	before := 0
	for _, at := range lostSeenAt {
		i := sort.Search(len(faults), func(i int) bool { return faults[i].at.After(at) }) - 1
		if i < 0 {
			before++
			continue
		}
		n[i]++
	}
	var out []string
	if before > 0 {
		out = append(out, fmt.Sprintf("%d lost admissions told before the first fault", before))
	}
	for i, k := range n {
		if k > 0 {
			out = append(out, fmt.Sprintf("%d lost admissions told after the fault at %s (%s)", k,
				faults[i].at.Sub(first).Round(100*time.Millisecond), faults[i].kind))
		}
	}
	return out
}

// watchRestarted follows a killed primary started again, until it is a
// replica (at most 30 s): how long it served as a primary, whether anyone
// connected to it or wrote to it meanwhile, and whether a Sentinel named it
// the primary after its restart.
func watchRestarted(ctx context.Context, be *replicated, old *redistest.Server, restarted time.Time) string {
	c := redis.NewClient(&redis.Options{Addr: old.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	var maxKeys, maxClients int64
	named := map[string]time.Duration{}
	for time.Since(restarted) < 30*time.Second && ctx.Err() == nil {
		info, err := c.Info(ctx, "replication", "clients", "keyspace").Result()
		if err == nil && strings.Contains(info, "role:slave") {
			break
		}
		if err == nil {
			if k, err := c.DBSize(ctx).Result(); err == nil {
				maxKeys = max(maxKeys, k)
			}
			for l := range strings.Lines(info) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "connected_clients:"); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					maxClients = max(maxClients, n)
				}
			}
		}
		for _, a := range be.sentinels {
			sc := redis.NewSentinelClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: time.Second})
			addr, err := sc.GetMasterAddrByName(ctx, redistest.MasterName).Result()
			_ = sc.Close()
			if _, seen := named[a]; err == nil && len(addr) == 2 && addr[0]+":"+addr[1] == old.Addr() && !seen {
				named[a] = time.Since(restarted)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("%s a primary for %s after its restart, up to %d keys and %d clients; Sentinels naming it after the restart: %v",
		old.Addr(), time.Since(restarted).Round(100*time.Millisecond), maxKeys, maxClients, named)
}
