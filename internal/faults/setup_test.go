package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer/sqstest"
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
