package entrytoken_test

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testclock"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// base is the tests' "now": whole seconds, as JWT times are.
var base = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// bundle is what a test needs: a signer, a JWKS server that counts its
// requests, and a verifier reading from it, all on one fake clock.
type bundle struct {
	clock    *testclock.Clock
	key      ed25519.PrivateKey
	signer   *entrytoken.Signer
	verifier *entrytoken.Verifier
	keys     *testproc.KeyServer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{clock: testclock.New(base)}
	key, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	b.key = key
	b.signer = entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{Now: b.clock.Now})
	// A delay lets concurrent misses pile up behind one fetch.
	b.keys = testproc.StartKeyServer(t, b.signer.JWKS(), 20*time.Millisecond)

	b.verifier, err = entrytoken.NewVerifier(entrytoken.VerifierOptions{
		JWKSURL:    b.keys.URL,
		HTTPClient: b.keys.Client,
		Now:        b.clock.Now,
	})
	require.NoError(t, err)
	return b
}

func (b *bundle) serve(jwks []byte) { b.keys.Serve(jwks) }

// sign issues a token for room "concert", user "user-42", ending in 10 minutes.
func (b *bundle) sign(t *testing.T, s *entrytoken.Signer) string {
	t.Helper()
	tok, err := s.Sign(entrytoken.Claims{Room: "concert", Subject: "user-42", ID: "adm-1", ExpiresAt: b.clock.Now().Add(10 * time.Minute)})
	require.NoError(t, err)
	return tok
}

// decode returns the JSON of a token's header (part 0) or payload (part 1).
func decode(t *testing.T, token string, part int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[part])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// goodClaims are the claims of a valid token for "concert" at base.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "waitroom", "aud": "booking", "sub": "user-42", "room": "concert", "jti": "id-1",
		"iat": base.Unix(), "nbf": base.Unix(), "exp": base.Add(10 * time.Minute).Unix(),
	}
}

func without(c jwt.MapClaims, name string) jwt.MapClaims { delete(c, name); return c }

func TestSignedTokenVerifiesAndCarriesExactlyTheContractClaims(t *testing.T) {
	b := setup(t)
	tok := b.sign(t, b.signer)

	pub := b.key.Public().(ed25519.PublicKey)
	require.Equal(t, entrytoken.Thumbprint(pub), b.signer.KeyID())
	header := decode(t, tok, 0)
	require.Equal(t, map[string]any{"alg": "EdDSA", "kid": b.signer.KeyID(), "typ": "JWT"}, header)

	payload := decode(t, tok, 1)
	jti := "adm-1"
	require.Equal(t, map[string]any{
		"iss": "waitroom", "aud": "booking", "sub": "user-42", "room": "concert", "jti": jti,
		"iat": float64(base.Unix()), "nbf": float64(base.Unix()), "exp": float64(base.Add(10 * time.Minute).Unix()),
	}, payload)

	got, err := b.verifier.Verify(context.Background(), tok, "concert")
	require.NoError(t, err)
	require.Equal(t, &entrytoken.VerifiedClaims{
		Room: "concert", Subject: "user-42", ID: jti,
		IssuedAt: base, NotBefore: base, ExpiresAt: base.Add(10 * time.Minute),
	}, got)
}

func TestSignerUsesConfiguredIssuerAndAudience(t *testing.T) {
	b := setup(t)
	s := entrytoken.NewSigner(b.key, nil, entrytoken.SignerOptions{Issuer: "wr-eu", Audience: "shop", Now: b.clock.Now})
	tok := b.sign(t, s)
	require.Equal(t, "wr-eu", decode(t, tok, 1)["iss"])
	require.Equal(t, "shop", decode(t, tok, 1)["aud"])

	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{JWKSURL: b.keys.URL, Issuer: "wr-eu", Audience: "shop", Now: b.clock.Now})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), tok, "concert")
	require.NoError(t, err)
}

func TestTheTokenIDIsTheAdmissionItBelongsTo(t *testing.T) {
	b := setup(t)
	for _, id := range []string{"adm-1", "AAAAAAAAAAAAAAAAAAAAAA", "x.1f"} {
		tok, err := b.signer.Sign(entrytoken.Claims{Room: "concert", Subject: "u", ID: id, ExpiresAt: base.Add(time.Minute)})
		require.NoError(t, err)
		require.Equal(t, id, decode(t, tok, 1)["jti"])
	}
}

func TestSignRefusesIncompleteClaims(t *testing.T) {
	b := setup(t)
	exp := base.Add(time.Minute)
	for name, c := range map[string]entrytoken.Claims{
		"no room":          {Subject: "u", ID: "a", ExpiresAt: exp},
		"no subject":       {Room: "concert", ID: "a", ExpiresAt: exp},
		"no token id":      {Room: "concert", Subject: "u", ExpiresAt: exp},
		"long expired":     {Room: "concert", Subject: "u", ID: "a", ExpiresAt: base.Add(-time.Minute)},
		"no expiry at all": {Room: "concert", Subject: "u", ID: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := b.signer.Sign(c)
			require.Error(t, err)
		})
	}
}

func TestJWKSListsCurrentKeyThenPreviousKeys(t *testing.T) {
	cur, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	old1, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	old2, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	prev := []ed25519.PublicKey{old1.Public().(ed25519.PublicKey), old2.Public().(ed25519.PublicKey)}
	s := entrytoken.NewSigner(cur, prev, entrytoken.SignerOptions{})

	var set entrytoken.JWKS
	require.NoError(t, json.Unmarshal(s.JWKS(), &set))
	want := []ed25519.PublicKey{cur.Public().(ed25519.PublicKey), prev[0], prev[1]}
	require.Len(t, set.Keys, len(want))
	for i, pub := range want {
		require.Equal(t, entrytoken.JWK{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub),
			Kid: entrytoken.Thumbprint(pub), Alg: "EdDSA", Use: "sig",
		}, set.Keys[i], "key %d", i)
	}
	require.Equal(t, set.Keys[0].Kid, s.KeyID())
	require.JSONEq(t, string(entrytoken.PublicJWKS(want...)), string(s.JWKS()))
}

func TestTokenOfPreviousKeyVerifiesAfterRotationWhileItIsInTheJWKS(t *testing.T) {
	b := setup(t)
	before := b.sign(t, b.signer)

	next, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	rotated := entrytoken.NewSigner(next, []ed25519.PublicKey{b.key.Public().(ed25519.PublicKey)}, entrytoken.SignerOptions{Now: b.clock.Now})
	b.serve(rotated.JWKS())
	after := b.sign(t, rotated)
	require.NotEqual(t, b.signer.KeyID(), rotated.KeyID())

	for name, tok := range map[string]string{"before rotation": before, "after rotation": after} {
		_, err := b.verifier.Verify(context.Background(), tok, "concert")
		require.NoError(t, err, name)
	}
}

func TestBadTokensAreRefused(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	strangerKid := entrytoken.Thumbprint(stranger.Public().(ed25519.PublicKey))

	// signedAt returns a signer with the setup key whose clock reads base+offset.
	signedAt := func(b *bundle, offset time.Duration, opt entrytoken.SignerOptions) *entrytoken.Signer {
		opt.Now = func() time.Time { return base.Add(offset) }
		return entrytoken.NewSigner(b.key, nil, opt)
	}
	expiringAt := func(t *testing.T, b *bundle, exp time.Duration) string {
		tok, err := signedAt(b, -20*time.Minute, entrytoken.SignerOptions{}).
			Sign(entrytoken.Claims{Room: "concert", Subject: "u", ID: "a", ExpiresAt: base.Add(exp)})
		require.NoError(t, err)
		return tok
	}
	validFrom := func(t *testing.T, b *bundle, nbf time.Duration) string {
		return b.sign(t, signedAt(b, nbf, entrytoken.SignerOptions{}))
	}
	// repayload swaps a valid token's payload for other claims, keeping its signature.
	repayload := func(t *testing.T, tok string, claims jwt.MapClaims) string {
		raw, err := json.Marshal(claims)
		require.NoError(t, err)
		parts := strings.Split(tok, ".")
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
	}

	tests := []struct {
		name  string
		token func(t *testing.T, b *bundle) string
		room  string // verified for; default "concert"
		want  error  // nil: accepted
	}{
		{"valid token", func(t *testing.T, b *bundle) string { return b.sign(t, b.signer) }, "", nil},
		{"aud as a one-element array is accepted", func(t *testing.T, b *bundle) string {
			c := goodClaims()
			c["aud"] = []string{"booking"}
			return testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.key, b.signer.KeyID(), c)
		}, "", nil},
		{"alg none", func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, b.signer.KeyID(), goodClaims())
		}, "", entrytoken.ErrInvalidToken},
		{"HS256 keyed with the public key bytes", func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodHS256, []byte(b.key.Public().(ed25519.PublicKey)), b.signer.KeyID(), goodClaims())
		}, "", entrytoken.ErrInvalidToken},
		{"RS256", func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodRS256, rsaKey, b.signer.KeyID(), goodClaims())
		}, "", entrytoken.ErrInvalidToken},
		{"expired beyond the 30s leeway", func(t *testing.T, b *bundle) string {
			return expiringAt(t, b, -31*time.Second)
		}, "", entrytoken.ErrInvalidToken},
		{"expired but within the 30s leeway is accepted", func(t *testing.T, b *bundle) string {
			return expiringAt(t, b, -29*time.Second)
		}, "", nil},
		{"not yet valid beyond the leeway", func(t *testing.T, b *bundle) string {
			return validFrom(t, b, 31*time.Second)
		}, "", entrytoken.ErrInvalidToken},
		{"not yet valid but within the leeway is accepted", func(t *testing.T, b *bundle) string {
			return validFrom(t, b, 29*time.Second)
		}, "", nil},
		{"wrong aud", func(t *testing.T, b *bundle) string {
			return b.sign(t, signedAt(b, 0, entrytoken.SignerOptions{Audience: "shop"}))
		}, "", entrytoken.ErrInvalidToken},
		{"wrong iss", func(t *testing.T, b *bundle) string {
			return b.sign(t, signedAt(b, 0, entrytoken.SignerOptions{Issuer: "evil"}))
		}, "", entrytoken.ErrInvalidToken},
		{"no exp", func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.key, b.signer.KeyID(), without(goodClaims(), "exp"))
		}, "", entrytoken.ErrInvalidToken},
		{"no room claim", func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.key, b.signer.KeyID(), without(goodClaims(), "room"))
		}, "", entrytoken.ErrInvalidToken},
		{"another room", func(t *testing.T, b *bundle) string { return b.sign(t, b.signer) }, "theatre", entrytoken.ErrWrongRoom},
		{"unknown kid", func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodEdDSA, stranger, strangerKid, goodClaims())
		}, "", entrytoken.ErrInvalidToken},
		{"another key under the current kid", func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodEdDSA, stranger, b.signer.KeyID(), goodClaims())
		}, "", entrytoken.ErrInvalidToken},
		{"no kid", func(t *testing.T, b *bundle) string {
			return testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.key, "", goodClaims())
		}, "", entrytoken.ErrInvalidToken},
		{"payload tampered to another room", func(t *testing.T, b *bundle) string {
			c := goodClaims()
			c["room"] = "theatre"
			return repayload(t, b.sign(t, b.signer), c)
		}, "theatre", entrytoken.ErrInvalidToken},
		{"payload tampered to a later exp", func(t *testing.T, b *bundle) string {
			c := goodClaims()
			c["exp"] = base.Add(24 * time.Hour).Unix()
			return repayload(t, b.sign(t, b.signer), c)
		}, "", entrytoken.ErrInvalidToken},
		{"truncated", func(t *testing.T, b *bundle) string {
			tok := b.sign(t, b.signer)
			return tok[:len(tok)-10]
		}, "", entrytoken.ErrInvalidToken},
		{"signature removed", func(t *testing.T, b *bundle) string {
			tok := b.sign(t, b.signer)
			return tok[:strings.LastIndex(tok, ".")+1]
		}, "", entrytoken.ErrInvalidToken},
		{"garbage", func(*testing.T, *bundle) string { return "this is not a jwt" }, "", entrytoken.ErrInvalidToken},
		{"three garbage parts", func(*testing.T, *bundle) string { return "a.b.c" }, "", entrytoken.ErrInvalidToken},
		{"empty string", func(*testing.T, *bundle) string { return "" }, "", entrytoken.ErrInvalidToken},
		{"oversized", func(*testing.T, *bundle) string { return strings.Repeat("a", 10000) }, "", entrytoken.ErrInvalidToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			room := cmp.Or(tc.room, "concert")
			claims, err := b.verifier.Verify(context.Background(), tc.token(t, b), room)
			if tc.want == nil {
				require.NoError(t, err)
				require.Equal(t, "concert", claims.Room)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, claims)
			for _, other := range []error{entrytoken.ErrInvalidToken, entrytoken.ErrWrongRoom, entrytoken.ErrKeysUnavailable} {
				if other != tc.want {
					require.NotErrorIs(t, err, other)
				}
			}
		})
	}
}

func TestFloodOfUnknownKidsFetchesTheJWKSOncePerMinRefetchInterval(t *testing.T) {
	b := setup(t)
	flood := func() {
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				var kid [16]byte
				_, _ = rand.Read(kid[:])
				tok := testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.key, base64.RawURLEncoding.EncodeToString(kid[:]), goodClaims())
				_, err := b.verifier.Verify(context.Background(), tok, "concert")
				require.ErrorIs(t, err, entrytoken.ErrInvalidToken)
			})
		}
		wg.Wait()
	}

	flood()
	require.EqualValues(t, 1, b.keys.Fetches(), "a cold verifier fetches once for all concurrent misses")

	b.clock.Advance(9 * time.Second)
	flood()
	require.EqualValues(t, 1, b.keys.Fetches(), "no refetch within MinRefetchInterval")

	b.clock.Advance(time.Second)
	flood()
	require.EqualValues(t, 2, b.keys.Fetches(), "one refetch once MinRefetchInterval has passed")

	_, err := b.verifier.Verify(context.Background(), b.sign(t, b.signer), "concert")
	require.NoError(t, err, "known keys still verify during a flood")
	require.EqualValues(t, 2, b.keys.Fetches(), "a known kid needs no fetch")
}

func TestConcurrentFirstVerificationsShareOneFetchAndAllSucceed(t *testing.T) {
	b := setup(t)
	tok := b.sign(t, b.signer)
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			_, err := b.verifier.Verify(context.Background(), tok, "concert")
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, b.keys.Fetches())
}

func TestNewKeyInTheJWKSIsPickedUpAfterMinRefetchInterval(t *testing.T) {
	b := setup(t)
	_, err := b.verifier.Verify(context.Background(), b.sign(t, b.signer), "concert")
	require.NoError(t, err)
	require.EqualValues(t, 1, b.keys.Fetches())

	next, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	rotated := entrytoken.NewSigner(next, []ed25519.PublicKey{b.key.Public().(ed25519.PublicKey)}, entrytoken.SignerOptions{Now: b.clock.Now})
	b.serve(rotated.JWKS())
	tok := b.sign(t, rotated)

	_, err = b.verifier.Verify(context.Background(), tok, "concert")
	require.ErrorIs(t, err, entrytoken.ErrInvalidToken, "keys were fetched just now: the new kid is unknown until the interval passes")
	require.EqualValues(t, 1, b.keys.Fetches())

	b.clock.Advance(10 * time.Second)
	_, err = b.verifier.Verify(context.Background(), tok, "concert")
	require.NoError(t, err)
	require.EqualValues(t, 2, b.keys.Fetches())
}

func TestVerifierIgnoresJWKSEntriesThatAreNotEd25519(t *testing.T) {
	b := setup(t)
	var set entrytoken.JWKS
	require.NoError(t, json.Unmarshal(b.signer.JWKS(), &set))
	real := set.Keys[0]
	x25519 := real
	x25519.Crv = "X25519"
	x25519.Kid = "x25519-kid"
	short := real
	short.X = "AAAA"
	short.Kid = "short-kid"
	set.Keys = []entrytoken.JWK{
		{Kty: "RSA", Kid: "rsa-kid", Alg: "RS256", Use: "sig"},
		{Kty: "oct", Kid: real.Kid}, // a symmetric key under the real kid must not shadow it
		x25519,
		short,
		real,
	}
	raw, err := json.Marshal(set)
	require.NoError(t, err)
	b.serve(raw)

	_, err = b.verifier.Verify(context.Background(), b.sign(t, b.signer), "concert")
	require.NoError(t, err)
	for _, kid := range []string{"rsa-kid", "x25519-kid", "short-kid"} {
		_, err = b.verifier.Verify(context.Background(), testproc.SignJWT(t, jwt.SigningMethodEdDSA, b.key, kid, goodClaims()), "concert")
		require.ErrorIs(t, err, entrytoken.ErrInvalidToken, kid)
	}
}

func TestUnreachableJWKSIsKeysUnavailableNotABadToken(t *testing.T) {
	b := setup(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{JWKSURL: down.URL, Now: b.clock.Now})
	require.NoError(t, err)

	_, err = v.Verify(context.Background(), b.sign(t, b.signer), "concert")
	require.ErrorIs(t, err, entrytoken.ErrKeysUnavailable)
	require.NotErrorIs(t, err, entrytoken.ErrInvalidToken)
	require.ErrorContains(t, err, "503")
}

func TestHangingJWKSServerFailsWithinFetchTimeout(t *testing.T) {
	b := setup(t)
	hang := testproc.HangingServer(t)
	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{JWKSURL: hang.URL, Now: b.clock.Now, FetchTimeout: 100 * time.Millisecond})
	require.NoError(t, err)

	start := time.Now()
	_, err = v.Verify(context.Background(), b.sign(t, b.signer), "concert")
	require.ErrorIs(t, err, entrytoken.ErrKeysUnavailable)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestVerifyGivesUpWhenItsContextEnds(t *testing.T) {
	b := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.verifier.Verify(ctx, b.sign(t, b.signer), "concert")
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, entrytoken.ErrInvalidToken)
}

func TestVerifierCanReadKeysInProcess(t *testing.T) {
	b := setup(t)
	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return b.signer.JWKS(), nil },
		Now:       b.clock.Now,
	})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), b.sign(t, b.signer), "concert")
	require.NoError(t, err)
}

func TestNewVerifierRefusesBadOptions(t *testing.T) {
	for name, opt := range map[string]entrytoken.VerifierOptions{
		"no key source":             {},
		"leeway above 30s":          {JWKSURL: "http://x/jwks.json", Leeway: 31 * time.Second},
		"negative leeway":           {JWKSURL: "http://x/jwks.json", Leeway: -time.Second},
		"negative refetch interval": {JWKSURL: "http://x/jwks.json", MinRefetchInterval: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := entrytoken.NewVerifier(opt)
			require.Error(t, err)
		})
	}
}
