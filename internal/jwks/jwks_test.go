package jwks_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/jwks"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWK, ecJWK and okpJWK describe public keys as JWK members.
func rsaJWK(pub *rsa.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

func ecJWK(t *testing.T, pub *ecdsa.PublicKey, kid string) map[string]any {
	t.Helper()
	raw, err := pub.Bytes()
	require.NoError(t, err)
	return map[string]any{"kty": "EC", "crv": "P-256", "kid": kid, "x": b64(raw[1:33]), "y": b64(raw[33:])}
}

func okpJWK(pub ed25519.PublicKey, kid string) map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(pub)}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func marshalSet(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"keys": keys})
	require.NoError(t, err)
	return raw
}

type keys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}

func newKeys(t *testing.T) keys {
	t.Helper()
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	_, d, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return keys{rsa: r, ec: e, ed: d}
}

func TestEachKeyTypeBecomesItsCryptoKeyForItsOneAlgorithm(t *testing.T) {
	k := newKeys(t)
	set, err := jwks.Parse(marshalSet(t,
		rsaJWK(&k.rsa.PublicKey, "r1"),
		ecJWK(t, &k.ec.PublicKey, "e1"),
		okpJWK(k.ed.Public().(ed25519.PublicKey), "o1"),
	))
	require.NoError(t, err)
	require.Equal(t, 3, set.Len())

	got, ok := set.Lookup("r1", jwks.RS256)
	require.True(t, ok)
	require.True(t, k.rsa.PublicKey.Equal(got.Public))
	require.Equal(t, jwks.Key{ID: "r1", Algorithm: jwks.RS256, Public: got.Public}, got)

	got, ok = set.Lookup("e1", jwks.ES256)
	require.True(t, ok)
	require.True(t, k.ec.PublicKey.Equal(got.Public))

	got, ok = set.Lookup("o1", jwks.EdDSA)
	require.True(t, ok)
	require.True(t, k.ed.Public().(ed25519.PublicKey).Equal(got.Public))

	for kid, alg := range map[string]string{"r1": jwks.ES256, "e1": jwks.RS256, "o1": jwks.RS256} {
		_, ok := set.Lookup(kid, alg)
		require.False(t, ok, "key %s never serves %s", kid, alg)
	}
}

func TestUnusableKeysAreSkippedNotErrors(t *testing.T) {
	k := newKeys(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p384raw, err := p384.PublicKey.Bytes()
	require.NoError(t, err)
	rsaGood := rsaJWK(&k.rsa.PublicKey, "x")
	ecGood := ecJWK(t, &k.ec.PublicKey, "x")
	okpGood := okpJWK(k.ed.Public().(ed25519.PublicKey), "x")
	offCurve := with(ecGood, "y", b64(make([]byte, 32)))

	for name, jwk := range map[string]map[string]any{
		"an encryption key":                  {"kty": "RSA", "kid": "x", "use": "enc", "n": rsaGood["n"], "e": rsaGood["e"]},
		"an RSA key for RS512":               with(rsaGood, "alg", "RS512"),
		"an RSA key for PS256":               with(rsaGood, "alg", "PS256"),
		"an RSA key of 1024 bits":            rsaJWK(&weak.PublicKey, "x"),
		"an RSA key with exponent 1":         with(rsaGood, "e", "AQ"),
		"an RSA key with an even exponent":   with(rsaGood, "e", "AQAA"), // 65536
		"an RSA key without n":               with(rsaGood, "n", nil),
		"an RSA key with padded base64":      with(rsaGood, "e", "AQAB=="),
		"an EC key on P-384":                 {"kty": "EC", "crv": "P-384", "kid": "x", "x": b64(p384raw[1:49]), "y": b64(p384raw[49:])},
		"an EC key labelled P-256 for ES384": with(ecGood, "alg", "ES384"),
		"an EC point off the curve":          offCurve,
		"an EC key with a short x":           with(ecGood, "x", b64(make([]byte, 31))),
		"an X25519 key":                      with(okpGood, "crv", "X25519"),
		"an Ed25519 key of 31 bytes":         with(okpGood, "x", b64(make([]byte, 31))),
		"an Ed25519 key for another alg":     with(okpGood, "alg", "ES256"),
		"a symmetric key":                    {"kty": "oct", "kid": "x", "k": b64([]byte("0123456789abcdef0123456789abcdef"))},
		"an unknown key type":                {"kty": "PQC", "kid": "x"},
	} {
		t.Run(name, func(t *testing.T) {
			set, err := jwks.Parse(marshalSet(t, jwk, okpJWK(k.ed.Public().(ed25519.PublicKey), "good")))
			require.NoError(t, err)
			require.Equal(t, 1, set.Len(), "only the good key is kept")
			for _, alg := range jwks.Algorithms {
				_, ok := set.Lookup("x", alg)
				require.False(t, ok)
			}
		})
	}
}

func TestAKeyThatNamesItsAlgorithmOrUseSigIsKept(t *testing.T) {
	k := newKeys(t)
	set, err := jwks.Parse(marshalSet(t,
		with(rsaJWK(&k.rsa.PublicKey, "r"), "alg", "RS256"),
		with(with(ecJWK(t, &k.ec.PublicKey, "e"), "alg", "ES256"), "use", "sig"),
		with(okpJWK(k.ed.Public().(ed25519.PublicKey), "o"), "alg", "EdDSA"),
	))
	require.NoError(t, err)
	require.Equal(t, 3, set.Len())
}

func TestKeysOfDifferentTypesMayShareAKid(t *testing.T) {
	k := newKeys(t)
	set, err := jwks.Parse(marshalSet(t, rsaJWK(&k.rsa.PublicKey, "same"), ecJWK(t, &k.ec.PublicKey, "same")))
	require.NoError(t, err)
	r, ok := set.Lookup("same", jwks.RS256)
	require.True(t, ok)
	require.IsType(t, &rsa.PublicKey{}, r.Public)
	e, ok := set.Lookup("same", jwks.ES256)
	require.True(t, ok)
	require.IsType(t, &ecdsa.PublicKey{}, e.Public)
}

func TestParseKeepsOnlyTheAlgorithmsAskedFor(t *testing.T) {
	k := newKeys(t)
	set, err := jwks.Parse(marshalSet(t, rsaJWK(&k.rsa.PublicKey, "r"), okpJWK(k.ed.Public().(ed25519.PublicKey), "o")), jwks.EdDSA)
	require.NoError(t, err)
	require.Equal(t, 1, set.Len())
	_, ok := set.Lookup("o", jwks.EdDSA)
	require.True(t, ok)
}

func TestAKeyWithoutKidIsFoundByItsThumbprint(t *testing.T) {
	// RFC 7638 §3.1: this RSA key's thumbprint is given in the RFC.
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	const rfcThumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	k := newKeys(t)
	set, err := jwks.Parse(marshalSet(t,
		map[string]any{"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256"},
		ecJWK(t, &k.ec.PublicKey, ""),
		okpJWK(k.ed.Public().(ed25519.PublicKey), ""),
	))
	require.NoError(t, err)
	r, ok := set.Lookup(rfcThumbprint, jwks.RS256)
	require.True(t, ok)
	require.Equal(t, rfcThumbprint, jwks.Thumbprint(r.Public))

	for alg, pub := range map[string]any{jwks.ES256: &k.ec.PublicKey, jwks.EdDSA: k.ed.Public()} {
		got, ok := set.Lookup(jwks.Thumbprint(pub), alg)
		require.True(t, ok, alg)
		require.Equal(t, jwks.Thumbprint(pub), got.ID)
	}
	require.Empty(t, jwks.Thumbprint("not a key"))
}

func TestABodyThatIsNotAKeySetIsAnError(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":           "<html>",
		"keys not an array":  `{"keys":{}}`,
		"a kid not a string": `{"keys":[{"kty":"OKP","kid":7}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := jwks.Parse([]byte(body))
			require.Error(t, err)
		})
	}
	set, err := jwks.Parse([]byte(`{}`))
	require.NoError(t, err, "a set without keys is empty, not broken")
	require.Zero(t, set.Len())
}
