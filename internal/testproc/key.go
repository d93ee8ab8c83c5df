package testproc

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// SigningKey makes a new Ed25519 entry-token key, writes it as a PKCS #8
// PEM file (as scripts/gen-signing-key.sh does) in the test's temporary
// directory, and returns the key and the file's path.
func SigningKey(t testing.TB) (ed25519.PrivateKey, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "signing-key.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return priv, path
}

// Tokens is an entry-token signer on a new key and a verifier that trusts
// it, in process (the JWKS is read from the signer, no HTTP), with the key.
func Tokens(t testing.TB) (*entrytoken.Signer, *entrytoken.Verifier, ed25519.PrivateKey) {
	t.Helper()
	key, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	signer := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{})
	verifier, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil },
	})
	require.NoError(t, err)
	return signer, verifier, key
}

// Claims reads a JWT's registered claims (an entry token's jti, sub, exp, …)
// without checking it.
func Claims(t testing.TB, token string) jwt.RegisteredClaims {
	t.Helper()
	var c jwt.RegisteredClaims
	_, _, err := jwt.NewParser().ParseUnverified(token, &c)
	require.NoError(t, err)
	return c
}

// SignJWT signs claims with method and key, with the header kid unless it is
// empty: a token as a protected site, or an attacker, would make it.
func SignJWT(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// FuzzVerify fuzzes a token verifier: f is seeded with good, cut and
// lengthened copies of it and malformed tokens. verify says whether a token
// it accepted has the claims good was issued with; it may accept good
// alone, and every refusal must be one that named says is of its errors.
func FuzzVerify(f *testing.F, good string, verify func(tok string) (rightClaims bool, err error), named func(error) bool) {
	for _, s := range []string{good, good[:len(good)-3], "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		right, err := verify(tok)
		if err == nil {
			if tok != good || !right {
				t.Fatalf("accepted a token that was not issued: %q", tok)
			}
			return
		}
		if !named(err) {
			t.Fatalf("refusal outside the named errors: %v", err)
		}
	})
}
