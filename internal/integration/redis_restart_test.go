package integration_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testproc"
)

// probe is one request a test repeats while Redis goes and comes back.
type probe struct {
	name, method, url, token string
	up                       int // the status once Redis is up
}

// probe sends the probe and returns its answer; a transport error is
// status 0.
func (b *bundle) probe(p probe) testproc.Answer {
	a, err := b.trySend(p.method, p.url, nil, p.token)
	if err != nil {
		return testproc.Answer{Body: []byte(err.Error())}
	}
	return a
}

// until repeats the probes, all at once as visitors would send them, until
// every one answers the status want gives it, for at most within; it
// returns how long that took, or fails with the last answers.
func (b *bundle) until(t *testing.T, probes []probe, want func(probe) int, within time.Duration, what string) time.Duration {
	t.Helper()
	began := time.Now()
	last := make([]testproc.Answer, len(probes))
	for {
		var wg sync.WaitGroup
		for i, p := range probes {
			if last[i].Status == want(p) && p.method == http.MethodPost {
				continue // a join that worked is not repeated
			}
			wg.Go(func() { last[i] = b.probe(p) })
		}
		wg.Wait()
		ok := true
		for i, p := range probes {
			ok = ok && last[i].Status == want(p)
		}
		if ok {
			return time.Since(began)
		}
		if time.Since(began) > within {
			var got strings.Builder
			for i, p := range probes {
				fmt.Fprintf(&got, "\n  %s: %s, want %d", p.name, last[i], want(p))
			}
			t.Fatalf("%s: not within %s:%s", what, within, got.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Redis dies under the running service and comes back on the same address
// with its data (append-only file): every service says it is unavailable
// meanwhile, and recovers by itself within 5 s, sockets and all.
func TestRedisRestartedUnderTheService(t *testing.T) {
	t.Parallel()
	began := time.Now()
	b := setup(t, singleNode)
	t.Logf("setup %s", time.Since(began).Round(time.Millisecond))
	const room, n = "restart", 40
	b.putRoom(t, b.waitroom[0], room, map[string]any{
		"mode": "queue_all", "capacity": 0, "batch_size": 2, "interval_ms": 1000, "abandon_after_s": 0, "paused": true,
	})
	vs := b.joinLine(t, room, n)
	for i, v := range vs {
		v.sockets = append(v.sockets, dial(t, b.waitroom[(i/2)%2], room, v.ticket))
	}
	for _, v := range vs {
		require.Equal(t, v.joined, v.socket().first(t).Position, "visitor %d: first position", v.joined)
	}
	// The line moves, 2 a second (20 s for all), and the sockets follow it;
	// the first visitor in uses the booking service.
	v := b.version(t, room)
	b.putRoom(t, b.waitroom[1], room, map[string]any{"paused": false})
	resumed := time.Now()
	for {
		v = b.nextWave(t, room, v, 5*time.Second)
		if b.socketsShowTruth(t, room, vs, v) && len(vs[0].admissions()) == 1 {
			break
		}
	}
	t.Logf("first admission %s after resuming", time.Since(resumed).Round(time.Millisecond))
	token := vs[0].admissions()[0].EntryToken
	a := b.send(t, http.MethodPut, b.booking.Base+"/api/admin/events/"+room+"/seats", map[string]any{"seats": []string{"A1", "A2"}}, adminToken)
	require.Equal(t, http.StatusOK, a.Status, "%s", a)

	var probes []probe
	for _, w := range b.waitroom {
		probes = append(probes,
			probe{name: w.Name + " /readyz", method: http.MethodGet, url: w.Base + "/readyz", up: http.StatusOK},
			probe{name: w.Name + " join", method: http.MethodPost, url: w.Base + "/api/rooms/" + room + "/tickets", up: http.StatusCreated},
			probe{name: w.Name + " status", method: http.MethodGet, url: w.Base + "/api/rooms/" + room + "/tickets/" + vs[n-1].ticket, up: http.StatusOK},
		)
	}
	probes = append(probes,
		probe{name: "booking /readyz", method: http.MethodGet, url: b.booking.Base + "/readyz", up: http.StatusOK},
		probe{name: "booking seats", method: http.MethodGet, url: b.booking.Base + "/api/events/" + room + "/seats", token: token, up: http.StatusOK},
	)
	b.until(t, probes, func(p probe) int { return p.up }, time.Second, "with Redis up")

	require.NoError(t, b.redis.Kill())
	down := time.Now()
	took := b.until(t, probes, func(probe) int { return http.StatusServiceUnavailable }, 3*time.Second, "with Redis down: 503")
	t.Logf("every probe 503 %s after Redis died", took.Round(time.Millisecond))
	for _, p := range probes {
		if !strings.HasSuffix(p.url, "/readyz") {
			requireAPIError(t, b.probe(p), http.StatusServiceUnavailable, "unavailable")
		}
	}

	// A restart takes a few seconds: long enough for every client's
	// connections, the hub's subscriptions among them, to have failed.
	time.Sleep(time.Until(down.Add(3 * time.Second)))
	require.NoError(t, b.redis.Start())
	back := time.Now()
	took = b.until(t, probes, func(p probe) int { return p.up }, 5*time.Second, "Redis is back, no service restarted")
	t.Logf("every probe answers as before %s after Redis came back", took.Round(time.Millisecond))

	for _, v := range vs {
		s := v.socket()
		require.True(t, s.Open(), "visitor %d: the socket on %s outlived the restart: %v", v.joined, s.via.Name, s.Err())
	}
	// The hub subscribed again by itself: the next tick reaches every
	// socket, exactly.
	v = b.version(t, room)
	deadline := back.Add(5*time.Second + settle)
	for {
		v = b.nextWave(t, room, v, time.Until(deadline))
		checked, mismatch := b.compareSockets(t, room, vs, v)
		if checked && mismatch == "" {
			break
		}
		require.True(t, time.Now().Before(deadline), "sockets not exact within 5 s of Redis coming back: %s", mismatch)
	}
	t.Logf("sockets exact again %s after Redis came back", time.Since(back).Round(time.Millisecond))
	for _, v := range vs {
		s := v.socket()
		require.True(t, s.Open(), "visitor %d: the socket on %s: %v", v.joined, s.via.Name, s.Err())
	}
}
