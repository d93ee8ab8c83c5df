package usertoken_test

import (
	"context"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/waitroom/waitroom/internal/usertoken"
)

// A shop signs a user token for its logged-in account with the secret it
// shares with waitroom (WAITROOM_USER_SECRET), and sends the visitor to
// /rooms/demo?user_token=<token>; waitroom verifies the token when the
// visitor joins and takes the account id as the visitor's identity.
func Example() {
	secret := []byte("change-me-to-at-least-32-random-bytes")

	// In the shop (README.md shows these lines; TestREADMEGoSnippetIsTheExample keeps them in step).
	// readme:begin
	now := time.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":  "user-1842", // the shop's account id
		"room": "demo",      // optional: the token is good for this room only
		"iat":  now.Unix(),
		"exp":  now.Add(10 * time.Minute).Unix(), // at most 1 h ahead
	}).SignedString(secret)
	// readme:end
	if err != nil {
		fmt.Println("sign:", err)
		return
	}

	// In waitroom.
	v, err := usertoken.New(usertoken.Options{Secret: secret})
	if err != nil {
		fmt.Println("new:", err)
		return
	}
	userID, err := v.Verify(context.Background(), token, "demo")
	if err != nil {
		fmt.Println("verify:", err)
		return
	}
	fmt.Println("verified user:", userID)

	_, err = v.Verify(context.Background(), token, "other-sale")
	fmt.Println(err)
	// Output:
	// verified user: user-1842
	// invalid user token: token is for room "demo", not "other-sale"
}
