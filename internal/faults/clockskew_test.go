package faults_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/internal/hub"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// The hosts' clocks: one runs 5 s ahead of the true time, one 5 s behind.
const hostSkew = 5 * time.Second

// skewedHost is one waitroom instance, in process, whose clock is skew away
// from the true time. cmd/waitroom reads the host clock in exactly one
// place, the entry-token signer (SignerOptions.Now); everything else takes
// Redis's time inside the scripts. So this host is cmd/waitroom's wiring
// (store, hub, signer, HTTP API) with the signer's clock skewed.
type skewedHost struct {
	name string
	skew time.Duration
	base string // http://127.0.0.1:port
	addr string
}

// skewBundle is one Redis, the two hosts on it sharing a signing key (as
// production's instances do), a store to tick the rooms as the admitter
// would, and verifiers as the booking API runs them.
type skewBundle struct {
	ctx   context.Context
	store *queue.Store
	hosts [2]*skewedHost // +5 s, −5 s
	key   ed25519.PrivateKey
	http  *http.Client
}

func setupSkew(t *testing.T) *skewBundle {
	t.Helper()
	ctx := t.Context()
	srv := redistest.Start(t)
	key, _ := testproc.SigningKey(t)
	b := &skewBundle{ctx: ctx, store: queue.New(srv.Client(), queue.Options{Logger: slog.New(slog.DiscardHandler)}),
		key: key, http: newHTTPClient(t, 10*time.Second)}
	for i, skew := range []time.Duration{hostSkew, -hostSkew} {
		b.hosts[i] = startSkewedHost(t, fmt.Sprintf("host %+ds", int(skew.Seconds())), skew, srv, key)
	}
	return b
}

func startSkewedHost(t *testing.T, name string, skew time.Duration, srv *redistest.Server, key ed25519.PrivateKey) *skewedHost {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	store := queue.New(srv.Client(), queue.Options{Logger: quiet})
	signer := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{Now: func() time.Time { return time.Now().Add(skew) }})
	h := hub.New(store, hub.Options{Logger: quiet, Sign: func(room, subject, id string, exp time.Time) (string, error) {
		return signer.Sign(entrytoken.Claims{Room: room, Subject: subject, ID: id, ExpiresAt: exp})
	}})
	e := httpapi.NewEcho(quiet)
	sockets, cancel := context.WithCancel(context.Background())
	(&httpapi.Waitroom{Store: store, Sockets: h, Signer: signer, SocketContext: sockets, Logger: quiet}).Register(e)
	ts := httptest.NewServer(e)
	t.Cleanup(func() {
		cancel()
		ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = h.Shutdown(ctx)
		ts.Close()
	})
	return &skewedHost{name: name, skew: skew, base: ts.URL, addr: strings.TrimPrefix(ts.URL, "http://")}
}

// verifier checks tokens as a booking host whose clock is skew away from
// the true time does.
func (b *skewBundle) verifier(t *testing.T, skew time.Duration) *entrytoken.Verifier {
	t.Helper()
	jwks := entrytoken.PublicJWKS(b.key.Public().(ed25519.PublicKey))
	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return jwks, nil },
		Now:       func() time.Time { return time.Now().Add(skew) },
	})
	require.NoError(t, err)
	return v
}

func (b *skewBundle) putRoom(t *testing.T, room string, p queue.ConfigPatch) {
	t.Helper()
	_, _, err := b.store.PutRoom(b.ctx, room, p)
	require.NoError(t, err)
}

func (b *skewBundle) get(t *testing.T, h *skewedHost, path string) testproc.Answer {
	t.Helper()
	a, err := testproc.Send(b.ctx, b.http, http.MethodGet, h.base+path, nil, "")
	require.NoError(t, err, "GET %s on %s", path, h.name)
	return a
}

// issuedAt reads a token's iat without verifying it.
func issuedAt(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c struct {
		IAT int64 `json:"iat"`
	}
	require.NoError(t, json.Unmarshal(raw, &c))
	return time.Unix(c.IAT, 0)
}

// Two waitroom hosts, one 5 s ahead and one 5 s behind, serve the same
// rooms. The line is ordered by Redis's clock inside the scripts, so it is
// exactly the join order whichever host took each join; the entry tokens
// each host signs carry its own iat and nbf, and verify at the true time
// and on booking hosts themselves 5 s off, since verifiers allow 30 s of
// leeway; a token signed more than 30 s ahead is refused.
func TestClockSkewOfFiveSecondsBetweenHosts(t *testing.T) {
	// Not parallel with the failover and kill tests: it checks timings
	// of a second, which those tests' dozens of processes can starve.
	b := setupSkew(t)

	t.Run("the line is the join order whichever host took each join", func(t *testing.T) {
		t.Parallel()
		const room, n, batch = "skew-order", 40, 10
		b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeQueueAll), Capacity: new(0), BatchSize: new(batch),
			AbandonAfterS: new(0), Paused: new(true)})
		tickets := make([]string, n)
		for i := range n {
			h := b.hosts[i%2] // interleaved: ahead, behind, ahead, …
			before := time.Now()
			a, err := testproc.Send(b.ctx, b.http, http.MethodPost, h.base+"/api/rooms/"+room+"/tickets", nil, "")
			after := time.Now()
			require.NoError(t, err)
			require.Equal(t, http.StatusCreated, a.Status, "join %d on %s: %s", i+1, h.name, a)
			st, err := decodeStatus(a)
			require.NoError(t, err)
			require.EqualValues(t, i+1, st.Position, "join %d on %s", i+1, h.name)
			tickets[i] = st.Ticket

			// The place was stamped with Redis's time, not the host's: the
			// same clock as the test's, not 5 s away from it.
			p, err := b.store.Positions(b.ctx, room, []string{st.Ticket})
			require.NoError(t, err)
			arrived := queue.ArrivalTime(p.Tickets[0].Score)
			require.WithinRange(t, arrived, before.Add(-time.Second), after.Add(time.Second),
				"join %d on %s is stamped with Redis's clock", i+1, h.name)
		}
		truth, err := b.store.Positions(b.ctx, room, tickets)
		require.NoError(t, err)
		for i, tp := range truth.Tickets {
			require.EqualValues(t, i+1, tp.Position, "the line is the join order")
			if i > 0 {
				require.Greater(t, tp.Score, truth.Tickets[i-1].Score)
			}
		}

		// Sockets on the other host than the join's; the admitter's ticks
		// admit the line in join order, and each socket is told so with a
		// token that the host signed with its skewed clock.
		socks := make([]*socket, n)
		for i, tk := range tickets {
			h := b.hosts[(i+1)%2]
			s, err := dialSocket(b.ctx, h.addr, h.name, room, tk)
			require.NoError(t, err)
			t.Cleanup(s.Close)
			socks[i] = s
		}
		for i, s := range socks {
			require.Eventually(t, func() bool { _, ok := s.Last(); return ok }, 5*time.Second, 5*time.Millisecond)
			m, _ := s.Last()
			require.Equal(t, "position", m.Type)
			require.EqualValues(t, i+1, m.Position, "visitor %d's first position on %s", i+1, s.via)
		}
		b.putRoom(t, room, queue.ConfigPatch{Paused: new(false)})
		var order []string
		for range n / batch {
			ev, err := b.store.Tick(b.ctx, room)
			require.NoError(t, err)
			require.Len(t, ev.Admitted, batch)
			for _, a := range ev.Admitted {
				order = append(order, a.Ticket)
			}
		}
		require.Equal(t, tickets, order, "admitted in join order")

		truthV := b.verifier(t, 0)
		for i, s := range socks {
			require.True(t, s.WaitFor("admitted"), "visitor %d on %s: %v", i+1, s.via, s.Err())
			var m testproc.Message
			for _, x := range s.Messages() {
				if x.Type == "admitted" {
					m = x
				}
			}
			skew := b.hosts[(i+1)%2].skew
			c, err := truthV.Verify(b.ctx, m.EntryToken, room)
			require.NoError(t, err, "visitor %d: the token of the host %+v away verifies at the true time", i+1, skew)
			require.NotEqual(t, tickets[i], c.Subject, "sub is never the ticket")
			require.Equal(t, c.ID, c.Subject, "an anonymous visitor's sub is the admission id, the jti")
			require.InDelta(t, float64(time.Now().Add(skew).Unix()), float64(c.IssuedAt.Unix()), 2,
				"visitor %d: iat is the host's clock (%+v)", i+1, skew)
			require.Equal(t, m.ExpiresAt, c.ExpiresAt.Format(time.RFC3339), "exp is the admission's end, from Redis")
		}
	})

	t.Run("tokens of both hosts verify at the true time and on skewed verifiers, past 30 s ahead they do not", func(t *testing.T) {
		t.Parallel()
		const room = "skew-tokens"
		b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeAuto), Capacity: new(0), AbandonAfterS: new(0)})
		verifiers := map[time.Duration]*entrytoken.Verifier{}
		for _, s := range []time.Duration{-hostSkew, 0, hostSkew} {
			verifiers[s] = b.verifier(t, s)
		}
		for _, h := range b.hosts {
			a, err := testproc.Send(b.ctx, b.http, http.MethodPost, h.base+"/api/rooms/"+room+"/tickets", nil, "")
			require.NoError(t, err)
			require.Equal(t, http.StatusCreated, a.Status, "%s", a)
			st, err := decodeStatus(a)
			require.NoError(t, err)
			require.Equal(t, "admitted", st.State, "auto mode with nobody waiting admits at once")
			// The join's own token, and the one a status read on each host signs.
			tokens := []string{st.EntryToken}
			for _, other := range b.hosts {
				a := b.get(t, other, "/api/rooms/"+room+"/tickets/"+st.Ticket)
				require.Equal(t, http.StatusOK, a.Status, "status on %s: %s", other.name, a)
				o, err := decodeStatus(a)
				require.NoError(t, err)
				require.Equal(t, st.ExpiresAt, o.ExpiresAt, "both hosts see the one admission")
				tokens = append(tokens, o.EntryToken)
			}
			for i, tok := range tokens {
				for skew, v := range verifiers {
					c, err := v.Verify(b.ctx, tok, room)
					require.NoError(t, err, "token %d (joined on %s) on a verifier %+v away", i, h.name, skew)
					require.Equal(t, st.ExpiresAt, c.ExpiresAt.Format(time.RFC3339))
				}
			}
			require.InDelta(t, float64(time.Now().Add(h.skew).Unix()), float64(issuedAt(t, st.EntryToken).Unix()), 2,
				"the join's token carries %s's clock", h.name)
		}

		// A signer further ahead than the leeway makes tokens that are not
		// yet valid anywhere near the true time. (A signer behind only makes
		// iat older: exp is the admission's end, from Redis, so the token is
		// as valid as the admission.)
		exp := time.Now().Add(10 * time.Minute)
		for _, c := range []struct {
			skew time.Duration
			ok   bool
		}{
			{-time.Minute, true}, {-hostSkew, true}, {hostSkew, true}, {29 * time.Second, true},
			{32 * time.Second, false}, {time.Minute, false},
		} {
			s := entrytoken.NewSigner(b.key, nil, entrytoken.SignerOptions{Now: func() time.Time { return time.Now().Add(c.skew) }})
			tok, err := s.Sign(entrytoken.Claims{Room: room, Subject: "someone", ID: "a1", ExpiresAt: exp})
			require.NoError(t, err)
			_, err = verifiers[0].Verify(b.ctx, tok, room)
			if c.ok {
				require.NoError(t, err, "signed %+v away from the true time", c.skew)
			} else {
				require.ErrorIs(t, err, entrytoken.ErrInvalidToken, "signed %+v away from the true time", c.skew)
			}
		}
	})

	// docs/API.md: an admitted ticket's status is "admitted" with an entry token
	// until the admission ends, and its end is Redis's. A host 5 s ahead
	// must not refuse to sign during the admission's last 5 s, and a host
	// 5 s behind must not keep an ended admission alive.
	t.Run("a host 5 s ahead still hands out the token in the last 5 s of an admission", func(t *testing.T) {
		t.Parallel()
		const room = "skew-last-seconds"
		ahead, behind := b.hosts[0], b.hosts[1]
		b.putRoom(t, room, queue.ConfigPatch{Mode: new(queue.ModeAuto), Capacity: new(0), AbandonAfterS: new(0), SessionTTLS: new(10)})
		a, err := testproc.Send(b.ctx, b.http, http.MethodPost, behind.base+"/api/rooms/"+room+"/tickets", nil, "")
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, a.Status, "%s", a)
		st, err := decodeStatus(a)
		require.NoError(t, err)
		require.Equal(t, "admitted", st.State)
		p, err := b.store.Positions(b.ctx, room, []string{st.Ticket})
		require.NoError(t, err)
		ends := p.Tickets[0].AdmissionEnds

		time.Sleep(time.Until(ends.Add(-3 * time.Second))) // 3 s left, by Redis's clock (and the true one)
		truthV := b.verifier(t, 0)
		for _, h := range []*skewedHost{behind, ahead} {
			t.Run("status on "+h.name, func(t *testing.T) {
				a := b.get(t, h, "/api/rooms/"+room+"/tickets/"+st.Ticket)
				require.Equal(t, http.StatusOK, a.Status, "status on %s with 3 s of the admission left: %s", h.name, a)
				o, err := decodeStatus(a)
				require.NoError(t, err)
				require.Equal(t, "admitted", o.State)
				_, err = truthV.Verify(b.ctx, o.EntryToken, room)
				require.NoError(t, err, "the token %s signs with 3 s left", h.name)
			})
			t.Run("socket on "+h.name, func(t *testing.T) {
				s, err := dialSocket(b.ctx, h.addr, h.name, room, st.Ticket)
				require.NoError(t, err)
				ok := s.WaitFor("admitted")
				s.Close()
				require.True(t, ok, "the socket on %s with 3 s of the admission left says admitted; it closed: %v", h.name, s.Err())
			})
		}

		time.Sleep(time.Until(ends.Add(500 * time.Millisecond)))
		for _, h := range []*skewedHost{behind, ahead} {
			a := b.get(t, h, "/api/rooms/"+room+"/tickets/"+st.Ticket)
			require.Equal(t, http.StatusNotFound, a.Status, "status on %s after the admission ended: %s", h.name, a)
			require.Equal(t, "ticket_not_found", a.ErrorCode())
		}
	})
}
