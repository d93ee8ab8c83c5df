package entrytoken_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// FuzzVerify feeds arbitrary strings to the verifier: none may panic, none
// but a real token may pass, and every refusal is one of the named errors.
func FuzzVerify(f *testing.F) {
	key, err := entrytoken.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	signer := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{Now: func() time.Time { return now }})
	good, err := signer.Sign(entrytoken.Claims{Room: "demo", Subject: "alice", ID: "a1", ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		f.Fatal(err)
	}
	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil },
		Now:       func() time.Time { return now },
	})
	if err != nil {
		f.Fatal(err)
	}
	testproc.FuzzVerify(f, good, func(tok string) (bool, error) {
		c, err := v.Verify(context.Background(), tok, "demo")
		return err == nil && c.Room == "demo", err
	}, func(err error) bool {
		return errors.Is(err, entrytoken.ErrInvalidToken) || errors.Is(err, entrytoken.ErrWrongRoom) ||
			errors.Is(err, entrytoken.ErrKeysUnavailable)
	})
}
