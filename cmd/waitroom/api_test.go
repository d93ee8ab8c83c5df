package main

import (
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/httpapi"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// The waiting-room API of docs/API.md, through the real server on real Redis.

func TestJoinGivesANewTicketInAnHttpOnlyLaxCookie(t *testing.T) {
	b := setupSale(t)

	r := b.join("sale", nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	m := jsonObject(t, r)
	requireKeys(t, m, "ticket", "room", "state", "position", "ahead", "waiting", "eta_seconds")
	ticket := m["ticket"].(string)
	require.True(t, queue.ValidTicket(ticket), "ticket %q", ticket)
	raw, err := base64.RawURLEncoding.DecodeString(ticket)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(raw)*8, 128, "at least 128 random bits")
	require.Equal(t, "sale", m["room"])
	require.Equal(t, "waiting", m["state"])
	require.EqualValues(t, 1, num(t, m["position"]))
	require.EqualValues(t, 0, num(t, m["ahead"]))
	require.EqualValues(t, 1, num(t, m["waiting"]))
	require.Nil(t, m["eta_seconds"], "null until the room has admitted anyone")

	ck := r.Cookie("wr_sale")
	require.NotNil(t, ck, "Set-Cookie wr_sale: %v", r.Header.Values("Set-Cookie"))
	require.Equal(t, ticket, ck.Value)
	require.True(t, ck.HttpOnly, "HttpOnly")
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	require.Equal(t, "/", ck.Path)
	require.False(t, ck.Secure, "no Secure without TLS")
	require.Greater(t, ck.MaxAge, 0)
}

// Behind a proxy that ends TLS, a join reaches the server over plain HTTP:
// WAITROOM_COOKIE_SECURE (or an https WAITROOM_PUBLIC_URL) makes its cookie
// Secure anyway; false makes no cookie Secure; unset and with no public URL,
// the request decides (X-Forwarded-Proto: https).
func TestTheCookieSecureSettingDecidesWhetherTheTicketCookieIsSecure(t *testing.T) {
	parsed := func(env map[string]string) Config {
		t.Helper()
		c, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
		require.NoError(t, err)
		return c
	}
	for _, c := range []struct {
		name     string
		env      map[string]string
		header   http.Header
		secure   bool
		leaveToo bool
	}{
		{"on, plain HTTP", map[string]string{"WAITROOM_COOKIE_SECURE": "true"}, nil, true, true},
		{"on by default with an https public URL", map[string]string{"WAITROOM_PUBLIC_URL": "https://tickets.example.com"}, nil, true, true},
		{"off, though the proxy says https", map[string]string{"WAITROOM_COOKIE_SECURE": "false", "WAITROOM_PUBLIC_URL": "https://tickets.example.com"},
			http.Header{"X-Forwarded-Proto": {"https"}}, false, false},
		{"unset with an http public URL: per request, plain", map[string]string{"WAITROOM_PUBLIC_URL": "http://localhost:8080"}, nil, false, false},
		{"unset: per request, the proxy says https", nil, http.Header{"X-Forwarded-Proto": {"https"}}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := parsed(c.env)
			b := setupWith(t, options{configure: func(bc *Config) { bc.PublicURL, bc.CookieSecure = cfg.PublicURL, cfg.CookieSecure }})
			b.putRoom("sale", map[string]any{"mode": "queue_all"})
			r := b.send(request{method: http.MethodPost, path: "/api/rooms/sale/tickets", header: c.header})
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
			ck := r.Cookie("wr_sale")
			require.NotNil(t, ck)
			require.Equal(t, c.secure, ck.Secure, "Secure")
			require.True(t, ck.HttpOnly)
			if c.leaveToo {
				// The cookie that clears the ticket on leave is Secure too.
				l := b.send(request{method: http.MethodDelete, path: "/api/rooms/sale/tickets/" + ck.Value, cookies: []*http.Cookie{ck}})
				require.Equal(t, http.StatusNoContent, l.Status)
				cleared := l.Cookie("wr_sale")
				require.NotNil(t, cleared)
				require.Negative(t, cleared.MaxAge)
				require.True(t, cleared.Secure)
			}
		})
	}
}

func TestPublicURLAndCookieSecureAreCheckedAtStart(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := parseConfig(nil, noEnv, io.Discard)
	require.NoError(t, err)
	require.Empty(t, cfg.PublicURL)
	require.Equal(t, httpapi.CookieSecureAuto, cfg.CookieSecure)
	cfg, err = parseConfig([]string{"-public-url", "HTTPS://Tickets.example.com/line/", "-cookie-secure", "auto"}, noEnv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "HTTPS://Tickets.example.com/line", cfg.PublicURL)
	require.Equal(t, httpapi.CookieSecureAlways, cfg.CookieSecure)
	for _, args := range [][]string{
		{"-public-url", "tickets.example.com"}, {"-public-url", "ftp://tickets.example.com"}, {"-public-url", "https://"},
		{"-public-url", "https://u:p@tickets.example.com"}, {"-public-url", "https://tickets.example.com/?x=1"},
		{"-public-url", "https://tickets.example.com/#x"}, {"-public-url", "https://tickets.example.com/a b"},
		{"-cookie-secure", "sometimes"}, {"-cookie-secure", "yes"},
	} {
		_, err := parseConfig(args, noEnv, io.Discard)
		require.Error(t, err, "%v", args)
		require.Contains(t, err.Error(), strings.TrimPrefix(args[0], "-"))
	}
	var help strings.Builder
	printHelp(&help)
	require.Contains(t, help.String(), "WAITROOM_PUBLIC_URL")
	require.Contains(t, help.String(), "WAITROOM_COOKIE_SECURE")
}

func TestRejoinThroughTheCookieKeepsThePlace(t *testing.T) {
	b := setupSale(t)
	first := b.join("sale", nil)
	require.Equal(t, http.StatusCreated, first.Status)
	b.joinTicket("sale")

	again := b.join("sale", nil, first.Cookie("wr_sale"))
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	m := jsonObject(t, again)
	require.Equal(t, jsonObject(t, first)["ticket"], m["ticket"])
	require.EqualValues(t, 1, num(t, m["position"]))
	require.EqualValues(t, 2, num(t, m["waiting"]), "nobody was added to the line")
	require.Equal(t, m["ticket"], again.Cookie("wr_sale").Value, "the cookie is set again")
}

func TestRejoinThroughTheBodyTicketKeepsThePlace(t *testing.T) {
	b := setupSale(t)
	b.joinTicket("sale")
	ticket := b.joinTicket("sale")

	r := b.join("sale", map[string]any{"ticket": ticket})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	m := jsonObject(t, r)
	require.Equal(t, ticket, m["ticket"])
	require.EqualValues(t, 2, num(t, m["position"]))
	require.EqualValues(t, 2, num(t, m["waiting"]))
}

func TestJoinWithAnUnknownTicketGetsANewOne(t *testing.T) {
	b := setupSale(t)
	b.putRoom("other", map[string]any{"mode": "queue_all"})
	elsewhere := b.joinTicket("other")

	for _, presented := range []string{queue.NewTicket(), elsewhere, "not-a-ticket"} {
		r := b.join("sale", map[string]any{"ticket": presented})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		require.NotEqual(t, presented, jsonObject(t, r)["ticket"])
	}
}

func TestOneUserHoldsOnePlace(t *testing.T) {
	b := setupSale(t)

	alice := b.join("sale", asUser(t, "alice"))
	require.Equal(t, http.StatusCreated, alice.Status)
	again := b.join("sale", asUser(t, "alice")) // another device: no cookie
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	require.Equal(t, jsonObject(t, alice)["ticket"], jsonObject(t, again)["ticket"])
	require.Equal(t, jsonObject(t, alice)["ticket"], again.Cookie("wr_sale").Value)

	bob := b.join("sale", asUser(t, "bob"))
	require.Equal(t, http.StatusCreated, bob.Status)
	m := jsonObject(t, bob)
	require.NotEqual(t, jsonObject(t, alice)["ticket"], m["ticket"])
	require.EqualValues(t, 2, num(t, m["position"]))
	require.EqualValues(t, 2, num(t, m["waiting"]))
}

func TestWaitingStatusShowsPositionAheadWaitingAndAnETAOnceAnyoneWasAdmitted(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all", "batch_size": 1})
	b.joinTicket("sale")
	b.joinTicket("sale")
	third := b.joinTicket("sale")

	r := b.get("/api/rooms/sale/tickets/" + third)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	m := jsonObject(t, r)
	requireKeys(t, m, "ticket", "room", "state", "position", "ahead", "waiting", "eta_seconds")
	require.Equal(t, map[string]any{"ticket": third, "room": "sale", "state": "waiting",
		"position": 3.0, "ahead": 2.0, "waiting": 3.0, "eta_seconds": nil}, m)

	ev := b.tick("sale")
	require.Len(t, ev.Admitted, 1)
	m = jsonObject(t, b.get("/api/rooms/sale/tickets/"+third))
	require.EqualValues(t, 2, num(t, m["position"]))
	require.EqualValues(t, 1, num(t, m["ahead"]))
	require.EqualValues(t, 2, num(t, m["waiting"]))
	require.NotNil(t, m["eta_seconds"], "the room has admitted someone")
	require.GreaterOrEqual(t, num(t, m["eta_seconds"]), int64(0))
}

func TestPrequeueStatusHasNoPositionButTheOpeningTime(t *testing.T) {
	b := setup(t)
	opens := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	b.putRoom("sale", map[string]any{"opens_at": opens.Format(time.RFC3339)})
	b.joinTicket("sale")

	r := b.join("sale", nil)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	m := jsonObject(t, r)
	ticket := m["ticket"].(string)
	want := map[string]any{"ticket": ticket, "room": "sale", "state": "prequeue",
		"position": nil, "waiting": 2.0, "opens_at": opens.Format(time.RFC3339)}
	require.Equal(t, want, m)

	require.Equal(t, want, jsonObject(t, b.get("/api/rooms/sale/tickets/"+ticket)))
	require.Equal(t, "prequeue", jsonObject(t, b.get("/api/rooms/sale"))["state"])
}

func TestAdmittedStatusCarriesAnEntryTokenThatVerifiesAgainstTheJWKS(t *testing.T) {
	b := setup(t)
	v := b.verifier()

	t.Run("auto mode admits a user at once; sub is the user", func(t *testing.T) {
		b.putRoom("auto", map[string]any{"mode": "auto", "session_ttl_s": 300})
		r := b.join("auto", asUser(t, "user-42"))
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
		m := jsonObject(t, r)
		requireKeys(t, m, "ticket", "room", "state", "entry_token", "expires_at", "target_url")
		require.Equal(t, "admitted", m["state"])
		require.Equal(t, "auto", m["room"])
		require.Equal(t, "/booking/auto", m["target_url"])
		exp, err := time.Parse(time.RFC3339, m["expires_at"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now().Add(300*time.Second), exp, 5*time.Second)
		b.requireEntryToken(v, m["entry_token"].(string), "auto", "user-42", m["expires_at"].(string))
	})

	t.Run("a tick admits a visitor without user; sub is the admission's id, never the ticket", func(t *testing.T) {
		b.putRoom("queued", map[string]any{"mode": "queue_all", "target_url": "https://shop.example/checkout?x=1"})
		ticket := b.joinTicket("queued")
		require.Len(t, b.tick("queued").Admitted, 1)

		m := jsonObject(t, b.get("/api/rooms/queued/tickets/"+ticket))
		requireKeys(t, m, "ticket", "room", "state", "entry_token", "expires_at", "target_url")
		require.Equal(t, ticket, m["ticket"])
		require.Equal(t, "admitted", m["state"])
		require.Equal(t, "https://shop.example/checkout?x=1", m["target_url"])
		jti := b.requireEntryToken(v, m["entry_token"].(string), "queued", "", m["expires_at"].(string))
		require.NotEqual(t, ticket, jti)

		again := jsonObject(t, b.get("/api/rooms/queued/tickets/"+ticket))
		require.Equal(t, m["expires_at"], again["expires_at"], "the same admission")
		require.Equal(t, jti, b.requireEntryToken(v, again["entry_token"].(string), "queued", "", again["expires_at"].(string)),
			"every token of one admission names it")

		_, err := v.Verify(b.ctx, m["entry_token"].(string), "auto")
		require.ErrorIs(t, err, entrytoken.ErrWrongRoom)
	})
}

func TestLeaveFreesThePlaceThenTheTicketIsGone(t *testing.T) {
	b := setupSale(t)
	first := b.join("sale", nil)
	ticket := jsonObject(t, first)["ticket"].(string)
	second := b.joinTicket("sale")

	r := b.send(request{method: http.MethodDelete, path: "/api/rooms/sale/tickets/" + ticket, cookies: []*http.Cookie{first.Cookie("wr_sale")}})
	require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Body)
	require.Empty(t, r.Body)
	ck := r.Cookie("wr_sale")
	require.NotNil(t, ck, "the cookie of the ticket that left is cleared")
	require.Empty(t, ck.Value)
	require.Less(t, ck.MaxAge, 0)

	m := jsonObject(t, b.get("/api/rooms/sale/tickets/"+second))
	require.EqualValues(t, 1, num(t, m["position"]), "the next visitor moved up")
	require.EqualValues(t, 1, num(t, m["waiting"]))

	requireAPIError(t, b.get("/api/rooms/sale/tickets/"+ticket), http.StatusNotFound, "ticket_not_found")
	requireAPIError(t, b.del("/api/rooms/sale/tickets/"+ticket), http.StatusNotFound, "ticket_not_found")
}

func TestLeaveEndsAnAdmissionAndFreesItsCapacity(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "auto", "capacity": 1})
	in := jsonObject(t, b.join("sale", nil))
	require.Equal(t, "admitted", in["state"])
	waiting := jsonObject(t, b.join("sale", nil))
	require.Equal(t, "waiting", waiting["state"], "capacity 1 is taken")
	require.EqualValues(t, 1, num(t, jsonObject(t, b.get("/api/rooms/sale"))["admitted"]))

	require.Equal(t, http.StatusNoContent, b.del("/api/rooms/sale/tickets/"+in["ticket"].(string)).Status)
	require.EqualValues(t, 0, num(t, jsonObject(t, b.get("/api/rooms/sale"))["admitted"]))
	require.Len(t, b.tick("sale").Admitted, 1, "the freed capacity goes to the next visitor")
	require.Equal(t, "admitted", jsonObject(t, b.get("/api/rooms/sale/tickets/"+waiting["ticket"].(string)))["state"])
}

func TestRoomInfoShowsOpenPausedPrequeueOrClosed(t *testing.T) {
	b := setup(t)
	b.putRoom("sale", map[string]any{"mode": "queue_all", "capacity": 7, "batch_size": 2,
		"title": "Spring concert", "message": "<b>Doors</b> open at 7"})
	b.joinTicket("sale")
	b.joinTicket("sale")
	b.joinTicket("sale")
	b.tick("sale")

	r := b.get("/api/rooms/sale")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, map[string]any{"room": "sale", "state": "open", "waiting": 1.0, "admitted": 2.0,
		"capacity": 7.0, "admitted_per_minute": 2.0, "title": "Spring concert", "message": "<b>Doors</b> open at 7"},
		jsonObject(t, r), "the room's own words, as given")

	for _, c := range []struct {
		patch map[string]any
		state string
	}{
		{map[string]any{"paused": true}, "paused"},
		{map[string]any{"paused": false, "opens_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, "prequeue"},
		{map[string]any{"opens_at": nil, "mode": "reject"}, "closed"},
		{map[string]any{"mode": "auto"}, "open"},
	} {
		b.putRoom("sale", c.patch)
		require.Equal(t, c.state, jsonObject(t, b.get("/api/rooms/sale"))["state"], "after %v", c.patch)
	}
}

func TestJWKSPublishesTheEd25519SigningKey(t *testing.T) {
	b := setup(t)
	r := b.get("/.well-known/jwks.json")
	require.Equal(t, http.StatusOK, r.Status)
	m := jsonObject(t, r)
	requireKeys(t, m, "keys")
	keys := m["keys"].([]any)
	require.Len(t, keys, 1)
	k := keys[0].(map[string]any)
	require.Equal(t, "OKP", k["kty"])
	require.Equal(t, "Ed25519", k["crv"])
	require.Equal(t, entrytoken.Thumbprint(b.pub), k["kid"])
	require.Equal(t, base64.RawURLEncoding.EncodeToString(b.pub), k["x"])
	for _, f := range []string{"d", "p", "q"} {
		require.NotContains(t, k, f, "never a private member")
	}
}

func TestWaitingPageIsHTMLThatNoSiteMayFrame(t *testing.T) {
	b := setup(t)
	r := b.get("/rooms/sale")
	require.Equal(t, http.StatusOK, r.Status)
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "text/html", mt)
	csp := r.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'self'")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.Equal(t, "DENY", r.Header.Get("X-Frame-Options"))
	require.Contains(t, string(r.Body), `src="../static/room.js"`)

	js := b.get("/static/room.js")
	require.Equal(t, http.StatusOK, js.Status)
	mt, _, err = mime.ParseMediaType(js.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(mt, "/javascript"), "Content-Type %q", mt)
	require.NotEmpty(t, js.Body)
}

// connect-src names this origin's sockets, the host the page was asked
// for, and no other: never "ws:" or "wss:" for any host. A Host that is not
// a plain host[:port] is not copied into the header.
func TestThePolicyLetsPagesOpenSocketsOnlyToTheirOwnHost(t *testing.T) {
	b := setup(t)
	connectSrc := func(host string) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, b.base+"/rooms/sale", nil)
		require.NoError(t, err)
		if host != "" {
			req.Host = host
		}
		resp, err := b.client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		for _, d := range strings.Split(resp.Header.Get("Content-Security-Policy"), ";") {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "connect-src ") {
				return d
			}
		}
		t.Fatalf("no connect-src in %q", resp.Header.Get("Content-Security-Policy"))
		return ""
	}
	require.Equal(t, "connect-src 'self' ws://"+b.addr+" wss://"+b.addr, connectSrc(""))
	require.Equal(t, "connect-src 'self' ws://tickets.example.com wss://tickets.example.com", connectSrc("Tickets.Example.COM"))
	require.Equal(t, "connect-src 'self' ws://shop.example:8443 wss://shop.example:8443", connectSrc("shop.example:8443"))
	for _, host := range []string{"[::1]:8080", "a;script-src", "a*", "a,b", "x.example:", "x..example", "a'b"} {
		require.Equal(t, "connect-src 'self'", connectSrc(host), host)
	}
}

func TestHealthzAndReadyzAnswerWhileRedisIsUp(t *testing.T) {
	b := setup(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		r := b.get(p)
		require.Equal(t, http.StatusOK, r.Status, "%s: %s", p, r.Body)
		requireJSON(t, r)
	}
}

func TestMetricsCountJoinsRequestsAndRoomsUnderPrometheusNames(t *testing.T) {
	b := setup(t)
	b.putRoom("m1", map[string]any{"mode": "queue_all"})
	b.joinTicket("m1")
	b.joinTicket("m1")
	res := b.get("/metrics")
	require.Equal(t, http.StatusOK, res.Status)
	for _, want := range []string{
		`waitroom_joins_total{room="m1"} 2`,
		`waitroom_http_requests_total{code="201",method="POST",route="/api/rooms/:room/tickets"} 2`,
		`waitroom_http_request_duration_seconds_bucket{method="POST",route="/api/rooms/:room/tickets",le="+Inf"} 2`,
		`waitroom_room_waiting{room="m1"} 2`,
		`waitroom_ws_sockets_open 0`,
		`waitroom_redis_errors_total 0`,
	} {
		require.Contains(t, string(res.Body), want)
	}
}
