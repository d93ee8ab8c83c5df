package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer/sqstest"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// adminToken is the operator token of every service a test starts.
const adminToken = "integration-admin-token-0123456789"

// settle is how long a test lets a room event's pushes reach every socket
// before it compares them with Redis.
const settle = 300 * time.Millisecond

// backend is the Redis the services share.
type backend struct {
	name    string
	cluster bool
}

var (
	singleNode = backend{name: "single node"}
	cluster    = backend{name: "3-node cluster", cluster: true}
	backends   = []backend{singleNode, cluster}
)

// bundle is the whole product running as separate processes on one Redis:
// two waitroom instances sharing a signing key, two admitters on an SQS
// queue of the test's own, the booking service; and a queue.Store over the
// same Redis to read the truth.
type bundle struct {
	ctx      context.Context
	redis    *redistest.Server // nil on a cluster
	store    *queue.Store
	waitroom [2]*testproc.Server
	admitter [2]*testproc.Process
	booking  *testproc.Server
	http     *http.Client
}

// setup starts the backend's Redis (a single node with append-only
// persistence, so it can be restarted under the service) and every process
// on it, and returns once each answers /readyz. Everything stops when the
// test ends.
func setup(t *testing.T, be backend) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	b := &bundle{ctx: ctx}

	// Only the Redis variable differs between the backends.
	var rdb redis.UniversalClient
	var redisEnv string
	if be.cluster {
		c := redistest.StartCluster(t)
		rdb, redisEnv = c.Client(), "REDIS_CLUSTER_ADDRS="+strings.Join(c.Addrs(), ",")
	} else {
		b.redis = redistest.Start(t, redistest.Options{AppendOnly: true})
		rdb, redisEnv = b.redis.Client(), "REDIS_URL=redis://"+b.redis.Addr()+"/0"
	}
	b.store = queue.New(rdb, queue.Options{})
	_, queueURL := sqstest.Queue(t)
	_, key := testproc.SigningKey(t)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	b.http = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)

	for i := range b.waitroom {
		b.waitroom[i] = startServer(t, "waitroom", fmt.Sprintf("waitroom-%d", i+1), "WAITROOM_ADDR", []string{
			redisEnv,
			"WAITROOM_ADMIN_TOKEN=" + adminToken,
			"WAITROOM_SIGNING_KEY=" + key,
			"WAITROOM_SHUTDOWN_GRACE=0s",
			"WAITROOM_USER_SECRET=" + userSecret,
		})
	}
	for i := range 2 {
		dir := t.TempDir()
		b.admitter[i] = testproc.Start(t, testproc.Command{Name: fmt.Sprintf("admitter-%d", i+1), Path: testproc.Binary(t, "admitter"), Env: append([]string{
			redisEnv,
			"SQS_QUEUE_URL=" + queueURL,
			"ADMITTER_METRICS_ADDR=127.0.0.1:0",
			// No shared AWS configuration of the machine leaks in.
			"AWS_CONFIG_FILE=" + filepath.Join(dir, "none"),
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		}, sqstest.Env()...)})
	}
	b.booking = startServer(t, "booking", "booking", "BOOKING_ADDR", []string{
		redisEnv,
		"WAITROOM_ADMIN_TOKEN=" + adminToken,
		"BOOKING_JWKS_URL=" + b.waitroom[0].Base + "/.well-known/jwks.json",
	})
	return b
}

// ---- HTTP -----------------------------------------------------------------

// send makes one request; body is marshalled to JSON unless nil, token is
// sent as the bearer token unless empty.
func (b *bundle) send(t *testing.T, method, url string, body any, token string) testproc.Answer {
	t.Helper()
	a, err := b.trySend(method, url, body, token)
	require.NoError(t, err, "%s %s", method, url)
	return a
}

func (b *bundle) trySend(method, url string, body any, token string) (testproc.Answer, error) {
	return testproc.Send(b.ctx, b.http, method, url, body, token)
}

// putRoom creates or updates a room through the operator API of w.
func (b *bundle) putRoom(t *testing.T, w *testproc.Server, room string, cfg map[string]any) {
	t.Helper()
	testproc.PutRoom(t, b.ctx, b.http, w.Base, adminToken, room, cfg)
}

// join joins the room through w as a new visitor (no cookie, no user).
func (b *bundle) join(t *testing.T, w *testproc.Server, room string) testproc.TicketStatus {
	t.Helper()
	a := b.send(t, http.MethodPost, w.Base+"/api/rooms/"+room+"/tickets", nil, "")
	require.Equal(t, http.StatusCreated, a.Status, "join %s through %s: %s", room, w.Name, a)
	var st testproc.TicketStatus
	require.NoError(t, json.Unmarshal(a.Body, &st), "%s", a)
	return st
}

// requireAPIError checks an error answer of docs/API.md.
func requireAPIError(t *testing.T, a testproc.Answer, status int, code string) {
	t.Helper()
	require.Equal(t, status, a.Status, "%s", a)
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(a.Body, &body), "%s", a)
	require.Equal(t, code, body.Error.Code, "%s", a)
	require.NotEmpty(t, body.Error.Message, "%s", a)
}

// ---- sockets --------------------------------------------------------------

// socket is a visitor's WebSocket and the instance it went through.
type socket struct {
	*testproc.Socket
	via *testproc.Server
}

// dial opens the visitor's socket on w; it closes when the test ends.
func dial(t *testing.T, w *testproc.Server, room, ticket string) *socket {
	t.Helper()
	s, err := testproc.Dial(context.Background(), "ws://"+w.Addr+"/api/rooms/"+room+"/ws?ticket="+ticket, nil)
	require.NoError(t, err, "socket of %s on %s", ticket, w.Name)
	t.Cleanup(s.Close)
	return &socket{Socket: s, via: w}
}

// first waits for the socket's first message.
func (s *socket) first(t *testing.T) testproc.Message {
	t.Helper()
	require.Eventually(t, func() bool { _, ok := s.Last(); return ok || !s.Open() }, 5*time.Second, 5*time.Millisecond,
		"no first message on %s", s.via.Name)
	require.True(t, s.Open(), "socket on %s closed at once: %v", s.via.Name, s.Err())
	return s.Messages()[0]
}

// ---- visitors -------------------------------------------------------------

// visitor is one ticket and every socket it opened, the live one last.
type visitor struct {
	ticket  string
	joined  int64 // position at join
	sockets []*socket
}

func (v *visitor) socket() *socket { return v.sockets[len(v.sockets)-1] }

// admissions are the admitted messages over all the visitor's sockets.
func (v *visitor) admissions() []testproc.Message {
	var out []testproc.Message
	for _, s := range v.sockets {
		for _, m := range s.Messages() {
			if m.Type == "admitted" {
				out = append(out, m)
			}
		}
	}
	return out
}

// joinLine has n visitors join the (paused) room one after the other,
// alternating between the instances, and checks they are numbered 1..n in
// join order.
func (b *bundle) joinLine(t *testing.T, room string, n int) []*visitor {
	t.Helper()
	vs := make([]*visitor, n)
	for i := range vs {
		st := b.join(t, b.waitroom[i%2], room)
		require.Equal(t, "waiting", st.State, "visitor %d", i+1)
		require.EqualValues(t, i+1, st.Position, "joins are sequential: visitor %d is at position %d", i+1, i+1)
		vs[i] = &visitor{ticket: st.Ticket, joined: st.Position}
	}
	return vs
}

// version is the room's event version now.
func (b *bundle) version(t *testing.T, room string) int64 {
	t.Helper()
	p, err := b.store.Positions(b.ctx, room, nil)
	require.NoError(t, err)
	return p.Version
}

// nextWave waits for the room's next event (a tick, a config change) after
// version, lets its pushes settle, and returns the version it waited for.
func (b *bundle) nextWave(t *testing.T, room string, after int64, within time.Duration) int64 {
	t.Helper()
	var v int64
	require.Eventually(t, func() bool {
		p, err := b.store.Positions(b.ctx, room, nil)
		v = p.Version
		return err == nil && v > after
	}, within, 10*time.Millisecond,
		"room %s: no event after version %d within %s", room, after, within)
	time.Sleep(settle)
	return v
}

// socketsShowTruth checks that the live socket of every visitor shows what
// Redis holds: a waiting visitor's last message is its exact position and
// the line's length; an admitted one was told so. It returns false, having
// checked nothing, if the room moved past version meanwhile: the caller
// looks again once that wave has settled.
func (b *bundle) socketsShowTruth(t *testing.T, room string, vs []*visitor, version int64) bool {
	t.Helper()
	checked, mismatch := b.compareSockets(t, room, vs, version)
	require.Empty(t, mismatch)
	return checked
}

// compareSockets is socketsShowTruth that says what differs instead of
// failing.
func (b *bundle) compareSockets(t *testing.T, room string, vs []*visitor, version int64) (checked bool, mismatch string) {
	t.Helper()
	tickets := make([]string, len(vs))
	for i, v := range vs {
		tickets[i] = v.ticket
	}
	truth, err := b.store.Positions(b.ctx, room, tickets)
	require.NoError(t, err)
	if truth.Version != version {
		return false, ""
	}
	for i, v := range vs {
		s, tp := v.socket(), truth.Tickets[i]
		last, ok := s.Last()
		where := fmt.Sprintf("visitor %d on %s at version %d", v.joined, s.via.Name, version)
		switch {
		case !ok:
			return true, where + ": no message yet"
		case tp.State == queue.StateWaiting:
			want := testproc.Message{Type: "position", Position: tp.Position, Ahead: tp.Position - 1, Waiting: truth.Waiting}
			got := testproc.Message{Type: last.Type, Position: last.Position, Ahead: last.Ahead, Waiting: last.Waiting}
			if got != want {
				return true, fmt.Sprintf("%s: last message %+v, want %+v", where, got, want)
			}
		case tp.State == queue.StateAdmitted:
			if last.Type != "admitted" {
				return true, fmt.Sprintf("%s: admitted, but the last message is %+v", where, last)
			}
		default:
			return true, fmt.Sprintf("%s: state %q in Redis, want waiting or admitted", where, tp.State)
		}
	}
	return true, ""
}

// admitAll waits, wave after wave, until nobody of vs waits any more,
// checking after each wave that every socket shows the truth. It returns
// how many waves it checked.
func (b *bundle) admitAll(t *testing.T, room string, vs []*visitor, from int64, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	v, checked := from, 0
	for {
		v = b.nextWave(t, room, v, time.Until(deadline))
		if b.socketsShowTruth(t, room, vs, v) {
			checked++
		}
		st, err := b.store.Stats(b.ctx, room)
		require.NoError(t, err)
		if st.Waiting == 0 && st.Version == v {
			break
		}
	}
	// One more settle, so that a duplicate admission would have arrived.
	time.Sleep(settle)
	return checked
}

// requireEachAdmittedOnce checks that every visitor was told of its
// admission exactly once, on its live socket, as its last message, with an
// entry token that every verifier accepts for room and the ticket, no two
// tokens with the same id; and that no socket was told its visitor expired.
func requireEachAdmittedOnce(t *testing.T, ctx context.Context, room string, vs []*visitor, verifiers ...*entrytoken.Verifier) {
	t.Helper()
	jtis := map[string]int64{}
	for _, v := range vs {
		adm := v.admissions()
		require.Len(t, adm, 1, "visitor %d: admitted messages", v.joined)
		last, _ := v.socket().Last()
		require.Equal(t, "admitted", last.Type, "visitor %d: nothing after the admission", v.joined)
		require.NotEmpty(t, adm[0].ExpiresAt, "visitor %d", v.joined)
		require.Equal(t, "/booking/"+room, adm[0].TargetURL, "visitor %d", v.joined)
		for i, ver := range verifiers {
			claims, err := ver.Verify(ctx, adm[0].EntryToken, room)
			require.NoError(t, err, "visitor %d: token against the JWKS of waitroom %d", v.joined, i+1)
			require.NotEqual(t, v.ticket, claims.Subject, "visitor %d: sub is never the ticket", v.joined)
			require.Equal(t, claims.ID, claims.Subject, "visitor %d: an anonymous sub is the admission id", v.joined)
			if i == 0 {
				other, dup := jtis[claims.ID]
				require.False(t, dup, "visitors %d and %d: same jti", other, v.joined)
				jtis[claims.ID] = v.joined
			}
		}
		for _, s := range v.sockets {
			for _, m := range s.Messages() {
				require.NotEqual(t, "expired", m.Type, "visitor %d on %s: %+v", v.joined, s.via.Name, m)
			}
		}
	}
}

// verifiers returns a verifier of entry tokens per waitroom instance, each
// fetching that instance's JWKS.
func (b *bundle) verifiers(t *testing.T) []*entrytoken.Verifier {
	t.Helper()
	var out []*entrytoken.Verifier
	for _, w := range b.waitroom {
		v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{JWKSURL: w.Base + "/.well-known/jwks.json", HTTPClient: b.http})
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

// ticks groups the visitors by the tick that admitted them, in order. A
// tick's pushes reach every socket within milliseconds and ticks come an
// interval apart, so a gap of over gap between two admissions, in the
// order they arrived, starts a new tick. It returns each visitor's tick
// (0-based) and each tick's first arrival.
func ticks(t *testing.T, vs []*visitor, gap time.Duration) (tickOf map[*visitor]int, starts []time.Time) {
	t.Helper()
	byTime := slices.Clone(vs)
	at := func(v *visitor) time.Time { return v.admissions()[0].At }
	slices.SortFunc(byTime, func(a, b *visitor) int { return at(a).Compare(at(b)) })
	tickOf = map[*visitor]int{}
	for i, v := range byTime {
		if i == 0 || at(v).Sub(at(byTime[i-1])) > gap {
			starts = append(starts, at(v))
		}
		tickOf[v] = len(starts) - 1
	}
	return tickOf, starts
}

// requireJoinOrder checks that each tick admitted the next batch of the
// line: the visitor who joined k-th (from 1) was admitted by tick (k-1)/batch.
func requireJoinOrder(t *testing.T, vs []*visitor, tickOf map[*visitor]int, batch int) {
	t.Helper()
	for _, v := range vs {
		require.Equal(t, int(v.joined-1)/batch, tickOf[v],
			"visitor %d admitted by tick %d: each tick admits the next %d in join order", v.joined, tickOf[v]+1, batch)
	}
}
