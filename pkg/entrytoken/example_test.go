package entrytoken_test

import (
	"context"
	"fmt"
	"time"

	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// Waitroom signs a token on admission; the booking API verifies it against
// the published JWKS (here read in process, as standalone mode does).
func Example() {
	now := func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }
	key, err := entrytoken.GenerateKey()
	if err != nil {
		panic(err)
	}
	signer := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{Now: now})
	token, err := signer.Sign(entrytoken.Claims{Room: "concert", Subject: "user-42", ID: "adm-1", ExpiresAt: now().Add(10 * time.Minute)})
	if err != nil {
		panic(err)
	}

	verifier, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil },
		Now:       now,
	})
	if err != nil {
		panic(err)
	}
	claims, err := verifier.Verify(context.Background(), token, "concert")
	fmt.Println(claims.Room, claims.Subject, claims.ExpiresAt.Format(time.RFC3339), err)

	_, err = verifier.Verify(context.Background(), token, "theatre")
	fmt.Println(err)
	// Output:
	// concert user-42 2026-12-01T10:10:00Z <nil>
	// entry token is for another room: token is for room "concert", not "theatre"
}
