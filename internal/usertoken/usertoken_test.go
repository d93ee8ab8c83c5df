package usertoken_test

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/jwks"
	"github.com/waitroom/waitroom/internal/testclock"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/internal/usertoken"
)

// base is the tests' "now": whole seconds, as JWT times are.
var base = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// bundle is what a test needs: the site's secret and key pairs, a JWKS
// server with the public keys that counts its fetches, and a Verifier.
type bundle struct {
	clock    *testclock.Clock
	secret   []byte
	rsa      *rsa.PrivateKey // kid "rsa-1"
	ec       *ecdsa.PrivateKey
	ed       ed25519.PrivateKey
	keys     *testproc.KeyServer
	verifier *usertoken.Verifier
}

// setup starts the JWKS server and builds a Verifier with the secret and the
// JWKS, after configure (if any) has changed the options.
func setup(t *testing.T, configure func(*usertoken.Options)) *bundle {
	t.Helper()
	b := &bundle{clock: testclock.New(base), secret: make([]byte, 32)}
	_, _ = rand.Read(b.secret)
	var err error
	b.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	b.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, b.ed, err = ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	b.keys = testproc.StartKeyServer(t, marshalSet(t, b.rsaJWK(&b.rsa.PublicKey, "rsa-1"), b.ecJWK(t, &b.ec.PublicKey, "ec-1"),
		edJWK(b.ed.Public().(ed25519.PublicKey), "ed-1")), 0)

	opt := usertoken.Options{Secret: b.secret, JWKSURL: b.keys.URL, Keys: jwks.Options{HTTPClient: b.keys.Client}, Now: b.clock.Now}
	if configure != nil {
		configure(&opt)
	}
	b.verifier, err = usertoken.New(opt)
	require.NoError(t, err)
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// The JWKs an OpenID Connect provider publishes, with alg and use as most do.
func (b *bundle) rsaJWK(pub *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

func (b *bundle) ecJWK(t *testing.T, pub *ecdsa.PublicKey, kid string) map[string]any {
	raw, err := pub.Bytes()
	require.NoError(t, err)
	return map[string]any{"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
}

func edJWK(pub ed25519.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pub)}
}

func (b *bundle) serve(t *testing.T, keys ...map[string]any) {
	t.Helper()
	b.keys.Serve(marshalSet(t, keys...))
}

// marshalSet is the JWKS of keys.
func marshalSet(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"keys": keys})
	require.NoError(t, err)
	return raw
}

// signRaw HS256-signs a payload given as raw JSON bytes, which json.Marshal
// would have cleaned up (invalid UTF-8).
func signRaw(t *testing.T, secret []byte, payload string) string {
	t.Helper()
	unsigned := b64([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + b64([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, secret)
	require.NoError(t, err)
	return unsigned + "." + b64(sig)
}

// good are the claims of a valid user token for "concert" at base.
func good() jwt.MapClaims {
	return jwt.MapClaims{"sub": "user-1842", "room": "concert", "iat": base.Unix(), "exp": base.Add(10 * time.Minute).Unix()}
}

// set returns c with name set to value, or removed when value is nil.
func set(c jwt.MapClaims, name string, value any) jwt.MapClaims {
	if value == nil {
		delete(c, name)
	} else {
		c[name] = value
	}
	return c
}

func (b *bundle) hs(t *testing.T, c jwt.MapClaims) string {
	return testproc.SignJWT(t, jwt.SigningMethodHS256, b.secret, "", c)
}

func TestGoodUserTokensAreAcceptedAndEveryBadOneIsRefused(t *testing.T) {
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaPEM := func(b *bundle) []byte {
		der, err := x509.MarshalPKIXPublicKey(&b.rsa.PublicKey)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	jwksOnly := func(o *usertoken.Options) { o.Secret = nil }
	secretOnly := func(o *usertoken.Options) { o.JWKSURL = "" }
	audIss := func(o *usertoken.Options) { o.Audience = "shop-web"; o.Issuer = "https://id.shop.example" }
	at := func(d time.Duration) int64 { return base.Add(d).Unix() }

	tests := []struct {
		name      string
		configure func(*usertoken.Options)
		token     func(t *testing.T, b *bundle) string
		room      string // joined; default "concert"
		want      error  // nil: accepted as "user-1842" (or wantUser)
		wantUser  string
	}{
		// Accepted.
		{name: "HS256 with the secret", token: func(t *testing.T, b *bundle) string { return b.hs(t, good()) }},
		{name: "RS256 from the JWKS", token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodRS256, b.rsa, "rsa-1", good())
		}},
		{name: "ES256 from the JWKS", token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodES256, b.ec, "ec-1", good())
		}},
		{name: "EdDSA from the JWKS", token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.ed, "ed-1", good())
		}},
		{name: "no room claim", token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "room", nil)) }},
		{name: "aud and iss are ignored when not configured", token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(set(good(), "aud", "anyone"), "iss", "anybody"))
		}},
		{name: "aud and iss as configured", configure: audIss, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(set(good(), "aud", []string{"other-app", "shop-web"}), "iss", "https://id.shop.example"))
		}},
		{name: "exp exactly 1h ahead", token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "exp", at(time.Hour))) }},
		{name: "exp 1h and 30s ahead, within the leeway", token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "exp", at(time.Hour+30*time.Second)))
		}},
		{name: "expired 29s ago, within the leeway", token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(set(good(), "iat", at(-10*time.Minute)), "exp", at(-29*time.Second)))
		}},
		{name: "nbf in the past", token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "nbf", at(-time.Minute))) }},
		{name: "sub of 128 bytes", wantUser: strings.Repeat("é", 64), token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "sub", strings.Repeat("é", 64)))
		}},
		{name: "sub in any script", wantUser: "zoë@例え.jp", token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "sub", "zoë@例え.jp"))
		}},

		// Forged or tampered.
		{name: "HS256 with another secret", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), "", good())
		}},
		{name: "RS256 signed by another key under the JWKS kid", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodRS256, otherRSA, "rsa-1", good())
		}},
		{name: "payload swapped to another sub under the old signature", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			parts := strings.Split(b.hs(t, good()), ".")
			forged := strings.Split(b.hs(t, set(good(), "sub", "alice")), ".")
			return parts[0] + "." + forged[1] + "." + parts[2]
		}},
		{name: "signature removed", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			tok := b.hs(t, good())
			return tok[:strings.LastIndex(tok, ".")+1]
		}},

		// Times.
		{name: "expired beyond the leeway", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(set(good(), "iat", at(-10*time.Minute)), "exp", at(-31*time.Second)))
		}},
		{name: "exp more than 1h ahead", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "exp", at(time.Hour+31*time.Second)))
		}},
		{name: "exp a day ahead", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "exp", at(24*time.Hour)))
		}},
		{name: "no exp", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "exp", nil)) }},
		{name: "no iat", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "iat", nil)) }},
		{name: "iat in the future", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "iat", at(time.Minute)))
		}},
		{name: "nbf in the future", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "nbf", at(31*time.Second)))
		}},
		{name: "exp not a number", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "exp", "tomorrow"))
		}},

		// Room, audience, issuer.
		{name: "room claim of another room", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "room", "theatre"))
		}},
		{name: "room claim empty", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "room", "")) }},
		{name: "room claim null", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return signRaw(t, b.secret, `{"sub":"user-1842","room":null,"iat":`+jsonInt(base)+`,"exp":`+jsonInt(base.Add(time.Minute))+`}`)
		}},
		{name: "room claim a number", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "room", 7)) }},
		{name: "a good token for another room than joined", room: "theatre", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, good())
		}},
		{name: "aud mismatch when configured", configure: audIss, want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(set(good(), "aud", "other-app"), "iss", "https://id.shop.example"))
		}},
		{name: "no aud when configured", configure: audIss, want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "iss", "https://id.shop.example"))
		}},
		{name: "iss mismatch when configured", configure: audIss, want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(set(good(), "aud", "shop-web"), "iss", "https://evil.example"))
		}},

		// Algorithms and keys.
		{name: "alg none", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", good())
		}},
		{name: "alg none with a kid of the JWKS", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa-1", good())
		}},
		{name: "HS256 when only a JWKS is configured", configure: jwksOnly, want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, good())
		}},
		{name: "RS256 when only a secret is configured", configure: secretOnly, want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodRS256, b.rsa, "rsa-1", good())
		}},
		{name: "HS256 keyed with the RSA public key's PEM, JWKS only", configure: jwksOnly, want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodHS256, rsaPEM(b), "rsa-1", good())
		}},
		{name: "HS256 keyed with the RSA public key's PEM, secret and JWKS", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodHS256, rsaPEM(b), "rsa-1", good())
		}},
		{name: "HS512 with the secret", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodHS512, b.secret, "", good())
		}},
		{name: "RS512 with the JWKS's RSA key", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodRS512, b.rsa, "rsa-1", good())
		}},
		{name: "PS256 with the JWKS's RSA key", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodPS256, b.rsa, "rsa-1", good())
		}},
		{name: "RS256 under the kid of the EC key", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodRS256, b.rsa, "ec-1", good())
		}},
		{name: "EdDSA without a kid", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.ed, "", good())
		}},
		{name: "a crit header", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
			tok.Header["crit"] = []string{"exp-ext"}
			s, err := tok.SignedString(b.secret)
			require.NoError(t, err)
			return s
		}},

		// Subject.
		{name: "no sub", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "sub", nil)) }},
		{name: "sub empty", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "sub", "")) }},
		{name: "sub of 129 bytes", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "sub", strings.Repeat("a", 129)))
		}},
		{name: "sub with a NUL", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "sub", "user\x001842"))
		}},
		{name: "sub with a newline", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "sub", "user-1842\nadmin"))
		}},
		{name: "sub with a C1 control", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return b.hs(t, set(good(), "sub", "user\u00851842"))
		}},
		{name: "sub of invalid UTF-8", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return signRaw(t, b.secret, "{\"sub\":\"user-\xff\xfe\",\"iat\":"+jsonInt(base)+",\"exp\":"+jsonInt(base.Add(time.Minute))+"}")
		}},
		{name: "sub a lone surrogate", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string {
			return signRaw(t, b.secret, `{"sub":"user-\ud800","iat":`+jsonInt(base)+`,"exp":`+jsonInt(base.Add(time.Minute))+`}`)
		}},
		{name: "sub a number", want: usertoken.ErrInvalid, token: func(t *testing.T, b *bundle) string { return b.hs(t, set(good(), "sub", 1842)) }},

		// Not tokens.
		{name: "empty", want: usertoken.ErrInvalid, token: func(*testing.T, *bundle) string { return "" }},
		{name: "garbage", want: usertoken.ErrInvalid, token: func(*testing.T, *bundle) string { return "not a jwt" }},
		{name: "three garbage parts", want: usertoken.ErrInvalid, token: func(*testing.T, *bundle) string { return "a.b.c" }},
		{name: "oversized", want: usertoken.ErrInvalid, token: func(*testing.T, *bundle) string { return strings.Repeat("a", 10000) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, tc.configure)
			room := cmp.Or(tc.room, "concert")
			user, err := b.verifier.Verify(context.Background(), tc.token(t, b), room)
			if tc.want == nil {
				require.NoError(t, err)
				require.Equal(t, cmp.Or(tc.wantUser, "user-1842"), user)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.NotErrorIs(t, err, usertoken.ErrKeysUnavailable)
			require.Empty(t, user)
		})
	}
}

func jsonInt(t time.Time) string {
	raw, _ := json.Marshal(t.Unix())
	return string(raw)
}

func TestAnUnknownKidRefetchesOnceAndMoreUnknownKidsWithinTheIntervalFetchNothing(t *testing.T) {
	b := setup(t, nil)
	_, err := b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodES256, b.ec, "ec-1", good()), "concert")
	require.NoError(t, err)
	require.EqualValues(t, 1, b.keys.Fetches())

	b.clock.Advance(10 * time.Second)
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, err = b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodES256, stranger, "made-up-1", good()), "concert")
	require.ErrorIs(t, err, usertoken.ErrInvalid)
	require.ErrorContains(t, err, "made-up-1")
	require.EqualValues(t, 2, b.keys.Fetches(), "the unknown kid refetched the JWKS once")

	_, err = b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodES256, stranger, "made-up-2", good()), "concert")
	require.ErrorIs(t, err, usertoken.ErrInvalid)
	require.EqualValues(t, 2, b.keys.Fetches(), "a second unknown kid within MinRefetchInterval fetches nothing")

	_, err = b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.ed, "ed-1", good()), "concert")
	require.NoError(t, err, "known keys still verify")
	require.EqualValues(t, 2, b.keys.Fetches())
}

func TestAKeyTheProviderAddsIsPickedUpByTheRefetchItsKidCauses(t *testing.T) {
	b := setup(t, nil)
	_, err := b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodRS256, b.rsa, "rsa-1", good()), "concert")
	require.NoError(t, err)

	next, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	b.serve(t, b.rsaJWK(&next.PublicKey, "rsa-2"), b.rsaJWK(&b.rsa.PublicKey, "rsa-1"))
	b.clock.Advance(10 * time.Second)
	_, err = b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodRS256, next, "rsa-2", good()), "concert")
	require.NoError(t, err)
	require.EqualValues(t, 2, b.keys.Fetches())
}

func TestADownJWKSServerIsKeysUnavailableAndHS256StillWorks(t *testing.T) {
	b := setup(t, nil)
	b.keys.SetStatus(http.StatusBadGateway)
	_, err := b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodRS256, b.rsa, "rsa-1", good()), "concert")
	require.ErrorIs(t, err, usertoken.ErrKeysUnavailable)
	require.NotErrorIs(t, err, usertoken.ErrInvalid)
	require.ErrorContains(t, err, "502")

	user, err := b.verifier.Verify(context.Background(), b.hs(t, good()), "concert")
	require.NoError(t, err, "the secret does not depend on the JWKS")
	require.Equal(t, "user-1842", user)
}

func TestAJWKSServerThatIsNotListeningIsKeysUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	b := setup(t, func(o *usertoken.Options) { o.JWKSURL = url; o.Keys.HTTPClient = nil })
	_, err := b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.ed, "ed-1", good()), "concert")
	require.ErrorIs(t, err, usertoken.ErrKeysUnavailable)
}

func TestAVerifyWhoseContextEndsWhileWaitingForKeysIsKeysUnavailable(t *testing.T) {
	b := setup(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.verifier.Verify(ctx, testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.ed, "ed-1", good()), "concert")
	require.ErrorIs(t, err, usertoken.ErrKeysUnavailable)
	require.ErrorIs(t, err, context.Canceled)
}

func TestTheSecretIsCopiedByNew(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	v, err := usertoken.New(usertoken.Options{Secret: secret, Now: func() time.Time { return base }})
	require.NoError(t, err)
	tok := testproc.SignJWT(t, jwt.SigningMethodHS256, []byte(strings.Repeat("s", 32)), "", good())
	secret[0] = 'x'
	_, err = v.Verify(context.Background(), tok, "concert")
	require.NoError(t, err)
}

func TestNewRefusesBadOptions(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	for name, tc := range map[string]struct {
		opt  usertoken.Options
		want string // in the message
	}{
		"no key source":              {usertoken.Options{}, "Secret or JWKSURL must be set"},
		"a secret of 31 bytes":       {usertoken.Options{Secret: secret[:31]}, "Secret must be at least 32 bytes, got 31"},
		"a JWKS URL without scheme":  {usertoken.Options{JWKSURL: "id.shop.example/jwks.json"}, "JWKSURL must be an http or https URL"},
		"a JWKS URL of another kind": {usertoken.Options{JWKSURL: "file:///etc/jwks.json"}, "JWKSURL must be an http or https URL"},
		"leeway above 30s":           {usertoken.Options{Secret: secret, Leeway: 31 * time.Second}, "Leeway must be between 0 and 30s"},
		"negative leeway":            {usertoken.Options{Secret: secret, Leeway: -time.Second}, "Leeway"},
		"negative max lifetime":      {usertoken.Options{Secret: secret, MaxLifetime: -time.Hour}, "MaxLifetime"},
		"negative refetch interval":  {usertoken.Options{Secret: secret, Keys: jwks.Options{MinRefetchInterval: -time.Second}}, "MinRefetchInterval"},
		"negative fetch timeout":     {usertoken.Options{Secret: secret, Keys: jwks.Options{FetchTimeout: -time.Second}}, "FetchTimeout"},
		"negative keys max age":      {usertoken.Options{Secret: secret, Keys: jwks.Options{MaxAge: -time.Second}}, "Keys: jwks: MaxAge"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := usertoken.New(tc.opt)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
