package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPrefix is where every waitroom route lives on the protected host.
const DefaultPrefix = "/_waitroom"

// CommandHeader is the response header by which the site ends a visitor's
// admission (value "checkout"); it never reaches the visitor.
const CommandHeader = "Waitroom-Command"

// maxReturnLen bounds the return address the waiting page is handed.
const maxReturnLen = 2048

// ErrBadGateway: the site did not answer. API code `bad_gateway` (502).
var ErrBadGateway = errors.New("the site did not answer")

// Options configures a Gateway.
type Options struct {
	// Upstream is the site; required.
	Upstream *url.URL
	// Prefix is where waitroom's own routes live. Default DefaultPrefix.
	Prefix string
	// App serves waitroom's own routes, with Prefix removed; required.
	App http.Handler
	// Checker checks entries; required.
	Checker *Checker
	// Rooms lists the rooms and their routes; required.
	Rooms RoomLister
	// WriteError writes an error in the shape of docs/API.md; required.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
	// TrustProxy keeps the X-Forwarded-* headers of the client (only behind
	// your own proxy). Default false: they are replaced.
	TrustProxy bool
	// Refresh is how often the routes are read again. Default 1s.
	Refresh time.Duration
	// Transport reaches the site. Default a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Logger. Default slog.Default().
	Logger *slog.Logger
}

// copyBuffers are the proxy's body-copy buffers: without a pool
// ReverseProxy makes a new 32 KiB one per request, and the garbage
// collector pays for it.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

type bufferPool struct{}

func (bufferPool) Get() []byte  { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }

// flushInterval bounds how long a piece of an answer of known length waits
// in the write buffer. Not -1: ReverseProxy would then flush the headers from
// a timer goroutine and the body in a second write, about a fifth of the
// gateway's CPU (docs/BENCHMARKS.md). A stream (event-stream, or no
// Content-Length) is flushed on every write whatever this says.
const flushInterval = 100 * time.Millisecond

// Gateway is the http.Handler of the protected host.
type Gateway struct {
	opt    Options
	app    http.Handler
	proxy  *httputil.ReverseProxy
	routes atomic.Pointer[table]
}

// New returns a Gateway. Call Refresh once, then Run, so it knows the routes.
func New(opt Options) (*Gateway, error) {
	if opt.Upstream == nil || opt.App == nil || opt.Checker == nil || opt.Rooms == nil || opt.WriteError == nil {
		return nil, errors.New("gateway: Upstream, App, Checker, Rooms and WriteError are required")
	}
	if opt.Upstream.Scheme != "http" && opt.Upstream.Scheme != "https" || opt.Upstream.Host == "" {
		return nil, fmt.Errorf("gateway: upstream must be an http(s) URL, got %q", opt.Upstream.Redacted())
	}
	if opt.Prefix == "" {
		opt.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(opt.Prefix, "/") || strings.HasSuffix(opt.Prefix, "/") || opt.Prefix != cleanPath(opt.Prefix) {
		return nil, fmt.Errorf("gateway: prefix must be a clean path like /_waitroom, got %q", opt.Prefix)
	}
	if opt.Refresh <= 0 {
		opt.Refresh = time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Transport == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256 // at least the visitors' connections at once: each reuses one to the site
		// The visitor's Accept-Encoding goes to the site as it is: else the
		// Transport asks for gzip on its own and inflates the answer.
		tr.DisableCompression = true
		opt.Transport = tr
	}
	g := &Gateway{opt: opt, app: http.StripPrefix(opt.Prefix, opt.App)}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		Transport:      opt.Transport,
		FlushInterval:  flushInterval,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(opt.Logger.Handler(), slog.LevelWarn),
	}
	g.routes.Store(&table{})
	return g, nil
}

// Refresh reads every room's routes.
func (g *Gateway) Refresh(ctx context.Context) error {
	rooms, err := g.opt.Rooms.Rooms(ctx)
	if err != nil {
		return fmt.Errorf("gateway: read routes: %w", err)
	}
	t := newTable(rooms, g.opt.Prefix)
	g.routes.Store(&t)
	return nil
}

// Run reads the routes again every Refresh until ctx ends; while Redis is
// away the last routes stay in force.
func (g *Gateway) Run(ctx context.Context) {
	tick := time.NewTicker(g.opt.Refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			rctx, cancel := context.WithTimeout(ctx, g.opt.Refresh)
			if err := g.Refresh(rctx); err != nil {
				g.opt.Logger.Warn("gateway routes not refreshed", "error", err.Error())
			}
			cancel()
		}
	}
}

// Room is the room that protects a request path, "" for none.
func (g *Gateway) Room(p string) string { return g.routes.Load().match(cleanPath(p)) }

type proxiedKey struct{}

// proxied is the visitor's request context with what the proxy's hooks
// learn of it: the entry it was let through with, or the request, whose
// cookies may hold entries that the site's checkout ends. One allocation,
// where context.WithValue and a value would be two.
type proxied struct {
	context.Context
	entry *Entry
	in    *http.Request
}

func (p *proxied) Value(key any) any {
	if key == (proxiedKey{}) {
		return p
	}
	return p.Context.Value(key)
}

// proxiedOf is what ServeHTTP put in r's context, nil if nothing.
func proxiedOf(r *http.Request) *proxied {
	p, _ := r.Context().Value(proxiedKey{}).(*proxied)
	return p
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == g.opt.Prefix || strings.HasPrefix(p, g.opt.Prefix) && p[len(g.opt.Prefix)] == '/' {
		g.app.ServeHTTP(w, r)
		return
	}
	room := g.Room(p)
	if room == "" {
		if ck := r.Header.Get("Cookie"); strings.Contains(ck, entryCookiePrefix) {
			r = r.WithContext(&proxied{Context: r.Context(), in: r})
		}
		g.forward(w, r)
		return
	}
	e, err := g.opt.Checker.FromRequest(r.Context(), r, room)
	if err != nil {
		g.refuse(w, r, room, err)
		return
	}
	g.opt.Checker.Pass(r.Context(), e)
	g.forward(w, r.WithContext(&proxied{Context: r.Context(), entry: e}))
}

// forward proxies r to the site. The server's read and write timeouts are
// lifted: a socket or a stream of the site lasts as long as the site keeps
// it (ReadHeaderTimeout and IdleTimeout still hold).
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	g.proxy.ServeHTTP(w, r)
}

// refuse answers a request without a live entry: a page load goes to the
// waiting page, anything else gets 403 admission_required naming it.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, room string, err error) {
	if !errors.Is(err, ErrAdmissionRequired) {
		g.opt.WriteError(w, r, err)
		return
	}
	loc := WaitingPage(g.opt.Prefix, room, r.URL.RequestURI())
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Location", loc)
	if Navigation(r.Method, r.Header) {
		w.WriteHeader(http.StatusFound)
		return
	}
	g.opt.WriteError(w, r, ErrAdmissionRequired) // not its cause: a bad token is no different from none
}

// WaitingPage is the waiting page's address for room under prefix, with
// return (a path and query on this host) when it is one.
func WaitingPage(prefix, room, ret string) string {
	loc := prefix + "/rooms/" + room
	if ret = SameOriginPath(ret); ret != "" {
		loc += "?return=" + url.QueryEscape(ret)
	}
	return loc
}

// SameOriginPath is s if it is a path (and query) on this host, else "": it
// starts with one "/", holds no backslash, blank or control character
// (browsers read "/\evil" and "/\t/evil" as another host) and is not too long.
func SameOriginPath(s string) string {
	if len(s) > maxReturnLen || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return ""
		}
	}
	return s
}

// Navigation says whether a request is a page load: GET with an Accept
// that names text/html.
func Navigation(method string, h http.Header) bool {
	return method == http.MethodGet && strings.Contains(h.Get("Accept"), "text/html")
}

func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(g.opt.Upstream)
	pr.Out.Host = pr.In.Host // the site sees the host its visitors use
	if g.opt.TrustProxy {
		pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	}
	pr.SetXForwarded()
	if g.opt.TrustProxy {
		for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Get(k); v != "" {
				pr.Out.Header.Set(k, v)
			}
		}
	}
	StripWaitroomHeaders(pr.Out.Header)
	stripWaitroomCookies(pr.Out.Header)
	if p := proxiedOf(pr.In); p != nil && p.entry != nil {
		p.entry.SetHeaders(pr.Out.Header)
	}
}

// StripWaitroomHeaders removes every header that reads as X-Waitroom-*,
// in any case and with "_" for "-" (CGI, PHP and Rack read X_Waitroom_Sub
// as X-Waitroom-Sub).
func StripWaitroomHeaders(h http.Header) {
	for k := range h {
		if len(k) >= 11 && strings.EqualFold(strings.ReplaceAll(k[:11], "_", "-"), "x-waitroom-") {
			delete(h, k)
		}
	}
}

// stripWaitroomCookies keeps waitroom's cookies (tickets wr_<room>, entries
// wr_entry_<room>) from the site: whoever holds a ticket holds the place.
// The other cookies go on in one line.
func stripWaitroomCookies(h http.Header) {
	lines := h["Cookie"]
	found := false
	for _, l := range lines {
		if strings.Contains(l, "wr_") {
			found = true
		}
	}
	if !found {
		return
	}
	var kept strings.Builder
	for _, l := range lines {
		for l != "" {
			var part string
			part, l, _ = strings.Cut(l, ";")
			part = strings.TrimSpace(part)
			if name, _, _ := strings.Cut(part, "="); part == "" || isWaitroomCookie(strings.TrimSpace(name)) {
				continue
			}
			if kept.Len() == 0 {
				kept.Grow(len(lines[0]))
			} else {
				kept.WriteString("; ")
			}
			kept.WriteString(part)
		}
	}
	if kept.Len() == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{kept.String()}
}

func isWaitroomCookie(name string) bool {
	rest, ok := strings.CutPrefix(name, "wr_")
	if !ok {
		return false
	}
	if r, ok := strings.CutPrefix(rest, "entry_"); ok {
		rest = r
	}
	return validRoom(rest)
}

// validRoom is queue.ValidRoomID without its regexp, on the hot path.
func validRoom(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// modifyResponse acts on the site's Waitroom-Command and removes it.
func (g *Gateway) modifyResponse(resp *http.Response) error {
	cmd, ok := resp.Header[CommandHeader]
	if !ok {
		return nil
	}
	delete(resp.Header, CommandHeader)
	if len(cmd) == 0 || !strings.EqualFold(strings.TrimSpace(cmd[0]), "checkout") {
		return nil
	}
	in := resp.Request
	ctx, cancel := context.WithTimeout(context.WithoutCancel(in.Context()), 2*time.Second)
	defer cancel()
	for _, e := range g.entriesOf(ctx, in) {
		if err := g.opt.Checker.End(ctx, e); err != nil {
			g.opt.Logger.Warn("gateway checkout failed", "room", e.Room, "error", err.Error())
			continue
		}
		resp.Header.Add("Set-Cookie", (&http.Cookie{Name: EntryCookie(e.Room), Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteLaxMode}).String())
		g.opt.Logger.Info("checked out by the site", "room", e.Room)
	}
	return nil
}

// entriesOf is the entry the request was let through with, or, on a path
// no room protects, every live entry its cookies hold.
func (g *Gateway) entriesOf(ctx context.Context, r *http.Request) []*Entry {
	p := proxiedOf(r)
	switch {
	case p == nil:
		return nil
	case p.entry != nil:
		return []*Entry{p.entry}
	}
	var out []*Entry
	for _, ck := range p.in.Cookies() {
		room, ok := strings.CutPrefix(ck.Name, entryCookiePrefix)
		if !ok || !validRoom(room) {
			continue
		}
		if e, err := g.opt.Checker.Check(ctx, room, ck.Value); err == nil {
			out = append(out, e)
		}
	}
	return out
}

func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the visitor went away
	}
	g.opt.Logger.Warn("gateway: site unreachable", "error", err.Error())
	g.opt.WriteError(w, r, fmt.Errorf("%w: %w", ErrBadGateway, err))
}
