package entrytoken

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/internal/jwks"
)

// Errors of Verify, checked with errors.Is. Each returned error wraps exactly
// one of them and keeps the reason in its message.
var (
	// ErrInvalidToken: the token is missing, malformed, forged, signed with
	// another algorithm or an unknown key, for another issuer or audience, not
	// yet valid or expired. API code `invalid_token` (401).
	ErrInvalidToken = errors.New("invalid entry token")
	// ErrWrongRoom: the token is valid but admits to another room. API code
	// `wrong_room` (403).
	ErrWrongRoom = errors.New("entry token is for another room")
	// ErrKeysUnavailable: the token's key is not cached and the JWKS could not
	// be fetched, so the token could not be checked. A server fault (503), not
	// the visitor's.
	ErrKeysUnavailable = errors.New("entry token keys unavailable")
)

const (
	// MaxLeeway is the most clock skew a Verifier tolerates (docs/API.md: at most 30 s).
	MaxLeeway = 30 * time.Second
	// maxTokenBytes bounds the work spent on a header value; real tokens are
	// about 400 bytes.
	maxTokenBytes = 4096
)

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	// JWKSURL is where the public keys are fetched, e.g.
	// http://127.0.0.1:8080/.well-known/jwks.json. Required unless FetchJWKS
	// is set.
	JWKSURL string
	// FetchJWKS, when set, replaces the HTTP fetch of JWKSURL: standalone mode
	// passes the in-process Signer's JWKS. It gets a context with
	// FetchTimeout. Default nil.
	FetchJWKS func(ctx context.Context) ([]byte, error)
	// HTTPClient fetches JWKSURL. Default http.DefaultClient.
	HTTPClient *http.Client
	// Issuer is the required `iss`. Default "waitroom".
	Issuer string
	// Audience is the required `aud`. Default "booking".
	Audience string
	// Leeway is the clock skew tolerated on `nbf`, `iat` and `exp`; at most
	// 30s. Default 30s.
	Leeway time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MinRefetchInterval is the least time between two JWKS fetches, so that
	// tokens with made-up kids cannot make the Verifier hammer the key
	// server. Default 10s.
	MinRefetchInterval time.Duration
	// FetchTimeout bounds one JWKS fetch. Default 5s.
	FetchTimeout time.Duration
}

// WithDefaults returns the options with every zero field set to its default,
// but for those of the key fetch (HTTPClient, MinRefetchInterval,
// FetchTimeout): the key cache defaults and checks them.
func (o VerifierOptions) WithDefaults() VerifierOptions {
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.Leeway == 0 {
		o.Leeway = MaxLeeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o VerifierOptions) validate() error {
	switch {
	case o.JWKSURL == "" && o.FetchJWKS == nil:
		return errors.New("entrytoken: JWKSURL or FetchJWKS must be set")
	case o.Leeway < 0 || o.Leeway > MaxLeeway:
		return fmt.Errorf("entrytoken: Leeway must be between 0 and %s, got %s", MaxLeeway, o.Leeway)
	}
	return nil
}

// VerifiedClaims are the claims of an entry token that Verify accepted.
type VerifiedClaims struct {
	Room      string    // `room`
	Subject   string    // `sub`: the verified user id, or else the admission's opaque id
	ID        string    // `jti`: the admission id
	IssuedAt  time.Time // `iat`, UTC
	NotBefore time.Time // `nbf`, UTC
	ExpiresAt time.Time // `exp`, UTC: when the admission ends
}

// Verifier checks entry tokens against the public keys of a JWKS, which it
// caches. It is safe for concurrent use.
type Verifier struct {
	parser *jwt.Parser
	keys   *jwks.Cache // Ed25519 keys only
}

// NewVerifier returns a Verifier. It fetches no keys yet: the first Verify
// does. It fails if neither JWKSURL nor FetchJWKS is set, or Leeway is above
// 30s.
func NewVerifier(opt VerifierOptions) (*Verifier, error) {
	opt = opt.WithDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	keys, err := jwks.New(jwks.Options{
		URL:                opt.JWKSURL,
		Fetch:              opt.FetchJWKS,
		HTTPClient:         opt.HTTPClient,
		Algorithms:         []string{jwks.EdDSA},
		Now:                opt.Now,
		MinRefetchInterval: opt.MinRefetchInterval,
		FetchTimeout:       opt.FetchTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("entrytoken: %w", err)
	}
	return &Verifier{
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(opt.Issuer),
			jwt.WithAudience(opt.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithNotBeforeRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(opt.Leeway),
			jwt.WithTimeFunc(opt.Now),
			jwt.WithStrictDecoding(),
		),
		keys: keys,
	}, nil
}

// tokenClaims is the payload as parsed: RegisteredClaims accepts `aud` as a
// string or an array.
type tokenClaims struct {
	jwt.RegisteredClaims
	Room string `json:"room"`
}

// Verify checks token and returns its claims if it admits to room. The error
// wraps ErrInvalidToken for any bad token, ErrWrongRoom for a valid token of
// another room, ErrKeysUnavailable when the keys could not be fetched, or the
// context's error when ctx ends while waiting for keys.
func (v *Verifier) Verify(ctx context.Context, token, room string) (*VerifiedClaims, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: empty token", ErrInvalidToken)
	}
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, maxTokenBytes)
	}
	var c tokenClaims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid in header")
		}
		return v.key(ctx, kid)
	})
	if err != nil {
		if errors.Is(err, ErrKeysUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("entrytoken: verify: %w", err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch {
	case c.Room == "":
		return nil, fmt.Errorf("%w: no room claim", ErrInvalidToken)
	case c.Subject == "":
		return nil, fmt.Errorf("%w: no sub claim", ErrInvalidToken)
	case c.ID == "":
		return nil, fmt.Errorf("%w: no jti claim", ErrInvalidToken)
	case c.Room != room:
		return nil, fmt.Errorf("%w: token is for room %q, not %q", ErrWrongRoom, c.Room, room)
	}
	out := &VerifiedClaims{Room: c.Room, Subject: c.Subject, ID: c.ID}
	// exp and nbf are required by the parser; iat is checked when present.
	out.ExpiresAt = c.ExpiresAt.UTC()
	out.NotBefore = c.NotBefore.UTC()
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.UTC()
	}
	return out, nil
}

// key returns the Ed25519 key for kid from the cached JWKS, which refetches
// on a miss at most once per MinRefetchInterval.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	k, err := v.keys.Key(ctx, kid, jwks.EdDSA)
	switch {
	case errors.Is(err, jwks.ErrUnavailable):
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	case err != nil:
		return nil, err
	}
	pub, ok := k.Public.(ed25519.PublicKey)
	if !ok { // jwks gives EdDSA keys only as ed25519.PublicKey
		return nil, fmt.Errorf("kid %q is a %T, not an Ed25519 key", kid, k.Public)
	}
	return pub, nil
}
