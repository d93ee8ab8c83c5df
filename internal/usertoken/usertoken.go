// Package usertoken verifies user tokens: JWTs with which a protected site
// tells waitroom who its visitor is (docs/API.md, "Visitor identity"). The site
// signs them with a shared secret (HS256) or with keys it publishes as a
// JWKS (RS256, ES256, EdDSA), such as an OpenID Connect provider's, so that a
// user's ID token can serve as the user token.
package usertoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/internal/jwks"
)

// Errors of Verify, checked with errors.Is. Each returned error wraps exactly
// one of them and says why in its message.
var (
	// ErrInvalid: the token is malformed, forged, signed with an algorithm or
	// key that is not allowed, expired, too long-lived, not yet valid, for
	// another room, audience or issuer, or its subject is not a usable user
	// id. API code `invalid_user_token` (401).
	ErrInvalid = errors.New("invalid user token")
	// ErrKeysUnavailable: the token's key is not cached and the JWKS could not
	// be fetched, or the caller gave up waiting for it. A server fault, not the
	// visitor's.
	ErrKeysUnavailable = errors.New("user token keys unavailable")
)

const (
	// MinSecretBytes is the shortest Secret New accepts: HS256 keys shorter
	// than the hash give away strength (RFC 7518 §3.2).
	MinSecretBytes = 32
	// MaxLeeway is the most clock skew a Verifier tolerates.
	MaxLeeway = 30 * time.Second
	// MaxSubjectBytes is the longest `sub` accepted.
	MaxSubjectBytes = 128
	// maxTokenBytes bounds the work spent on one token; ID tokens run to a
	// few KiB at most, and the join body is capped at 8 KiB anyway.
	maxTokenBytes = 8192
)

// Options configures a Verifier. At least one of Secret and JWKSURL is needed.
type Options struct {
	// Secret is the HS256 key shared with the protected site
	// (WAITROOM_USER_SECRET), at least 32 bytes. Default nil: HS256 tokens are
	// refused.
	Secret []byte
	// JWKSURL is where the site's public keys are fetched
	// (WAITROOM_USER_JWKS_URL), an http or https URL, e.g. an OpenID Connect
	// provider's jwks_uri. Default "": RS256, ES256 and EdDSA tokens are
	// refused.
	JWKSURL string
	// Audience, when set, is required in `aud` (WAITROOM_USER_AUDIENCE; for an
	// ID token, the site's client id). Default "": `aud` is not checked.
	Audience string
	// Issuer, when set, must equal `iss` (WAITROOM_USER_ISSUER). Default "":
	// `iss` is not checked.
	Issuer string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Leeway is the clock skew tolerated on `exp`, `nbf`, `iat` and the
	// lifetime limit; at most 30s. Default 30s.
	Leeway time.Duration
	// MaxLifetime is how far ahead `exp` may lie, so that a leaked token
	// soon stops working. Default 1h.
	MaxLifetime time.Duration
	// Keys tunes the cache of the JWKS's keys (jwks.Options: HTTPClient,
	// MinRefetchInterval, FetchTimeout, MaxAge); its URL is JWKSURL and its
	// clock Now. Keys.MaxAge defaults to 1h here, so that a key the provider
	// withdrew stops verifying.
	Keys jwks.Options
}

// WithDefaults returns the options with every zero field set to its
// default; those of Keys but MaxAge are jwks.Options's own.
func (o Options) WithDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Leeway == 0 {
		o.Leeway = MaxLeeway
	}
	if o.MaxLifetime == 0 {
		o.MaxLifetime = time.Hour
	}
	if o.Keys.MaxAge == 0 {
		o.Keys.MaxAge = time.Hour
	}
	return o
}

func (o Options) validate() error {
	switch {
	case len(o.Secret) == 0 && o.JWKSURL == "":
		return errors.New("usertoken: Secret or JWKSURL must be set")
	case len(o.Secret) > 0 && len(o.Secret) < MinSecretBytes:
		return fmt.Errorf("usertoken: Secret must be at least %d bytes, got %d", MinSecretBytes, len(o.Secret))
	case o.Leeway < 0 || o.Leeway > MaxLeeway:
		return fmt.Errorf("usertoken: Leeway must be between 0 and %s, got %s", MaxLeeway, o.Leeway)
	case o.MaxLifetime < 0:
		return fmt.Errorf("usertoken: MaxLifetime must not be negative, got %s", o.MaxLifetime)
	}
	if err := o.Keys.Validate(); err != nil {
		return fmt.Errorf("usertoken: Keys: %w", err)
	}
	if o.JWKSURL != "" {
		u, err := url.Parse(o.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("usertoken: JWKSURL must be an http or https URL, got %q", o.JWKSURL)
		}
	}
	return nil
}

// Verifier checks user tokens. It is safe for concurrent use.
type Verifier struct {
	opt    Options
	parser *jwt.Parser
	keys   *jwks.Cache // nil without JWKSURL
}

// New returns a Verifier. It fetches no keys yet: the first token that needs
// them does. It fails on options that validate refuses, among them a Secret
// shorter than 32 bytes.
func New(opt Options) (*Verifier, error) {
	opt = opt.WithDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	opt.Secret = append([]byte(nil), opt.Secret...) // the caller's slice may change
	// Each key source allows only its own algorithms: the secret never
	// verifies RS256 and the like, and a JWKS key never serves as an HMAC key.
	var methods []string
	if len(opt.Secret) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	v := &Verifier{opt: opt}
	if opt.JWKSURL != "" {
		methods = append(methods, jwks.Algorithms...)
		ko := opt.Keys
		ko.URL, ko.Now = opt.JWKSURL, opt.Now
		keys, err := jwks.New(ko)
		if err != nil {
			return nil, fmt.Errorf("usertoken: %w", err)
		}
		v.keys = keys
	}
	parse := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(opt.Leeway),
		jwt.WithTimeFunc(opt.Now),
		jwt.WithStrictDecoding(),
	}
	if opt.Audience != "" {
		parse = append(parse, jwt.WithAudience(opt.Audience))
	}
	if opt.Issuer != "" {
		parse = append(parse, jwt.WithIssuer(opt.Issuer))
	}
	v.parser = jwt.NewParser(parse...)
	return v, nil
}

// claims is the payload as parsed. Room stays raw so that a present but
// empty or non-string claim is told apart from a missing one.
type claims struct {
	jwt.RegisteredClaims
	Room json.RawMessage `json:"room"`
}

// Verify checks token for a visitor joining room and returns its user id
// (`sub`). The error wraps ErrInvalid for any bad token, or
// ErrKeysUnavailable when the JWKS could not be fetched or ctx ended while
// waiting for it.
func (v *Verifier) Verify(ctx context.Context, token, room string) (userID string, err error) {
	if token == "" {
		return "", fmt.Errorf("%w: empty token", ErrInvalid)
	}
	if len(token) > maxTokenBytes {
		return "", fmt.Errorf("%w: token longer than %d bytes", ErrInvalid, maxTokenBytes)
	}
	var c claims
	_, err = v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		if errors.Is(err, jwks.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		}
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// exp is required and checked by the parser, iat checked when present.
	now := v.opt.Now()
	if c.IssuedAt == nil {
		return "", fmt.Errorf("%w: no iat claim", ErrInvalid)
	}
	if ahead := c.ExpiresAt.Sub(now); ahead > v.opt.MaxLifetime+v.opt.Leeway {
		return "", fmt.Errorf("%w: exp is %s ahead, more than the %s a user token may live", ErrInvalid, ahead.Round(time.Second), v.opt.MaxLifetime)
	}
	if err := checkSubject(c.Subject); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(c.Room) > 0 {
		var r string
		if string(c.Room) == "null" || json.Unmarshal(c.Room, &r) != nil {
			return "", fmt.Errorf("%w: room claim is not a string", ErrInvalid)
		}
		if r != room {
			return "", fmt.Errorf("%w: token is for room %q, not %q", ErrInvalid, r, room)
		}
	}
	return c.Subject, nil
}

// key returns the key that verifies t: the secret for HS256, else the JWKS
// key with t's kid for t's algorithm. The parser has already refused every
// algorithm the configured key sources do not allow.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	// RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("crit header is not supported")
	}
	alg := t.Method.Alg()
	if alg == jwt.SigningMethodHS256.Alg() {
		if len(v.opt.Secret) == 0 {
			return nil, errors.New("no secret configured for HS256")
		}
		return v.opt.Secret, nil
	}
	if v.keys == nil {
		return nil, fmt.Errorf("no JWKS configured for %s", alg)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, fmt.Errorf("no kid in the %s token's header", alg)
	}
	k, err := v.keys.Key(ctx, kid, alg)
	if err != nil {
		return nil, err
	}
	return k.Public, nil
}

// checkSubject accepts 1–128 bytes of UTF-8 without control characters: the
// id is stored and shown to operators, so it must be printable text.
func checkSubject(sub string) error {
	switch {
	case sub == "":
		return errors.New("no sub claim")
	case len(sub) > MaxSubjectBytes:
		return fmt.Errorf("sub is %d bytes, more than %d", len(sub), MaxSubjectBytes)
	case !utf8.ValidString(sub):
		return errors.New("sub is not UTF-8")
	}
	for _, r := range sub {
		// The JSON decoder turns invalid UTF-8 into U+FFFD; refusing it keeps
		// two different byte strings from becoming the same user id.
		if r == utf8.RuneError {
			return errors.New("sub is not UTF-8 (holds U+FFFD)")
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("sub holds the control character %U", r)
		}
	}
	return nil
}
