package entrytoken

import (
	"context"
	"errors"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to the verifier: none may panic, none
// but a real token may pass, and every refusal is one of the named errors.
func FuzzVerify(f *testing.F) {
	key, err := GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	signer := NewSigner(key, nil, SignerOptions{Now: func() time.Time { return now }})
	good, err := signer.Sign(Claims{Room: "demo", Subject: "alice", ID: "a1", ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil },
		Now:       func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, good[:len(good)-3], "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(context.Background(), tok, "demo")
		if err == nil {
			if tok != good || c.Room != "demo" {
				t.Fatalf("accepted a token that was not issued: %q", tok)
			}
			return
		}
		if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrWrongRoom) && !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("refusal outside the named errors: %v", err)
		}
	})
}
