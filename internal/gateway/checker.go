package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// ErrAdmissionRequired: the request carries no live entry for the room that
// protects its path. API code `admission_required` (403).
var ErrAdmissionRequired = errors.New("admission required")

// EntryCookie is the cookie that holds a visitor's entry token for a room on
// the protected host.
func EntryCookie(room string) string { return entryCookiePrefix + room }

// entryCookiePrefix begins the name of every room's entry cookie.
const entryCookiePrefix = "wr_entry_"

// Headers the site gets on every request of an admitted visitor; any header
// of the client that reads as one of these is removed first.
const (
	HeaderRoom    = "X-Waitroom-Room"
	HeaderSub     = "X-Waitroom-Sub"
	HeaderExpires = "X-Waitroom-Expires"
)

// errNoEntry is made once, not on each FromRequest: that runs on every
// protected request, admitted ones too.
var errNoEntry = fmt.Errorf("%w: no entry token", ErrAdmissionRequired)

// Entry is a live admission that a request presented. An Entry the Checker
// returns is shared by the requests of its token: read it, never change it.
type Entry struct {
	Room    string
	Subject string // the entry token's sub
	ID      string // the admission id, the token's jti
	Ticket  string
	Expires time.Time
	Token   string

	claims *entrytoken.VerifiedClaims // what the token cache answered for Token
	values []string                   // the X-Waitroom-* values, made once
}

func newEntry(room, token string, claims *entrytoken.VerifiedClaims, adm queue.ActiveAdmission) *Entry {
	return &Entry{Room: room, Subject: claims.Subject, ID: claims.ID, Ticket: adm.Ticket, Expires: claims.ExpiresAt, Token: token,
		claims: claims, values: headerValues(room, claims.Subject, claims.ExpiresAt)}
}

func headerValues(room, sub string, expires time.Time) []string {
	return []string{room, sub, expires.UTC().Format(time.RFC3339)}
}

// SetHeaders sets the X-Waitroom-* headers of the entry on h. The values
// of an Entry from the Checker are shared, each capped so that an Add to
// one copies it.
func (e *Entry) SetHeaders(h http.Header) {
	v := e.values
	if v == nil { // an Entry made by hand
		v = headerValues(e.Room, e.Subject, e.Expires)
	}
	h[HeaderRoom] = v[0:1:1]
	h[HeaderSub] = v[1:2:2]
	h[HeaderExpires] = v[2:3:3]
}

// Admissions is the part of the queue store the checker needs.
type Admissions interface {
	// LiveAdmission errors: queue.ErrAdmissionEnded, queue.ErrUnavailable.
	LiveAdmission(ctx context.Context, room, admissionID string) (queue.ActiveAdmission, error)
	EndAdmission(ctx context.Context, room, ticket string) error
}

// Tunables of the checker's caches.
const (
	// LiveStale is how old a live answer from Redis may be: docs/API.md
	// lets an ended admission through for at most a second.
	LiveStale = time.Second
	// maxCached bounds each cache (about 30 MB at its fullest).
	maxCached = 100000
)

// Checker decides whether a token is a live entry to a room. It is safe for
// concurrent use.
type Checker struct {
	tokens *entrytoken.Cache // spares the signature check of a token seen within a minute
	store  Admissions
	now    func() time.Time
	onPass func(ctx context.Context, e *Entry)

	mu   sync.RWMutex
	live map[liveKey]cachedLive
}

type liveKey struct{ room, id string } // the admission id

type cachedLive struct {
	adm   queue.ActiveAdmission
	ended bool
	until time.Time
	entry *Entry // of the token that last asked Redis, for its next requests
}

// CheckerOptions configures a Checker.
type CheckerOptions struct {
	// Verifier checks entry tokens; required.
	Verifier *entrytoken.Verifier
	// Store answers whether an admission lives; required.
	Store Admissions
	// Now is the clock of the caches. Default time.Now.
	Now func() time.Time
	// OnPass is called for every request let through as admitted. Default
	// nil.
	OnPass func(ctx context.Context, e *Entry)
}

// NewChecker returns a Checker.
func NewChecker(opt CheckerOptions) (*Checker, error) {
	if opt.Verifier == nil || opt.Store == nil {
		return nil, errors.New("gateway: Verifier and Store are required")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Checker{tokens: entrytoken.NewCache(opt.Verifier, entrytoken.CacheOptions{Size: maxCached, Now: opt.Now}),
		store: opt.Store, now: opt.Now, onPass: opt.OnPass, live: map[liveKey]cachedLive{}}, nil
}

// FromRequest finds a live entry to room in r: the entry cookie, else an
// `Authorization: Bearer` token. The error wraps ErrAdmissionRequired when
// neither is a live entry, or queue.ErrUnavailable / entrytoken.
// ErrKeysUnavailable when that could not be told.
func (c *Checker) FromRequest(ctx context.Context, r *http.Request, room string) (*Entry, error) {
	err := errNoEntry
	if v := entryCookie(r.Header, room); v != "" {
		e, cerr := c.Check(ctx, room, v)
		if cerr == nil {
			return e, nil
		}
		err = cerr
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		e, berr := c.Check(ctx, room, strings.TrimSpace(h[7:]))
		if berr == nil {
			return e, nil
		}
		if !errors.Is(err, queue.ErrUnavailable) && !errors.Is(err, entrytoken.ErrKeysUnavailable) {
			err = berr
		}
	}
	return nil, err
}

// Check verifies token for room and that its admission still lives.
func (c *Checker) Check(ctx context.Context, room, token string) (*Entry, error) {
	claims, err := c.tokens.Verify(ctx, token, room)
	if err != nil {
		if errors.Is(err, entrytoken.ErrKeysUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrAdmissionRequired, err)
	}
	l, err := c.admission(ctx, room, token, claims)
	if err != nil {
		return nil, err
	}
	if l.adm.Subject() != claims.Subject {
		return nil, fmt.Errorf("%w: sub does not match the admission of its jti", ErrAdmissionRequired)
	}
	if e := l.entry; e != nil && e.claims == claims && e.Ticket == l.adm.Ticket {
		return e, nil
	}
	return newEntry(room, token, claims, l.adm), nil
}

// Pass records that a request of e is let through.
func (c *Checker) Pass(ctx context.Context, e *Entry) {
	if c.onPass != nil {
		c.onPass(ctx, e)
	}
}

// End ends e's admission (checkout): the capacity goes to the next visitor,
// and this instance refuses the entry at once, every other within LiveStale.
func (c *Checker) End(ctx context.Context, e *Entry) error {
	c.mu.Lock()
	c.live[liveKey{e.Room, e.ID}] = cachedLive{ended: true, until: e.Expires}
	c.mu.Unlock()
	err := c.store.EndAdmission(ctx, e.Room, e.Ticket)
	if errors.Is(err, queue.ErrTicketNotFound) || errors.Is(err, queue.ErrRoomNotFound) {
		return nil // it had ended already
	}
	return err
}

// admission is the live admission of claims, from Redis at most LiveStale
// ago, with the Entry of the token that asked Redis. An ended one is
// remembered until the token expires: an admission id never lives again.
func (c *Checker) admission(ctx context.Context, room, token string, claims *entrytoken.VerifiedClaims) (cachedLive, error) {
	key := liveKey{room, claims.ID}
	now := c.now()
	c.mu.RLock()
	l, ok := c.live[key]
	c.mu.RUnlock()
	if ok && now.Before(l.until) {
		if l.ended {
			return cachedLive{}, fmt.Errorf("%w: %w", ErrAdmissionRequired, queue.ErrAdmissionEnded)
		}
		return l, nil
	}
	adm, err := c.store.LiveAdmission(ctx, room, claims.ID)
	switch {
	case errors.Is(err, queue.ErrAdmissionEnded):
		l = cachedLive{ended: true, until: claims.ExpiresAt.Add(entrytoken.MaxLeeway)}
	case err != nil:
		return cachedLive{}, err
	default:
		l = cachedLive{adm: adm, until: earlier(now.Add(LiveStale), adm.Ends), entry: newEntry(room, token, claims, adm)}
	}
	c.mu.Lock()
	if len(c.live) >= maxCached {
		evict(c.live, now, func(l cachedLive) time.Time { return l.until })
	}
	c.live[key] = l
	c.mu.Unlock()
	if l.ended {
		return cachedLive{}, fmt.Errorf("%w: %w", ErrAdmissionRequired, err)
	}
	return l, nil
}

// evict drops the ended entries of m, and if that is not enough a quarter of
// the rest (map order is random, so which is arbitrary). Called with the
// lock held.
func evict[K comparable, V any](m map[K]V, now time.Time, until func(V) time.Time) {
	for k, v := range m {
		if !now.Before(until(v)) {
			delete(m, k)
		}
	}
	drop := len(m) - maxCached*3/4
	for k := range m {
		if drop <= 0 {
			break
		}
		delete(m, k)
		drop--
	}
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// entryCookie is the value of room's entry cookie in h: the first
// wr_entry_<room> with a valid value, as http.Request.Cookie reads it
// (but for its limit of 3000 cookies), without its allocations: it runs on
// every protected request. "" for none.
func entryCookie(h http.Header, room string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, val, _ := strings.Cut(textproto.TrimString(part), "=")
			name = textproto.TrimString(name)
			if r, ok := strings.CutPrefix(name, entryCookiePrefix); !ok || r != room {
				continue
			}
			if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if validCookieValue(val) {
				return val
			}
		}
	}
	return ""
}

// validCookieValue is net/http's test of a cookie value's bytes, by table:
// an entry token is some 400 of them.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if !cookieValueBytes[v[i]] {
			return false
		}
	}
	return true
}

var cookieValueBytes = func() (t [256]bool) {
	for b := 0x20; b < 0x7f; b++ {
		t[b] = b != '"' && b != ';' && b != '\\'
	}
	return t
}()
