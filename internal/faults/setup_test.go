package faults_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer/sqstest"
	"github.com/waitroom/waitroom/internal/redisconn"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// adminToken is the operator token of every waitroom a test starts.
const adminToken = "faults-admin-token-0123456789abcdef"

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the tests' own clients while Redis
	// is down on purpose; the tests check the answers instead.
	redis.SetLogger(silentLogger{})
	testproc.Main(m)
}

type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// ---- processes --------------------------------------------------------------

// startAdmitter runs cmd/admitter with env only (on top of PATH and a HOME
// of its own).
func startAdmitter(t *testing.T, name string, env []string) *testproc.Process {
	t.Helper()
	return testproc.Start(t, testproc.Command{Name: name, Path: testproc.Binary(t, "admitter"), Env: env})
}

// startWaitroom runs cmd/waitroom on a free port with env on top of the
// usual test settings, and returns once /readyz answers 200.
func startWaitroom(t *testing.T, name string, env []string) *testproc.Server {
	t.Helper()
	return testproc.StartServer(t, testproc.Command{Name: name, Path: testproc.Binary(t, "waitroom"), Env: append([]string{
		"WAITROOM_ADMIN_TOKEN=" + adminToken,
		"WAITROOM_SHUTDOWN_GRACE=0s",
		// All the load comes from one address: the per-address limits
		// are off (a binary without one of them ignores its variable).
		"WAITROOM_JOIN_RATE=0",
		"WAITROOM_STATUS_RATE=0",
		"WAITROOM_SOCKET_RATE=0",
		"WAITROOM_SOCKETS_PER_ADDR=0",
	}, env...)}, "WAITROOM_ADDR")
}

// admitterSQSEnv is an admitter's settings for the SQS pacer on queueEnv
// (SQS_QUEUE_URL and the endpoint's; nil: a fresh queue of the test's own):
// a killed admitter's message comes back within a second, and no AWS file
// of the machine's is read.
func admitterSQSEnv(t *testing.T, queueEnv []string) []string {
	t.Helper()
	if queueEnv == nil {
		_, url := sqstest.Queue(t)
		queueEnv = append([]string{"SQS_QUEUE_URL=" + url}, sqstest.Env()...)
	}
	none := filepath.Join(t.TempDir(), "none")
	return append([]string{"ADMITTER_VISIBILITY_TIMEOUT=1s", "ADMITTER_SLACK=1s",
		"AWS_CONFIG_FILE=" + none, "AWS_SHARED_CREDENTIALS_FILE=" + none}, queueEnv...)
}

// ---- HTTP -------------------------------------------------------------------

// newHTTPClient is a client with room for many concurrent connections to
// one host; its idle connections are closed when the test ends.
func newHTTPClient(t *testing.T, timeout time.Duration) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: timeout, Transport: tr}
}

// putRoom creates or updates a room through the operator API at base.
func putRoom(t *testing.T, ctx context.Context, c *http.Client, base, room string, cfg map[string]any) {
	t.Helper()
	testproc.PutRoom(t, ctx, c, base, adminToken, room, cfg)
}

// jwksVerifier verifies entry tokens with the keys of whichever of
// waitrooms answers first (one may be down on purpose).
func jwksVerifier(t *testing.T, c *http.Client, waitrooms []*testproc.Server) *entrytoken.Verifier {
	t.Helper()
	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(ctx context.Context) ([]byte, error) {
			for _, w := range waitrooms {
				if a, err := testproc.Send(ctx, c, http.MethodGet, w.Base+"/.well-known/jwks.json", nil, ""); err == nil && a.Status == http.StatusOK {
					return a.Body, nil
				}
			}
			return nil, fmt.Errorf("no waitroom instance answers")
		},
	})
	require.NoError(t, err)
	return v
}

func decodeStatus(a testproc.Answer) (testproc.TicketStatus, error) {
	var st testproc.TicketStatus
	err := json.Unmarshal(a.Body, &st)
	return st, err
}

// ---- sockets ----------------------------------------------------------------

// socket is one WebSocket of a visitor, and the instance it went through.
type socket struct {
	*testproc.Socket
	via string // the instance's name
}

// dialSocket opens the visitor's socket at addr (host:port).
func dialSocket(ctx context.Context, addr, via, room, ticket string) (*socket, error) {
	s, err := testproc.Dial(ctx, "ws://"+addr+"/api/rooms/"+room+"/ws?ticket="+ticket, nil)
	if err != nil {
		return nil, err
	}
	return &socket{Socket: s, via: via}, nil
}

// pages are a test's waiting pages. They reconnect until the test is over;
// then every socket they opened is closed and the pages are waited for.
type pages struct {
	ctx      context.Context // bounds every dial
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	opened   []*socket
}

// newPages returns the test's pages, closed when the test ends: call it after
// starting the servers, so that the pages end before the servers do.
func newPages(t *testing.T, ctx context.Context) *pages {
	p := &pages{ctx: ctx}
	t.Cleanup(p.close)
	return p
}

// over tells a page that the test is over and it must not reconnect.
func (p *pages) over() bool { return p.stopping.Load() }

func (p *pages) add(s *socket) {
	p.mu.Lock()
	p.opened = append(p.opened, s)
	p.mu.Unlock()
}

// keep runs one page: dial opens a socket through the instance it picks,
// preferring pick, and open follows the socket until it ends, saying whether
// the page reconnects. A retry prefers the next instance, as a load balancer
// would, after a short pause.
func (p *pages) keep(first int, dial func(ctx context.Context, pick int) (int, *socket, error), open func(*socket) bool) {
	p.wg.Go(func() {
		pick := first
		for !p.over() {
			ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
			i, so, err := dial(ctx, pick)
			cancel()
			if err == nil {
				p.add(so)
				if !open(so) {
					return
				}
			}
			pick = i + 1
			time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		}
	})
}

func (p *pages) close() {
	p.stopping.Store(true)
	p.mu.Lock()
	opened := slices.Clone(p.opened)
	p.mu.Unlock()
	for _, s := range opened {
		s.Close()
	}
	p.wg.Wait()
}

// ---- room events ------------------------------------------------------------

// eventLog records every event published on a room's channel, through a
// subscription of the test's own (Redis is not killed while it runs).
type eventLog struct {
	ps *redis.PubSub

	mu     sync.Mutex
	events []queue.Event
	bad    []string
	done   chan struct{}
	latest atomic.Int64 // version of the newest event
	notify chan struct{}
}

// recordEvents subscribes to room's channel and returns once the
// subscription is confirmed; it ends with the test.
func recordEvents(t *testing.T, ctx context.Context, rdb *redis.Client, room string) *eventLog {
	t.Helper()
	ps := rdb.Subscribe(ctx, queue.Channel(room))
	_, err := ps.Receive(ctx)
	require.NoError(t, err, "subscribe to %s", queue.Channel(room))
	l := &eventLog{ps: ps, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	go func() {
		defer close(l.done)
		for msg := range ps.Channel(redis.WithChannelSize(10000)) {
			ev, err := queue.ParseEvent([]byte(msg.Payload))
			l.mu.Lock()
			if err != nil {
				l.bad = append(l.bad, msg.Payload)
			} else {
				l.events = append(l.events, ev)
				l.latest.Store(ev.Version)
			}
			l.mu.Unlock()
			select {
			case l.notify <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = ps.Close()
		<-l.done
	})
	return l
}

// next waits for an event newer than the one seen last and returns its
// version.
func (l *eventLog) next(ctx context.Context, after int64) (int64, error) {
	for {
		if v := l.latest.Load(); v > after {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-l.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *eventLog) all() ([]queue.Event, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events), slices.Clone(l.bad)
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// ---- the sale ---------------------------------------------------------------

// The room of a sale under faults: a line that grows (joins come faster
// than the admissions) drained at saleBatch every saleInterval.
const (
	saleRoom     = "sale"
	saleBatch    = 5
	saleInterval = 200 * time.Millisecond
	// salePages is how many visitors keep a socket open (the others poll
	// their status); every page reconnects as the real one does.
	salePages = 300
	// recoverWithin is how soon after a fault every process must serve
	// again by itself.
	recoverWithin = 15 * time.Second
)

// replicated is a Redis deployment with failover: a Sentinel set, or a
// Cluster with a replica per primary.
type replicated struct {
	name string
	env  []string // the binaries' Redis settings
	// sentinels are the Sentinels' addresses, and data its data nodes
	// (none on a Cluster).
	sentinels []string
	data      []*redistest.Server
	cfg       redisconn.Config
	// primary is the data node serving the sale's room now.
	primary func(ctx context.Context) (*redistest.Server, error)
	// failedOver waits until another node than old serves the room.
	failedOver func(ctx context.Context, old *redistest.Server) (*redistest.Server, error)
	// replicaOf waits until node follows primary, in sync.
	replicaOf func(ctx context.Context, node, primary *redistest.Server) error
}

func sentinelBackend(t *testing.T) *replicated {
	s := redistest.StartSentinel(t)
	addrs := strings.Join(s.SentinelAddrs(), ",")
	return &replicated{
		name:       "sentinel",
		sentinels:  s.SentinelAddrs(),
		data:       s.Data,
		env:        []string{"REDIS_SENTINEL_ADDRS=" + addrs, "REDIS_SENTINEL_MASTER=" + redistest.MasterName},
		cfg:        redisconn.Config{SentinelAddrs: addrs, SentinelMaster: redistest.MasterName},
		primary:    s.Primary,
		failedOver: s.WaitFailover,
		replicaOf:  s.WaitReplicaOf,
	}
}

func clusterBackend(t *testing.T) *replicated {
	c := redistest.StartClusterWithReplicas(t)
	addrs := strings.Join(c.Addrs(), ",")
	slot := "{" + saleRoom + "}"
	return &replicated{
		name:    "cluster",
		env:     []string{"REDIS_CLUSTER_ADDRS=" + addrs},
		cfg:     redisconn.Config{ClusterAddrs: addrs},
		primary: func(ctx context.Context) (*redistest.Server, error) { return c.PrimaryFor(ctx, slot) },
		failedOver: func(ctx context.Context, old *redistest.Server) (*redistest.Server, error) {
			return c.WaitFailover(ctx, slot, old)
		},
		replicaOf: c.WaitReplicaOf,
	}
}

// saleOptions choose what runs the sale.
type saleOptions struct {
	pacer        string // "local" or "sqs"
	waitReplicas bool   // WAITROOM_JOIN_WAIT_REPLICAS=1 and ADMITTER_TICK_WAIT_REPLICAS=1
	sqsEnv       []string
	// via, when set, is the address visitors reach instance i at (a proxy
	// that can cut their connections); default the instance itself.
	via func(i int) string
}

// sale is the product as production runs it, two waitroom instances and two
// admitters, under a steady load: visitors join through both, keep sockets
// open or poll their status, and the admitters tick the room. It records
// everything every client was told.
type sale struct {
	t         *testing.T
	ctx       context.Context
	be        *replicated
	opt       saleOptions
	store     *queue.Store
	waitrooms [2]*testproc.Server
	admitters [2]*testproc.Process
	pids      [4]int
	http      *http.Client
	verifier  *entrytoken.Verifier

	down     [2]atomic.Bool // an instance is killed on purpose
	stopLoad chan struct{}
	load     sync.WaitGroup
	pages    *pages

	mu       sync.Mutex
	joins    []join
	visitors []*saleVisitor
	byTicket map[string]*saleVisitor
	samples  []tickSample
}

// saleVisitor is one acknowledged join and everything its client saw.
type saleVisitor struct {
	join
	mu      sync.Mutex
	sockets []*socket
	tokens  map[string]string // entry tokens seen (socket or status), by jti
	seenAt  map[string]time.Time
}

// tickSample is the room's admission count at one moment, which counts its
// ticks (every tick admits a full batch: the line never runs dry).
type tickSample struct {
	at       time.Time
	admitted int64
}

func startSale(t *testing.T, ctx context.Context, be *replicated, opt saleOptions) *sale {
	t.Helper()
	rdb, err := be.cfg.Open()
	require.NoError(t, err)
	t.Cleanup(func() { _ = rdb.Close() })
	s := &sale{t: t, ctx: ctx, be: be, opt: opt, store: queue.New(rdb, queue.Options{}),
		http: newHTTPClient(t, 10*time.Second), stopLoad: make(chan struct{}), byTicket: map[string]*saleVisitor{}}

	_, key := testproc.SigningKey(t)
	wenv := append([]string{"WAITROOM_SIGNING_KEY=" + key}, be.env...)
	if opt.waitReplicas {
		wenv = append(wenv, "WAITROOM_JOIN_WAIT_REPLICAS=1", "WAITROOM_JOIN_WAIT_TIMEOUT=500ms")
	}
	for i := range s.waitrooms {
		s.waitrooms[i] = startWaitroom(t, fmt.Sprintf("waitroom-%d", i+1), wenv)
		s.pids[i] = s.waitrooms[i].PID()
	}
	aenv := append([]string{"ADMITTER_METRICS_ADDR=127.0.0.1:0"}, be.env...)
	if opt.waitReplicas {
		aenv = append(aenv, "ADMITTER_TICK_WAIT_REPLICAS=1", "ADMITTER_TICK_WAIT_TIMEOUT=500ms")
	}
	if opt.pacer == "sqs" {
		aenv = append(aenv, admitterSQSEnv(t, opt.sqsEnv)...)
	}
	for i := range s.admitters {
		s.admitters[i] = startAdmitter(t, fmt.Sprintf("admitter-%d", i+1), aenv)
		s.pids[2+i] = s.admitters[i].PID()
	}
	s.verifier = jwksVerifier(t, s.http, s.waitrooms[:])
	putRoom(t, ctx, s.http, s.waitrooms[0].Base, saleRoom, map[string]any{
		"mode": "queue_all", "capacity": 0, "batch_size": saleBatch, "interval_ms": int(saleInterval / time.Millisecond),
		"session_ttl_s": 3600, "abandon_after_s": 0,
	})
	s.pages = newPages(t, ctx)
	return s
}

// base is where visitors reach instance i.
func (s *sale) base(i int) (string, string) {
	addr := s.waitrooms[i].Addr
	if s.opt.via != nil {
		addr = s.opt.via(i)
	}
	return "http://" + addr, addr
}

// instance is an instance that is not down on purpose, preferring i.
func (s *sale) instance(i int) int {
	if s.down[i%2].Load() {
		i++
	}
	return i % 2
}

func (s *sale) all() []*saleVisitor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.visitors)
}

func (s *sale) allJoins() []join {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.joins)
}

func (v *saleVisitor) allSockets() []*socket {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.sockets)
}

func (v *saleVisitor) sawToken(s *sale, token string) {
	c, err := s.verifier.Verify(s.ctx, token, saleRoom)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.tokens["invalid:"+token] = token
		return
	}
	v.tokens[c.ID] = token
	if _, ok := v.seenAt[c.ID]; !ok {
		v.seenAt[c.ID] = time.Now()
	}
}

// run starts the load: joiners, status pollers, pages and a tick sampler.
func (s *sale) run(joiners, pollers int) {
	for w := range joiners {
		s.load.Go(func() {
			for k := w; !closed(s.stopLoad); k++ {
				i := s.instance(k)
				base, _ := s.base(i)
				j := join{worker: i, sent: time.Now()}
				a, err := testproc.Send(s.ctx, s.http, http.MethodPost, base+"/api/rooms/"+saleRoom+"/tickets", nil, "")
				j.answered, j.status, j.err = time.Now(), a.Status, err
				if err == nil && a.Status == http.StatusCreated {
					st, err := decodeStatus(a)
					if err != nil || st.Ticket == "" {
						j.err = fmt.Errorf("201 with a body that is no status (%v): %s", err, a)
					}
					j.ticket, j.position = st.Ticket, st.Position
				} else if err == nil {
					j.code = a.ErrorCode()
				}
				s.mu.Lock()
				s.joins = append(s.joins, j)
				var v *saleVisitor
				if j.ticket != "" {
					v = &saleVisitor{join: j, tokens: map[string]string{}, seenAt: map[string]time.Time{}}
					s.visitors = append(s.visitors, v)
					s.byTicket[j.ticket] = v
				}
				n := len(s.visitors)
				s.mu.Unlock()
				if v != nil && n%4 == 0 && n/4 <= salePages {
					s.page(v, k)
				}
				if v == nil {
					time.Sleep(20 * time.Millisecond) // refusals come at once
				} else {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	for w := range pollers {
		s.load.Go(func() {
			for k := w; !closed(s.stopLoad); k++ {
				vs := s.all()
				if len(vs) == 0 {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				v := vs[rand.IntN(len(vs))]
				base, _ := s.base(s.instance(k))
				a, err := testproc.Send(s.ctx, s.http, http.MethodGet, base+"/api/rooms/"+saleRoom+"/tickets/"+v.ticket, nil, "")
				if err == nil && a.Status == http.StatusOK {
					if st, err := decodeStatus(a); err == nil && st.State == "admitted" {
						v.sawToken(s, st.EntryToken)
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	s.load.Go(func() {
		for !closed(s.stopLoad) {
			if st, err := s.store.Stats(s.ctx, saleRoom); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, tickSample{time.Now(), st.AdmittedTotal})
				s.mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// page keeps the visitor's socket open as the waiting page does: when it
// drops before the visitor was admitted, it reconnects after a short pause
// through whichever instance is up; once admitted it stays open, so that a
// second admission would show on it.
func (s *sale) page(v *saleVisitor, first int) {
	s.pages.keep(first, func(ctx context.Context, pick int) (int, *socket, error) {
		i := s.instance(pick)
		_, addr := s.base(i)
		so, err := dialSocket(ctx, addr, s.waitrooms[i].Name, saleRoom, v.ticket)
		return i, so, err
	}, func(so *socket) bool {
		v.mu.Lock()
		v.sockets = append(v.sockets, so)
		v.mu.Unlock()
		if !so.WaitFor("admitted") {
			return true
		}
		for _, m := range so.Messages() {
			if m.Type == "admitted" {
				v.sawToken(s, m.EntryToken)
			}
		}
		<-so.Done()
		// Dropped after the admission (a killed instance): the page
		// reconnects to learn it still holds.
		return true
	})
}

// stop ends the load and waits for it.
func (s *sale) stop() {
	close(s.stopLoad)
	s.load.Wait()
}

// firstJoinAfter is when the first join sent after from through instance i
// (-1: any) was acknowledged, or zero.
func (s *sale) firstJoinAfter(from time.Time, i int) time.Time {
	for _, j := range s.allJoins() {
		if j.status == http.StatusCreated && j.sent.After(from) && (i < 0 || j.worker == i) {
			return j.answered
		}
	}
	return time.Time{}
}

// waitServing waits until joins through both instances are acknowledged
// again after from, and returns how long after from the later one was.
func (s *sale) waitServing(from time.Time, within time.Duration) (time.Duration, bool) {
	deadline := from.Add(within)
	for {
		a, b := s.firstJoinAfter(from, 0), s.firstJoinAfter(from, 1)
		if !a.IsZero() && !b.IsZero() {
			if b.After(a) {
				a = b
			}
			return a.Sub(from), a.Before(deadline)
		}
		if time.Now().After(deadline) {
			return 0, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ticksAfter is when the room's admissions first grew after from, or zero.
func (s *sale) ticksAfter(from time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var base int64 = -1
	for _, x := range s.samples {
		if x.at.Before(from) {
			continue
		}
		if base < 0 {
			base = x.admitted
			continue
		}
		if x.admitted > base {
			return x.at
		}
	}
	return time.Time{}
}

// offsets are the replication offsets the Sentinel set's data nodes report,
// by address: which replica had the most when a primary died.
func (be *replicated) offsets() map[string]string {
	out := map[string]string{}
	for _, d := range be.data {
		c := redis.NewClient(&redis.Options{Addr: d.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		info, err := c.Info(context.Background(), "replication").Result()
		_ = c.Close()
		if err != nil {
			continue
		}
		for l := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "slave_repl_offset:"); ok {
				out[d.Addr()] = v
			}
		}
	}
	return out
}

// rollback is a fall of the room's admission count between two samples: a
// store that lost ticks (a failover to a replica that had not got them).
type rollback struct {
	at       time.Time
	from, to int64
}

func (r rollback) String(first time.Time) string {
	return fmt.Sprintf("at %s from %d to %d admissions", r.at.Sub(first).Round(100*time.Millisecond), r.from, r.to)
}

// rollbacks are the falls of the room's admission count.
func (s *sale) rollbacks() []rollback {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []rollback
	for i := 1; i < len(s.samples); i++ {
		if a, b := s.samples[i-1], s.samples[i]; b.admitted < a.admitted {
			out = append(out, rollback{b.at, a.admitted, b.admitted})
		}
	}
	return out
}

// saleFigures are what a run measured.
type saleFigures struct {
	joins, acked, refused, noAnswer int
	failFirst, failLast             time.Duration // first and last failed join, from the fault
	lostAcked                       int           // acknowledged joins the store no longer has
	admissionsSeen                  int           // distinct admissions clients were told of
	admissionsLost                  int           // of those, the store no longer has
	lostSeenAt                      []time.Time   // when a client was first told of each lost one
	readmitted                      int           // visitors told of two admissions (the first lost)
	maxTicksIn2s                    int64
	burstAt                         time.Duration // when those 2 s began, from the fault, if over the pace
	dials                           int
}

func (f saleFigures) String() string {
	return fmt.Sprintf("%d joins: %d acknowledged, %d refused (503), %d unanswered; failed joins from %s to %s after the fault; "+
		"%d acknowledged joins lost; %d admissions told to clients, %d lost by the store, %d visitors admitted again after a lost admission; "+
		"most ticks in 2 s: %d (pace %d); %d socket dials",
		f.joins, f.acked, f.refused, f.noAnswer, f.failFirst.Round(time.Millisecond), f.failLast.Round(time.Millisecond),
		f.lostAcked, f.admissionsSeen, f.admissionsLost, f.readmitted, f.maxTicksIn2s, int64(2*time.Second/saleInterval), f.dials)
}

// check verifies what must hold after any run, against what every client
// saw, and returns the figures. fault is when the first fault came.
// lostAllowed says whether acknowledged joins may be lost (asynchronous
// replication without WAIT).
func (s *sale) check(fault time.Time, lostAllowed bool) saleFigures {
	t := s.t
	t.Helper()
	// The admitters go on ticking: pause the room so that what the store
	// says holds still while it is compared with what clients saw.
	require.Eventually(t, func() bool {
		base, _ := s.base(s.instance(0))
		a, err := testproc.Send(s.ctx, s.http, http.MethodPut, base+"/api/admin/rooms/"+saleRoom, map[string]any{"paused": true}, adminToken)
		return err == nil && a.Status == http.StatusOK
	}, 10*time.Second, 100*time.Millisecond, "pause the room")
	time.Sleep(3 * saleInterval) // a tick in flight lands
	var f saleFigures
	joins := s.allJoins()
	f.joins = len(joins)
	for _, j := range joins {
		switch {
		case j.status == http.StatusCreated:
			f.acked++
		case j.err != nil:
			f.noAnswer++
		case j.status == http.StatusServiceUnavailable && j.code == "unavailable":
			f.refused++
		default:
			require.Failf(t, "a join answered neither 201 nor 503 unavailable", "%d %q at %s", j.status, j.code, j.sent.Sub(fault))
		}
		if j.status != http.StatusCreated && !j.sent.Before(fault) {
			if f.failFirst == 0 {
				f.failFirst = j.sent.Sub(fault)
			}
			f.failLast = max(f.failLast, j.answered.Sub(fault))
		}
	}
	require.Greater(t, f.acked, 100, "joins acknowledged")

	// Where every acknowledged ticket stands now.
	vs := s.all()
	truth := map[string]queue.TicketPosition{}
	for from := 0; from < len(vs); from += 500 {
		batch := vs[from:min(from+500, len(vs))]
		tickets := make([]string, len(batch))
		for i, v := range batch {
			tickets[i] = v.ticket
		}
		var p queue.Positions
		require.Eventually(t, func() bool {
			var err error
			p, err = s.store.Positions(s.ctx, saleRoom, tickets)
			return err == nil
		}, 10*time.Second, 100*time.Millisecond, "the store answers")
		for _, tp := range p.Tickets {
			truth[tp.Ticket] = tp
		}
	}
	seen := map[string]bool{}
	var maxSentAdmitted time.Time
	var waiting []*saleVisitor
	for _, v := range vs {
		require.False(t, seen[v.ticket], "ticket %s handed out twice", v.ticket)
		seen[v.ticket] = true
		tp := truth[v.ticket]
		switch tp.State {
		case "":
			f.lostAcked++
			t.Logf("acknowledged join lost: sent %s after the fault, answered %s after", v.sent.Sub(fault).Round(time.Millisecond),
				v.answered.Sub(fault).Round(time.Millisecond))
		case queue.StateAdmitted:
			if v.sent.After(maxSentAdmitted) {
				maxSentAdmitted = v.sent
			}
		case queue.StateWaiting:
			waiting = append(waiting, v)
		}
		// Entry tokens: each a valid signature; at most one of a visitor's
		// admissions is live, and it is the one the store holds; a token of
		// an admission the store lost finds no live admission, so the
		// booking API refuses it (admission_ended).
		v.mu.Lock()
		tokens := maps.Clone(v.tokens)
		v.mu.Unlock()
		live := 0
		for jti := range tokens {
			require.False(t, strings.HasPrefix(jti, "invalid:"), "visitor %s was handed a token that does not verify", v.ticket)
			f.admissionsSeen++
			a, err := s.store.LiveAdmission(s.ctx, saleRoom, jti)
			switch {
			case errors.Is(err, queue.ErrAdmissionEnded):
				f.admissionsLost++
				v.mu.Lock()
				f.lostSeenAt = append(f.lostSeenAt, v.seenAt[jti])
				v.mu.Unlock()
			case err != nil:
				require.NoError(t, err)
			default:
				live++
				require.Equal(t, v.ticket, a.Ticket, "the token's admission is the visitor's")
				require.Equal(t, queue.StateAdmitted, tp.State, "a live admission is an admitted ticket")
				require.Equal(t, tp.AdmissionID, jti, "the live token is the store's admission")
			}
		}
		require.LessOrEqual(t, live, 1, "visitor %s admitted twice", v.ticket)
		if len(tokens) > 1 {
			f.readmitted++
		}
		for _, so := range v.allSockets() {
			f.dials++
			n := map[string]bool{}
			for _, m := range so.Messages() {
				if m.Type == "admitted" {
					n[m.EntryToken] = true
				}
			}
			require.LessOrEqual(t, len(n), 1, "visitor %s: two admissions on one socket", v.ticket)
		}
	}
	if !lostAllowed {
		require.Zero(t, f.lostAcked, "acknowledged joins lost with WAIT")
	}

	// The line's order: nobody still waiting was acknowledged before an
	// admitted visitor had even joined, and the waiting line is in the order
	// the joins were acknowledged.
	for _, v := range waiting {
		require.False(t, v.answered.Before(maxSentAdmitted),
			"visitor %s, acknowledged %s after the fault, still waits while one who joined later was admitted", v.ticket, v.answered.Sub(fault))
	}
	slices.SortFunc(waiting, func(a, b *saleVisitor) int { return int(truth[a.ticket].Score - truth[b.ticket].Score) })
	var earliestBehind time.Time
	for i := len(waiting) - 1; i >= 0; i-- {
		v := waiting[i]
		if !earliestBehind.IsZero() {
			require.False(t, earliestBehind.Before(v.sent), "visitor %s was joined after one behind it was acknowledged", v.ticket)
		}
		if earliestBehind.IsZero() || v.answered.Before(earliestBehind) {
			earliestBehind = v.answered
		}
	}

	// The pace: in no 2 s did the room tick twice as often as its interval
	// allows, which two loops for one room would. More than one tick over
	// the pace either side is logged with the ticks around it: a catch-up
	// burst, not a second loop.
	s.mu.Lock()
	samples := slices.Clone(s.samples)
	s.mu.Unlock()
	pace := int64(2 * time.Second / saleInterval)
	var burstAt time.Time
	for i, a := range samples {
		for _, b := range samples[i+1:] {
			if b.at.Sub(a.at) > 2*time.Second {
				break
			}
			if n := (b.admitted - a.admitted) / saleBatch; n > f.maxTicksIn2s {
				f.maxTicksIn2s, burstAt = n, a.at
			}
		}
	}
	if f.maxTicksIn2s > pace+1 {
		f.burstAt = burstAt.Sub(fault)
		var around []string
		for _, x := range samples {
			if d := x.at.Sub(burstAt); d > -2*time.Second && d < 4*time.Second {
				around = append(around, fmt.Sprintf("%s:%d", x.at.Sub(fault).Round(10*time.Millisecond), x.admitted/saleBatch))
			}
		}
		t.Logf("%d ticks in the 2 s from %s after the first fault (pace %d); ticks counted around it: %v",
			f.maxTicksIn2s, f.burstAt.Round(time.Millisecond), pace, around)
	}
	require.Less(t, f.maxTicksIn2s, 2*pace, "the room's pace never doubles")

	// Every process is the one started, and still running.
	for i, w := range s.waitrooms {
		require.True(t, w.Alive(), "%s runs", w.Name)
		if !s.down[i].Load() {
			require.NotContains(t, w.Output(), `"status":500`, "%s answered 500", w.Name)
		}
	}
	for _, a := range s.admitters {
		require.True(t, a.Alive(), "%s runs", a.Name)
	}
	return f
}

// sameProcesses checks that no process was restarted.
func (s *sale) sameProcesses() {
	s.t.Helper()
	for i, w := range s.waitrooms {
		require.Equal(s.t, s.pids[i], w.PID(), "%s was never restarted", w.Name)
	}
	for i, a := range s.admitters {
		require.Equal(s.t, s.pids[2+i], a.PID(), "%s was never restarted", a.Name)
	}
}
