package usertoken_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/internal/usertoken"
)

// FuzzVerify feeds arbitrary strings to the verifier: none may panic, none
// but the one signed token may pass, and every refusal is ErrInvalid.
func FuzzVerify(f *testing.F) {
	secret := []byte(strings.Repeat("k", 32))
	good, err := jwt.NewWithClaims(jwt.SigningMethodHS256, good()).SignedString(secret)
	if err != nil {
		f.Fatal(err)
	}
	v, err := usertoken.New(usertoken.Options{Secret: secret, Now: func() time.Time { return base }})
	if err != nil {
		f.Fatal(err)
	}
	testproc.FuzzVerify(f, good, func(tok string) (bool, error) {
		user, err := v.Verify(context.Background(), tok, "concert")
		return user == "user-1842", err
	}, func(err error) bool { return errors.Is(err, usertoken.ErrInvalid) })
}
