package usertoken_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

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
	for _, s := range []string{good, good[:len(good)-3], "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		user, err := v.Verify(context.Background(), tok, "concert")
		if err == nil {
			if tok != good || user != "user-1842" {
				t.Fatalf("accepted a token that was not issued: %q", tok)
			}
			return
		}
		if !errors.Is(err, usertoken.ErrInvalid) {
			t.Fatalf("refusal outside ErrInvalid: %v", err)
		}
	})
}
