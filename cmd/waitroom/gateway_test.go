package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

// upstream is a small site written for the gateway's tests: pages, a JSON
// API, a WebSocket echo, a slow streamed answer, a checkout that tells the
// gateway to end the admission, and a public page. It records the headers
// of the last request it saw.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last http.Header
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /shop/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>shop</title><h1 id="page">Shop page %s</h1><p id="sub">%s</p><a id="checkout" href="/checkout/done">check out</a>`,
			r.URL.RequestURI(), r.Header.Get("X-Waitroom-Sub"))
	})
	mux.HandleFunc("/api/cart", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[]}`)
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		testproc.ServeSocket(w, r, func(c *websocket.Conn) {
			for {
				mt, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				_ = c.WriteMessage(mt, append([]byte("echo: "), msg...))
			}
		})
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(400 * time.Millisecond)
		}
	})
	mux.HandleFunc("GET /checkout/done", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Waitroom-Command", "checkout")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><title>thanks</title><h1 id="thanks">Thank you</h1>`)
	})
	mux.HandleFunc("/public/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Site", "kept")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "public "+r.URL.RequestURI())
	})
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// gatewayBundle is a waitroom in gateway mode in front of an upstream, with
// the room shop protecting /shop/, /api/cart, /ws, /stream and /checkout/.
type gatewayBundle struct {
	*bundle
	site *upstream
}

var shopRoutes = []string{"/shop/", "/api/cart", "/ws", "/stream", "/checkout/"}

func setupGateway(t *testing.T) *gatewayBundle {
	t.Helper()
	site := startUpstream(t)
	b := setupWith(t, options{configure: func(c *Config) {
		c.Upstream, _ = url.Parse(site.URL)
		c.GatewayPrefix = "/_waitroom"
		c.AdminAddr = "127.0.0.1:0"
	}})
	g := &gatewayBundle{bundle: b, site: site}
	g.putShop(map[string]any{"mode": "queue_all", "capacity": 1, "routes": shopRoutes, "target_url": "/shop/welcome"})
	return g
}

// putShop sets the shop room's config and waits until the gateway has read
// its routes (it reads them every second).
func (g *gatewayBundle) putShop(cfg map[string]any) {
	g.t.Helper()
	raw, _ := json.Marshal(cfg)
	p, err := queue.DecodeConfigPatch(raw)
	require.NoError(g.t, err)
	_, _, err = g.store.PutRoom(g.ctx, "shop", p)
	require.NoError(g.t, err)
	time.Sleep(1200 * time.Millisecond)
}

// visitor is a browser-like client: a cookie jar, redirects not followed.
type visitor struct {
	t      *testing.T
	base   string
	client *http.Client
}

func (g *gatewayBundle) visitor() *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{t: g.t, base: g.base, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (v *visitor) do(method, path string, header http.Header, body string) *response {
	v.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, v.base+path, rd)
	require.NoError(v.t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := v.client.Do(req)
	require.NoError(v.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(v.t, err)
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: raw, resp: resp}
}

var htmlAccept = http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}

// admit takes v through the line of shop: join, a tick, the entry cookie.
func (g *gatewayBundle) admit(v *visitor) string {
	g.t.Helper()
	r := v.do(http.MethodPost, "/_waitroom/api/rooms/shop/tickets", http.Header{"Content-Type": {"application/json"}}, "")
	require.Contains(g.t, []int{200, 201}, r.Status, "%s", r.Body)
	ticket := jsonObject(g.t, r)["ticket"].(string)
	g.tick("shop")
	st := jsonObject(g.t, v.do(http.MethodGet, "/_waitroom/api/rooms/shop/tickets/"+ticket, nil, ""))
	require.Equal(g.t, "admitted", st["state"], "%v", st)
	body, _ := json.Marshal(map[string]string{"entry_token": st["entry_token"].(string)})
	r = v.do(http.MethodPost, "/_waitroom/api/rooms/shop/entry",
		http.Header{"Content-Type": {"application/json"}, "Origin": {g.base}}, string(body))
	require.Equal(g.t, http.StatusNoContent, r.Status, "%s", r.Body)
	ck := r.Cookie("wr_entry_shop")
	require.NotNil(g.t, ck)
	require.True(g.t, ck.HttpOnly)
	require.Equal(g.t, "/", ck.Path)
	return ticket
}

func TestGatewaySendsAPageLoadToTheWaitingPageAndBackToTheSamePathOnceAdmitted(t *testing.T) {
	g := setupGateway(t)
	v := g.visitor()

	r := v.do(http.MethodGet, "/shop/item?id=7&x=%2F", htmlAccept, "")
	require.Equal(t, http.StatusFound, r.Status, "%s", r.Body)
	loc := r.Header.Get("Location")
	require.Equal(t, "/_waitroom/rooms/shop?return="+url.QueryEscape("/shop/item?id=7&x=%2F"), loc)
	require.Equal(t, "no-store", r.Header.Get("Cache-Control"))

	page := v.do(http.MethodGet, loc, htmlAccept, "")
	require.Equal(t, http.StatusOK, page.Status)
	require.Contains(t, string(page.Body), `src="../static/room.js"`, "the waiting page, under the prefix")
	require.Equal(t, http.StatusOK, v.do(http.MethodGet, "/_waitroom/static/lib/base.js", nil, "").Status)

	g.admit(v)
	r = v.do(http.MethodGet, "/shop/item?id=7&x=%2F", htmlAccept, "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body), "Shop page /shop/item?id=7&x=%2F")

	// Dot segments and doubled slashes do not slip past a route.
	for _, p := range []string{"//shop/x", "/a/../shop/x", "/./shop/x"} {
		r := g.visitor().do(http.MethodGet, p, htmlAccept, "")
		require.Equal(t, http.StatusFound, r.Status, p)
	}
}

func TestGatewayPassesTheAdmittedWithWaitroomHeadersAndNeverTheClientsOwn(t *testing.T) {
	g := setupGateway(t)
	v := g.visitor()
	g.admit(v)
	forged := withForgedWaitroomHeaders(http.Header{"Accept": {"text/html"}})
	r := v.do(http.MethodGet, "/shop/page", forged, "")
	require.Equal(t, http.StatusOK, r.Status)
	h := g.site.lastHeader()
	require.Equal(t, []string{"shop"}, h["X-Waitroom-Room"])
	require.Len(t, h["X-Waitroom-Sub"], 1)
	require.NotEqual(t, "forged", h.Get("X-Waitroom-Sub"))
	exp, err := time.Parse(time.RFC3339, h.Get("X-Waitroom-Expires"))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(10*time.Minute), exp, time.Minute)
	for k, vs := range h {
		require.NotContains(t, vs, "forged", "the site never sees the client's %s", k)
	}
	require.NotContains(t, h.Get("Cookie"), "wr_", "waitroom's cookies stay with waitroom")

	requireNoForgedWaitroomHeaders(t, h)

	// An unprotected path gets no X-Waitroom-* either, forged or not.
	v.do(http.MethodGet, "/public/x", forged, "")
	for k := range g.site.lastHeader() {
		require.False(t, readsAsWaitroomHeader(k), k)
	}
}

// forgedWaitroomHeaders are X-Waitroom-* headers a client makes up, in the
// spellings a site may read as one: any case, and "_" for "-" (CGI, PHP and
// Rack read X_Waitroom_Sub as X-Waitroom-Sub), each with the value "forged".
var forgedWaitroomHeaders = []string{"X-Waitroom-Sub", "x-waitroom-room", "X-WAITROOM-EXPIRES", "X_Waitroom_Sub",
	"x_waitroom_room", "X-Waitroom_Expires", "X_Waitroom-Sub", "x-WaItRoOm_room", "X-Waitroom-Extra"}

// withForgedWaitroomHeaders is h and forgedWaitroomHeaders, keys as written
// (Go's client sends them so).
func withForgedWaitroomHeaders(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, k := range forgedWaitroomHeaders {
		out[k] = []string{"forged"}
	}
	return out
}

func readsAsWaitroomHeader(k string) bool {
	return strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-waitroom-")
}

// requireNoForgedWaitroomHeaders fails if the site got a forged X-Waitroom-*
// header in any spelling, but those named in passes (canonical names).
func requireNoForgedWaitroomHeaders(t *testing.T, h http.Header, passes ...string) {
	t.Helper()
	for k, vs := range h {
		if readsAsWaitroomHeader(k) && slices.Contains(vs, "forged") && !slices.Contains(passes, k) {
			require.Failf(t, "a client's header reached the site", "%s: %v (all: %v)", k, vs, h)
		}
	}
}

func TestGatewayAnswersAnAPICallWithoutEntryWithAdmissionRequired(t *testing.T) {
	g := setupGateway(t)
	for _, h := range []http.Header{{"Accept": {"application/json"}}, nil} {
		r := g.visitor().do(http.MethodGet, "/api/cart", h, "")
		require.Equal(t, http.StatusForbidden, r.Status)
		require.Equal(t, "admission_required", errorCode(t, r))
		require.Equal(t, "/_waitroom/rooms/shop?return=%2Fapi%2Fcart", r.Header.Get("Location"))
	}
	r := g.visitor().do(http.MethodPost, "/api/cart", htmlAccept, "x")
	require.Equal(t, http.StatusForbidden, r.Status, "a form post is no page load")
	// A forged or other room's token is no entry either.
	r = g.visitor().do(http.MethodGet, "/api/cart", http.Header{"Authorization": {"Bearer eyJhbGciOiJub25lIn0.e30."}}, "")
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "admission_required", errorCode(t, r))

	v := g.visitor()
	g.admit(v)
	r = v.do(http.MethodGet, "/api/cart", nil, "")
	require.Equal(t, http.StatusOK, r.Status)
	require.JSONEq(t, `{"items":[]}`, string(r.Body))
}

func TestGatewayCarriesTheSitesWebSocketAndStreamForTheAdmitted(t *testing.T) {
	g := setupGateway(t)
	wsURL := "ws" + strings.TrimPrefix(g.base, "http") + "/ws"
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	require.Error(t, err, "no entry, no socket")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	v := g.visitor()
	g.admit(v)
	u, _ := url.Parse(g.base)
	hdr := http.Header{"Cookie": {cookieHeader(v.client.Jar.Cookies(u))}}
	c, _, err := websocket.DefaultDialer.Dial(wsURL, hdr)
	require.NoError(t, err)
	defer c.Close()
	for _, m := range []string{"one", "two"} {
		require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte(m)))
		_, got, err := c.ReadMessage()
		require.NoError(t, err)
		require.Equal(t, "echo: "+m, string(got))
	}

	req, _ := http.NewRequest(http.MethodGet, g.base+"/stream", nil)
	start := time.Now()
	sr, err := v.client.Do(req)
	require.NoError(t, err)
	defer sr.Body.Close()
	rd := bufio.NewReader(sr.Body)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "data: 0\n", line)
	require.Less(t, time.Since(start), 350*time.Millisecond, "the first event arrives before the stream ends")
	rest, err := io.ReadAll(rd)
	require.NoError(t, err)
	require.Contains(t, string(rest), "data: 2")
}

func TestGatewayPassesUnprotectedPathsUntouched(t *testing.T) {
	g := setupGateway(t)
	direct, err := http.Get(g.site.URL + "/public/a?b=c")
	require.NoError(t, err)
	directBody, _ := io.ReadAll(direct.Body)
	direct.Body.Close()
	r := g.visitor().do(http.MethodGet, "/public/a?b=c", htmlAccept, "")
	require.Equal(t, direct.StatusCode, r.Status)
	require.Equal(t, string(directBody), string(r.Body))
	for _, k := range []string{"X-Site", "Content-Type", "Content-Length"} {
		require.Equal(t, direct.Header.Get(k), r.Header.Get(k), k)
	}
	require.Empty(t, r.Header.Get("Content-Security-Policy"), "waitroom's own headers stay on its own routes")
	// The operator API and metrics live on the operator's listener only.
	require.Equal(t, http.StatusNotFound, g.visitor().do(http.MethodGet, "/_waitroom/api/admin/rooms", nil, "").Status)
	require.Equal(t, http.StatusNotFound, g.visitor().do(http.MethodGet, "/_waitroom/metrics", nil, "").Status)
	resp, err := http.Get("http://" + g.main.AdminAddr() + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestGatewayCheckoutFromTheSiteEndsTheAdmissionAndTheNextVisitorGetsIn(t *testing.T) {
	g := setupGateway(t)
	v := g.visitor()
	g.admit(v)
	next := g.visitor()
	r := next.do(http.MethodPost, "/_waitroom/api/rooms/shop/tickets", http.Header{"Content-Type": {"application/json"}}, "")
	nextTicket := jsonObject(t, r)["ticket"].(string)
	g.tick("shop")
	require.Equal(t, "waiting", jsonObject(t, next.do(http.MethodGet, "/_waitroom/api/rooms/shop/tickets/"+nextTicket, nil, ""))["state"], "capacity 1 is taken")

	r = v.do(http.MethodGet, "/checkout/done", htmlAccept, "")
	require.Equal(t, http.StatusOK, r.Status)
	require.Contains(t, string(r.Body), "Thank you")
	require.Empty(t, r.Header.Values("Waitroom-Command"), "the command never reaches the visitor")
	require.Equal(t, http.StatusFound, v.do(http.MethodGet, "/shop/page", htmlAccept, "").Status, "the entry ended at once")

	g.tick("shop")
	require.Equal(t, "admitted", jsonObject(t, next.do(http.MethodGet, "/_waitroom/api/rooms/shop/tickets/"+nextTicket, nil, ""))["state"])
}

func TestGatewayInstancesBehindOneBalancerShareEveryState(t *testing.T) {
	g := setupGateway(t)
	// A second instance on the same Redis, with the same key.
	cfg := g.main.cfg
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:0", ""
	m2 := NewMain(cfg, io.Discard, io.Discard)
	stop := testproc.Run(t, 15*time.Second, m2.Run)
	defer stop()
	other := "http://" + m2.Addr()

	v := g.visitor()
	g.admit(v) // on the first instance
	u, _ := url.Parse(g.base)
	cookies := cookieHeader(v.client.Jar.Cookies(u))
	get := func(base, path string) int {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Cookie", cookies)
		req.Header.Set("Accept", "text/html")
		resp, err := v.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get(other, "/shop/page"), "admitted on one, admitted on all")
	require.Equal(t, http.StatusOK, get(other, "/checkout/done"), "checked out through the other")
	require.Eventually(t, func() bool { return get(g.base, "/shop/page") == http.StatusFound },
		1500*time.Millisecond, 50*time.Millisecond, "the first instance refuses within a second")
}

func cookieHeader(cs []*http.Cookie) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + "=" + c.Value
	}
	return strings.Join(parts, "; ")
}

func errorCode(t *testing.T, r *response) string {
	t.Helper()
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &body), "%s", r.Body)
	return body.Error.Code
}

func TestGatewaySettingsAreCheckedAtStart(t *testing.T) {
	noEnv := func(string) string { return "" }
	cfg, err := parseConfig([]string{"-upstream", "http://shop:8000", "-admin-addr", "127.0.0.1:9090"}, noEnv, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "http://shop:8000", cfg.Upstream.String())
	require.Equal(t, "/_waitroom", cfg.GatewayPrefix)
	require.Equal(t, "127.0.0.1:9090", cfg.AdminAddr)
	for _, args := range [][]string{
		{"-upstream", "shop:8000"}, {"-upstream", "ftp://shop"}, {"-upstream", "http://"}, {"-upstream", "http://shop/?a=1"},
		{"-gateway-prefix", "_waitroom"}, {"-gateway-prefix", "/"}, {"-gateway-prefix", "/w/"}, {"-gateway-prefix", "/a/../b"},
	} {
		_, err := parseConfig(args, noEnv, io.Discard)
		require.Error(t, err, "%v", args)
		require.Contains(t, err.Error(), strings.TrimPrefix(args[0], "-"))
	}
	var help strings.Builder
	printHelp(&help)
	for _, v := range []string{"WAITROOM_UPSTREAM", "WAITROOM_GATEWAY_PREFIX", "WAITROOM_ADMIN_ADDR"} {
		require.Contains(t, help.String(), v)
	}
}

// The whole flow in Chromium through the gateway: a protected page sends the
// visitor to the waiting page, the visitor waits, gets in, lands on the page
// they asked for, and checks out at the site, which ends the admission.
func TestBrowserThroughTheGatewayWaitGetInSeeTheSiteAndCheckOut(t *testing.T) {
	g := setupGateway(t)
	ctx := browsertest.Chromium(t, 60*time.Second)

	browsertest.Do(t, ctx, chromedp.Navigate(g.base+"/shop/item?id=7"), chromedp.WaitVisible("#view-waiting"))
	require.Equal(t, g.base+"/_waitroom/rooms/shop?return="+url.QueryEscape("/shop/item?id=7"), browsertest.Get(t, ctx, chromedp.Location()))
	requireSocketLive(t, ctx)

	g.tick("shop")
	browsertest.Do(t, ctx, chromedp.WaitVisible("#page"))
	require.Equal(t, g.base+"/shop/item?id=7", browsertest.Get(t, ctx, chromedp.Location()), "back to the same path and query")
	require.Equal(t, "Shop page /shop/item?id=7", strings.TrimSpace(browsertest.Get(t, ctx, chromedp.Text("#page"))))
	require.NotEmpty(t, strings.TrimSpace(browsertest.Get(t, ctx, chromedp.Text("#sub"))), "the site saw X-Waitroom-Sub")

	browsertest.Do(t, ctx, chromedp.Click("#checkout"), chromedp.WaitVisible("#thanks"))
	stats, err := g.store.Stats(g.ctx, "shop")
	require.NoError(t, err)
	require.Zero(t, stats.Admitted, "the site's checkout freed the place")

	// The admission is over: the protected page sends the visitor back to the line.
	browsertest.Do(t, ctx, chromedp.Navigate(g.base+"/shop/item?id=7"), chromedp.WaitVisible("#view-waiting"))
}

// A ?return= that leads off this host is ignored: the admitted visitor goes
// to the room's target instead.
func TestBrowserThroughTheGatewayAReturnToAnotherOriginIsIgnored(t *testing.T) {
	g := setupGateway(t)
	ctx := browsertest.Chromium(t, 60*time.Second)
	for i, ret := range []string{"https://evil.example/x", "//evil.example/x", `/\evil.example/x`, "/\t/evil.example/x"} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(g.base+"/_waitroom/rooms/shop?return="+url.QueryEscape(ret)),
			chromedp.WaitVisible("#view-waiting")), ret)
		requireSocketLive(t, ctx)
		g.tick("shop")
		require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#page")), ret)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(loc, g.base+"/shop/welcome"), "%q led to %s", ret, loc)
		if i < 3 {
			browsertest.Do(t, ctx, chromedp.Click("#checkout"), chromedp.WaitVisible("#thanks"))
		}
	}
}
