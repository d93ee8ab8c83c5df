package entrytoken

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of SignerOptions and VerifierOptions.
const (
	DefaultIssuer   = "waitroom"
	DefaultAudience = "booking"
)

// Claims is what a caller asks the Signer to put in an entry token.
type Claims struct {
	// Room is the room the token admits to (claim `room`).
	Room string
	// Subject is the verified user id, or else an opaque id of the admission
	// (claim `sub`); never the ticket.
	Subject string
	// ID is the admission id (claim `jti`): verifiers check that this
	// admission still lives, so a token dies with its admission.
	ID string
	// ExpiresAt is when the admission ends (claim `exp`); whole seconds are kept.
	ExpiresAt time.Time
}

// SignerOptions configures a Signer.
type SignerOptions struct {
	// Issuer is the `iss` claim. Default "waitroom".
	Issuer string
	// Audience is the `aud` claim. Default "booking".
	Audience string
	// Now is the clock for `iat` and `nbf`. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns the options with every zero field set to its default.
func (o SignerOptions) WithDefaults() SignerOptions {
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Signer signs entry tokens with the current key and publishes the current and
// previous public keys. It is safe for concurrent use.
type Signer struct {
	key  ed25519.PrivateKey
	kid  string
	jwks []byte
	opt  SignerOptions
}

// NewSigner returns a Signer that signs with current. previous are public keys
// of earlier signing keys: they stay in the JWKS so that tokens issued before a
// rotation keep verifying until they expire. It panics if current is not a
// valid Ed25519 private key, a wiring mistake.
func NewSigner(current ed25519.PrivateKey, previous []ed25519.PublicKey, opt SignerOptions) *Signer {
	if len(current) != ed25519.PrivateKeySize {
		panic(fmt.Sprintf("entrytoken: NewSigner: private key is %d bytes, want %d", len(current), ed25519.PrivateKeySize))
	}
	pub := current.Public().(ed25519.PublicKey)
	keys := []ed25519.PublicKey{pub}
	for _, p := range previous {
		if len(p) == ed25519.PublicKeySize && !p.Equal(pub) {
			keys = append(keys, p)
		}
	}
	return &Signer{key: current, kid: Thumbprint(pub), jwks: PublicJWKS(keys...), opt: opt.WithDefaults()}
}

// KeyID returns the kid of the current key: its RFC 7638 thumbprint.
func (s *Signer) KeyID() string { return s.kid }

// JWKS returns the JSON of the public key set: the current key first, then the
// previous keys. Callers must not modify the returned slice.
func (s *Signer) JWKS() []byte { return s.jwks }

// wireClaims is the JSON payload of an entry token as signed. Its Audience
// field shadows the embedded one so that `aud` is one string rather than a
// one-element array; verifiers accept both forms.
type wireClaims struct {
	jwt.RegisteredClaims
	Audience string `json:"aud"`
	Room     string `json:"room"`
}

// Sign returns a signed entry token for c. It fails if Room, Subject or ID
// is empty or ExpiresAt lies further back than the leeway.
func (s *Signer) Sign(c Claims) (string, error) {
	if c.Room == "" {
		return "", errors.New("entrytoken: sign: empty room")
	}
	if c.Subject == "" {
		return "", errors.New("entrytoken: sign: empty subject")
	}
	if c.ID == "" {
		return "", errors.New("entrytoken: sign: empty token id")
	}
	if c.ExpiresAt.IsZero() {
		return "", errors.New("entrytoken: sign: no expiry")
	}
	// The expiry is the admission's end on Redis's clock; this host's clock
	// may be a few seconds off. A host running ahead must still hand out the
	// token in an admission's last seconds, so iat and nbf never pass exp,
	// and only an expiry further back than verifiers' leeway is refused.
	now := s.opt.Now()
	if c.ExpiresAt.Before(now.Add(-MaxLeeway)) {
		return "", fmt.Errorf("entrytoken: sign: expires at %s, long before now %s", c.ExpiresAt.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if !now.Before(c.ExpiresAt) {
		now = c.ExpiresAt.Add(-time.Second)
	}
	claims := wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.opt.Issuer,
			Subject:   c.Subject,
			ID:        c.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
		Audience: s.opt.Audience,
		Room:     c.Room,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("entrytoken: sign: %w", err)
	}
	return signed, nil
}
