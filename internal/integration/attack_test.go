package integration_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pow"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// The attacks of the security review (issue 11), each tried as written
// against the real binaries on a real Redis: every one now fails with the
// code of docs/API.md and leaves Redis as it was.

// userSecret is the HS256 key the tests sign user tokens with, playing the
// protected site.
const userSecret = "integration-user-secret-0123456789-abcdef"

// userToken is a user token for sub as the site signs it, valid ten
// minutes; extra claims override or add ("room", "exp", …).
func userToken(t *testing.T, sub string, extra jwt.MapClaims) string {
	t.Helper()
	return signUser(t, jwt.SigningMethodHS256, []byte(userSecret), sub, extra)
}

func signUser(t *testing.T, m jwt.SigningMethod, key any, sub string, extra jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"sub": sub, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	tok, err := jwt.NewWithClaims(m, c).SignedString(key)
	require.NoError(t, err)
	return tok
}

// request is a raw HTTP request of an attack: any header, any body.
type request struct {
	method, path string
	header       http.Header
	body         string
}

// raw sends r to base as written (no JSON marshalling, no default header).
func (b *bundle) raw(t *testing.T, base string, r request) (testproc.Answer, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, r.method, base+r.path, strings.NewReader(r.body))
	require.NoError(t, err)
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return testproc.Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, resp.Header
}

func jsonHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// snapshot is every key of the room (and the shared proof-of-work key) with
// its serialised value; the pacers' own bookkeeping is left out, it moves
// with the admitters' clocks, not with a visitor's request.
func (b *bundle) snapshot(t *testing.T, room string) map[string]string {
	t.Helper()
	rdb := b.redis.Client()
	defer rdb.Close()
	keys, err := rdb.Keys(b.ctx, "*").Result()
	require.NoError(t, err)
	out := map[string]string{}
	for _, k := range keys {
		if strings.HasSuffix(k, ":loop") || strings.HasSuffix(k, ":timer") {
			continue
		}
		v, err := rdb.Dump(b.ctx, k).Result()
		require.NoError(t, err, "dump %s", k)
		out[k] = v
	}
	return out
}

// unchanged runs f and checks that Redis holds what it held before.
func (b *bundle) unchanged(t *testing.T, room string, f func()) {
	t.Helper()
	before := b.snapshot(t, room)
	f()
	require.Equal(t, before, b.snapshot(t, room), "a refused request changed Redis")
}

// status reads a ticket's status through w.
func (b *bundle) statusOf(t *testing.T, w *testproc.Server, room, ticket string) map[string]any {
	t.Helper()
	a := b.send(t, http.MethodGet, w.Base+"/api/rooms/"+room+"/tickets/"+ticket, nil, "")
	require.Equal(t, http.StatusOK, a.Status, "%s", a)
	var m map[string]any
	require.NoError(t, json.Unmarshal(a.Body, &m))
	return m
}

// tick runs one admitter step for room now, as the admitter would.
func (b *bundle) tick(t *testing.T, room string) int {
	t.Helper()
	ev, err := b.store.Tick(b.ctx, room)
	require.NoError(t, err)
	return len(ev.Admitted)
}

// slowRoom is a room whose admitters tick at most every 15 minutes: the
// test ticks it itself, so nothing but the attack moves Redis.
var slowRoom = map[string]any{"mode": "queue_all", "interval_ms": 900000, "capacity": 10, "batch_size": 10}

// putSlowRoom creates room (cfg: slowRoom or the like) on the first
// waitroom, which it returns, and waits out the admitters' first tick of
// it, so that Redis then moves only when the test ticks or a request
// changes something.
func (b *bundle) putSlowRoom(t *testing.T, room string, cfg map[string]any) *testproc.Server {
	t.Helper()
	b.putRoom(t, b.waitroom[0], room, cfg)
	rdb := b.redis.Client()
	defer rdb.Close()
	require.Eventually(t, func() bool {
		return rdb.HExists(b.ctx, "wr:{"+room+"}:stats", "lastmin_at").Val()
	}, 15*time.Second, 20*time.Millisecond, "the admitters' first tick of %s", room)
	return b.waitroom[0]
}

func TestAttackNoClientTakesOverAnotherVisitorsPlaceTokenOrBookings(t *testing.T) {
	b := setup(t, singleNode)
	w, other := b.waitroom[0], b.waitroom[1]
	const room = "alice-sale"
	b.putSlowRoom(t, room, slowRoom)
	b.send(t, http.MethodPut, b.booking.Base+"/api/admin/events/"+room+"/seats", map[string]any{"seats": []string{"A1", "A2", "A3"}}, adminToken)
	const alice = "alice@example.com"
	joinPath := "/api/rooms/" + room + "/tickets"

	a := b.send(t, http.MethodPost, w.Base+joinPath, map[string]string{"user_token": userToken(t, alice, nil)}, "")
	require.Equal(t, http.StatusCreated, a.Status, "%s", a)
	var mine testproc.TicketStatus
	require.NoError(t, json.Unmarshal(a.Body, &mine))

	// A fresh client, no cookie, claiming to be alice.
	b.unchanged(t, room, func() {
		r, h := b.raw(t, other.Base, request{method: http.MethodPost, path: joinPath, header: jsonHeader(),
			body: `{"user":"alice@example.com"}`})
		requireAPIError(t, r, http.StatusBadRequest, "invalid_body")
		require.Contains(t, string(r.Body), "user_token")
		require.Empty(t, h.Values("Set-Cookie"))
		_, evil, err := ed25519.GenerateKey(nil)
		require.NoError(t, err)
		for name, forged := range map[string]string{
			"another site's secret": signUser(t, jwt.SigningMethodHS256, []byte("another-site-secret-0123456789-abcdef"), alice, nil),
			"alg none":              signUser(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, alice, nil),
			"expired":               userToken(t, alice, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}),
			"another room":          userToken(t, alice, jwt.MapClaims{"room": "other-sale"}),
			"EdDSA, unknown key":    signUser(t, jwt.SigningMethodEdDSA, evil, alice, nil),
		} {
			r := b.send(t, http.MethodPost, other.Base+joinPath, map[string]string{"user_token": forged}, "")
			requireAPIError(t, r, http.StatusUnauthorized, "invalid_user_token")
			_ = name
		}
	})

	require.Equal(t, 1, b.tick(t, room))
	st := b.statusOf(t, w, room, mine.Ticket)
	require.Equal(t, "admitted", st["state"])
	token := st["entry_token"].(string)
	c := testproc.Claims(t, token)
	require.Equal(t, alice, c.Subject)
	require.NotEqual(t, mine.Ticket, c.ID)

	// Whoever sees alice's entry token cannot use it as her ticket.
	b.unchanged(t, room, func() {
		for _, id := range []string{c.Subject, c.ID} {
			requireAPIError(t, b.send(t, http.MethodGet, w.Base+"/api/rooms/"+room+"/tickets/"+id, nil, ""), http.StatusNotFound, "ticket_not_found")
			requireAPIError(t, b.send(t, http.MethodDelete, w.Base+"/api/rooms/"+room+"/tickets/"+id, nil, ""), http.StatusNotFound, "ticket_not_found")
		}
	})

	events := b.booking.Base + "/api/events/" + room
	require.Equal(t, http.StatusCreated, b.send(t, http.MethodPost, events+"/holds", map[string]string{"seat": "A1"}, token).Status)
	require.Equal(t, http.StatusCreated, b.send(t, http.MethodPost, events+"/bookings", map[string]string{"seat": "A1"}, token).Status)

	// A token alice did not get: signed by another key, or spliced onto her
	// admission with another sub.
	_, evilKey, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	forged, err := entrytoken.NewSigner(evilKey, nil, entrytoken.SignerOptions{}).
		Sign(entrytoken.Claims{Room: room, Subject: alice, ID: c.ID, ExpiresAt: time.Now().Add(5 * time.Minute)})
	require.NoError(t, err)
	b.unchanged(t, room, func() {
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/bookings"}, {http.MethodDelete, "/bookings/A1"}, {http.MethodPost, "/checkout"},
		} {
			requireAPIError(t, b.send(t, r.method, events+r.path, nil, forged), http.StatusUnauthorized, "invalid_token")
		}
	})

	// alice checks out; then a new admission of hers never revives the old token.
	require.Equal(t, http.StatusNoContent, b.send(t, http.MethodPost, events+"/checkout", nil, token).Status)
	a = b.send(t, http.MethodPost, other.Base+joinPath, map[string]string{"user_token": userToken(t, alice, nil)}, "")
	require.Equal(t, http.StatusCreated, a.Status, "%s", a)
	var again testproc.TicketStatus
	require.NoError(t, json.Unmarshal(a.Body, &again))
	require.Equal(t, 1, b.tick(t, room))
	fresh := b.statusOf(t, other, room, again.Ticket)["entry_token"].(string)
	require.NotEqual(t, c.ID, testproc.Claims(t, fresh).ID)
	b.unchanged(t, room, func() {
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/seats"}, {http.MethodGet, "/bookings"}, {http.MethodDelete, "/bookings/A1"}, {http.MethodPost, "/checkout"},
		} {
			requireAPIError(t, b.send(t, r.method, events+r.path, nil, token), http.StatusUnauthorized, "admission_ended")
		}
	})
	// Her bookings follow her, verified, into the new admission.
	a = b.send(t, http.MethodGet, events+"/bookings", nil, fresh)
	require.Equal(t, http.StatusOK, a.Status)
	require.Contains(t, string(a.Body), `"seat":"A1"`)
}

func TestAttackAnAnonymousVisitorsEntryTokenDoesNotNameTheirTicket(t *testing.T) {
	b := setup(t, singleNode)
	const room = "anon-sale"
	w := b.putSlowRoom(t, room, slowRoom)
	v := b.join(t, w, room)
	require.Equal(t, 1, b.tick(t, room))
	token := b.statusOf(t, w, room, v.Ticket)["entry_token"].(string)
	c := testproc.Claims(t, token)
	require.NotEqual(t, v.Ticket, c.Subject)
	require.Equal(t, c.ID, c.Subject, "an anonymous visitor's sub is the admission's opaque id")
	b.unchanged(t, room, func() {
		requireAPIError(t, b.send(t, http.MethodGet, w.Base+"/api/rooms/"+room+"/tickets/"+c.Subject, nil, ""), http.StatusNotFound, "ticket_not_found")
		requireAPIError(t, b.send(t, http.MethodDelete, w.Base+"/api/rooms/"+room+"/tickets/"+c.Subject, nil, ""), http.StatusNotFound, "ticket_not_found")
	})
	require.Equal(t, "admitted", b.statusOf(t, w, room, v.Ticket)["state"])
}

func TestAttackACrossSiteFormPostNeitherJoinsNorReplacesTheVisitorsCookie(t *testing.T) {
	b := setup(t, singleNode)
	const room = "other"
	w := b.putSlowRoom(t, room, slowRoom)
	mine := b.join(t, w, room)
	cookie := "wr_" + room + "=" + mine.Ticket
	path := "/api/rooms/" + room + "/tickets"
	form := "application/x-www-form-urlencoded"

	b.unchanged(t, room, func() {
		for _, c := range []struct {
			name   string
			r      request
			status int
			code   string
		}{
			{"a form post from another site, no body", request{method: http.MethodPost, path: path,
				header: http.Header{"Origin": {"https://evil.example"}, "Content-Type": {form}, "Cookie": {cookie}}}, 403, "forbidden_origin"},
			{"a JSON join from another site", request{method: http.MethodPost, path: path,
				header: jsonHeader("Origin", "https://evil.example", "Cookie", cookie), body: `{}`}, 403, "forbidden_origin"},
			{"a leave from another site", request{method: http.MethodDelete, path: path + "/" + mine.Ticket,
				header: http.Header{"Origin": {"https://evil.example"}, "Cookie": {cookie}}}, 403, "forbidden_origin"},
			{"an opaque origin", request{method: http.MethodPost, path: path,
				header: jsonHeader("Origin", "null", "Cookie", cookie), body: `{}`}, 403, "forbidden_origin"},
			{"a form post, empty", request{method: http.MethodPost, path: path,
				header: http.Header{"Content-Type": {form}, "Cookie": {cookie}}}, 400, "invalid_body"},
			{"a text/plain body", request{method: http.MethodPost, path: path,
				header: http.Header{"Content-Type": {"text/plain"}, "Cookie": {cookie}}, body: `{}`}, 400, "invalid_body"},
			{"a body without a type", request{method: http.MethodPost, path: path, header: http.Header{"Cookie": {cookie}}, body: `{}`}, 400, "invalid_body"},
		} {
			a, h := b.raw(t, w.Base, c.r)
			requireAPIError(t, a, c.status, c.code)
			require.Empty(t, h.Values("Set-Cookie"), "%s: the visitor's cookie stays", c.name)
		}
	})
	// The visitor's own page (same origin) still rejoins with the cookie.
	a, _ := b.raw(t, w.Base, request{method: http.MethodPost, path: path, body: `{}`,
		header: jsonHeader("Origin", w.Base, "Cookie", cookie)})
	require.Equal(t, http.StatusOK, a.Status, "%s", a)
	require.Contains(t, string(a.Body), mine.Ticket)
}

func TestAttackPrequeueJoinsThatAreNeverPresentDoNotSurviveTheOpening(t *testing.T) {
	b := setup(t, singleNode)
	w := b.waitroom[0]
	const room = "opening"
	opens := time.Now().Add(6 * time.Second).UTC()
	cfg := map[string]any{"mode": "queue_all", "interval_ms": 900000, "abandon_after_s": 2, "opens_at": opens.Format(time.RFC3339Nano)}
	b.putSlowRoom(t, room, cfg)

	// 400 joins that never open a socket nor ask their status, and three
	// visitors who keep their page open (a status request each second).
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bots []string
	for range 8 {
		wg.Go(func() {
			for range 50 {
				st := b.join(t, w, room)
				mu.Lock()
				bots = append(bots, st.Ticket)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var people []string
	for range 3 {
		people = append(people, b.join(t, w, room).Ticket)
	}
	for time.Until(opens) > 300*time.Millisecond {
		for _, p := range people {
			require.Equal(t, "prequeue", b.statusOf(t, w, room, p)["state"])
		}
		time.Sleep(min(time.Second, time.Until(opens)-300*time.Millisecond))
	}
	time.Sleep(time.Until(opens) + 100*time.Millisecond)
	b.tick(t, room)
	for i, p := range people {
		st := b.statusOf(t, w, room, p)
		require.Contains(t, []string{"waiting", "admitted"}, st["state"], "person %d", i)
	}
	st := b.statusOf(t, w, room, people[0])
	if st["state"] == "waiting" {
		require.EqualValues(t, 3, st["waiting"], "only the three who were there")
	}
	requireAPIError(t, b.send(t, http.MethodGet, w.Base+"/api/rooms/"+room+"/tickets/"+bots[0], nil, ""), http.StatusNotFound, "ticket_not_found")
	for _, bot := range bots { // the truth, from Redis (the status API is rate-limited)
		_, err := b.store.Status(b.ctx, room, bot)
		require.ErrorIs(t, err, queue.ErrTicketNotFound)
	}
}

// ---- proof of work ----------------------------------------------------------

// challenge fetches a puzzle for room through w.
func (b *bundle) challenge(t *testing.T, w *testproc.Server, room string) (pow.Challenge, testproc.Answer) {
	t.Helper()
	a := b.send(t, http.MethodGet, w.Base+"/api/rooms/"+room+"/challenge", nil, "")
	var ch pow.Challenge
	if a.Status == http.StatusOK {
		require.NoError(t, json.Unmarshal(a.Body, &ch), "%s", a)
	}
	return ch, a
}

// solve finds the challenge's number as a browser would, and returns the
// join body's pow payload.
func solve(t *testing.T, ch pow.Challenge) string {
	t.Helper()
	n := testproc.PowNumber(ch)
	require.NotEqual(t, -1, n, "no number solves %+v", ch)
	return payload(t, ch, n)
}

func payload(t *testing.T, ch pow.Challenge, n int) string {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"algorithm": ch.Algorithm, "challenge": ch.Challenge, "number": n,
		"salt": ch.Salt, "signature": ch.Signature})
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(raw)
}

func TestAttackAbuseTableEveryAttemptGetsItsAnswerAndChangesNothing(t *testing.T) {
	b := setup(t, singleNode)
	w, other := b.waitroom[0], b.waitroom[1]
	const room = "table"
	cfg := map[string]any{"mode": "queue_all", "interval_ms": 900000, "pow_work": 2000, "capacity": 10, "batch_size": 10}
	b.putSlowRoom(t, room, cfg)
	b.putSlowRoom(t, "elsewhere", cfg)
	join := "/api/rooms/" + room + "/tickets"
	rdb := b.redis.Client()
	defer rdb.Close()
	master, err := rdb.Get(b.ctx, pow.KeyRedisKey).Bytes()
	require.NoError(t, err, "the instances share one proof-of-work key, kept in Redis")

	// One solution spent on the first instance, the visitor admitted and
	// checked out: its payload and its entry token are what the table replays.
	ch, a := b.challenge(t, w, room)
	require.Equal(t, http.StatusOK, a.Status, "%s", a)
	spent := solve(t, ch)
	a = b.send(t, http.MethodPost, w.Base+join, map[string]string{"pow": spent}, "")
	require.Equal(t, http.StatusCreated, a.Status, "%s", a)
	var visitor testproc.TicketStatus
	require.NoError(t, json.Unmarshal(a.Body, &visitor))
	require.Equal(t, 1, b.tick(t, room))
	ended := b.statusOf(t, w, room, visitor.Ticket)["entry_token"].(string)
	require.Equal(t, http.StatusNoContent, b.send(t, http.MethodPost, b.booking.Base+"/api/events/"+room+"/checkout", nil, ended).Status)

	fresh1, _ := b.challenge(t, w, room)
	fresh2, _ := b.challenge(t, w, room)
	elsewhere, _ := b.challenge(t, w, "elsewhere")
	spliced := payload(t, pow.Challenge{Algorithm: fresh1.Algorithm, Challenge: fresh1.Challenge, Salt: fresh1.Salt,
		Signature: fresh2.Signature}, numberOf(t, solve(t, fresh1)))
	stretched := fresh1
	stretched.Salt = strings.Split(fresh1.Salt, "?")[0] + "?expires=" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	old, err := pow.NewChallenge(master, room, 50, time.Now().Add(-6*time.Minute))
	require.NoError(t, err)
	_, evil, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)

	rows := []struct {
		name   string
		via    *testproc.Server
		body   map[string]string
		status int
		code   string
	}{
		{"a forged user token", w, map[string]string{"user_token": signUser(t, jwt.SigningMethodHS256, []byte("not-the-sites-secret-0123456789-abcd"), "eve", nil)}, 401, "invalid_user_token"},
		{"an expired user token", w, map[string]string{"user_token": userToken(t, "eve", jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()})}, 401, "invalid_user_token"},
		{"a user token of another room", w, map[string]string{"user_token": userToken(t, "eve", jwt.MapClaims{"room": "elsewhere"})}, 401, "invalid_user_token"},
		{"a user token with alg none", w, map[string]string{"user_token": signUser(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "eve", nil)}, 401, "invalid_user_token"},
		{"a user token signed by an unknown EdDSA key", w, map[string]string{"user_token": signUser(t, jwt.SigningMethodEdDSA, evil, "eve", nil)}, 401, "invalid_user_token"},
		{"a plain user", w, map[string]string{"user": "eve"}, 400, "invalid_body"},
		{"no proof of work", w, map[string]string{}, 403, "pow_required"},
		{"a replayed proof of work", w, map[string]string{"pow": spent}, 403, "pow_invalid"},
		{"a proof of work reused on a second instance", other, map[string]string{"pow": spent}, 403, "pow_invalid"},
		{"a spliced proof of work", w, map[string]string{"pow": spliced}, 403, "pow_invalid"},
		{"a salt whose expiry was moved", w, map[string]string{"pow": payload(t, stretched, numberOf(t, solve(t, fresh1)))}, 403, "pow_invalid"},
		{"another room's proof of work", w, map[string]string{"pow": solve(t, elsewhere)}, 403, "pow_invalid"},
		{"an expired proof of work", w, map[string]string{"pow": solve(t, pow.Challenge(old))}, 403, "pow_invalid"},
		{"a wrong number", w, map[string]string{"pow": payload(t, fresh2, numberOf(t, solve(t, fresh2))+1)}, 403, "pow_invalid"},
		{"a proof of work that is no base64", w, map[string]string{"pow": "%%%"}, 403, "pow_invalid"},
	}
	b.unchanged(t, room, func() {
		for _, r := range rows {
			a := b.send(t, http.MethodPost, r.via.Base+join, r.body, "")
			require.Equal(t, r.status, a.Status, "%s: %s", r.name, a)
			requireAPIError(t, a, r.status, r.code)
		}
		// The ended admission's token, on every booking route.
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/seats"}, {http.MethodPost, "/holds"}, {http.MethodGet, "/bookings"}, {http.MethodPost, "/checkout"},
		} {
			var body any
			if r.method == http.MethodPost && r.path == "/holds" {
				body = map[string]string{"seat": "A1"}
			}
			requireAPIError(t, b.send(t, r.method, b.booking.Base+"/api/events/"+room+r.path, body, ended), http.StatusUnauthorized, "admission_ended")
		}
	})
}

func numberOf(t *testing.T, p string) int {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(p)
	require.NoError(t, err)
	var m struct{ Number int }
	require.NoError(t, json.Unmarshal(raw, &m))
	return m.Number
}

func TestAttackOneAddressPaysMoreForEachPlaceItTakes(t *testing.T) {
	b := setup(t, singleNode)
	w := b.waitroom[0]
	const room = "flood"
	const base = 1000
	b.putSlowRoom(t, room, map[string]any{"mode": "queue_all", "interval_ms": 900000, "pow_work": base})

	// 1 000 joins from one address without work: none gets a place. (They go
	// to the other instance, whose join limit they drain.)
	flood := b.waitroom[1]
	b.unchanged(t, room, func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[string]int{}
		for range 10 {
			wg.Go(func() {
				for range 100 {
					a, err := b.trySend(http.MethodPost, flood.Base+"/api/rooms/"+room+"/tickets", map[string]string{}, "")
					require.NoError(t, err)
					var e struct{ Error struct{ Code string } }
					_ = json.Unmarshal(a.Body, &e)
					mu.Lock()
					codes[e.Error.Code]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Equal(t, 1000, codes["pow_required"]+codes["rate_limited"], "%v", codes)
		require.Positive(t, codes["pow_required"])
		t.Logf("1000 joins without work: %v", codes)
	})

	// Each challenge the address fetches costs more: doubling every 10, up to
	// 10 000 000; the places it can take cost the sum.
	var sizes []int
	work := 0.0
	for i := range 150 {
		ch, a := b.challenge(t, w, room)
		if a.Status == http.StatusTooManyRequests {
			break
		}
		require.Equal(t, http.StatusOK, a.Status, "%s", a)
		require.Equal(t, pow.Required(base, int64(i)), ch.MaxNumber, "challenge %d", i+1)
		sizes = append(sizes, ch.MaxNumber)
		work += float64(ch.MaxNumber) / 2
		if i < 12 { // the cheap ones: really solved, really joined
			a := b.send(t, http.MethodPost, w.Base+"/api/rooms/"+room+"/tickets", map[string]string{"pow": solve(t, ch)}, "")
			require.Equal(t, http.StatusCreated, a.Status, "%s", a)
		}
	}
	require.Len(t, sizes, 150)
	require.Equal(t, base, sizes[0])
	require.Equal(t, 2*base, sizes[10])
	require.Equal(t, 10_000_000, sizes[149], "capped")
	t.Logf("one address, 150 places: %.0f SHA-256 hashes expected in all (the first cost %d/2)", work, base)
}
