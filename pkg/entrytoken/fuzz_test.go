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
	signer, v, _ := testproc.Tokens(f)
	// On the real clock: good stays valid through an hour of fuzzing.
	good, err := signer.Sign(entrytoken.Claims{Room: "demo", Subject: "alice", ID: "a1", ExpiresAt: time.Now().Add(time.Hour)})
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
