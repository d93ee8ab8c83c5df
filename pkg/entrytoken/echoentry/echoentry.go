// Package echoentry guards echo routes with entry tokens: a site on echo
// (v4) lets only admitted visitors through with
//
//	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{JWKSURL: "https://wait.example.com/.well-known/jwks.json"})
//	api := e.Group("/api/events/:room", echoentry.Middleware(v, func(c echo.Context) string { return c.Param("room") }))
//
// and reads the claims with ClaimsFrom(c) in the handler (see the example).
// It lives apart from package entrytoken so that a site on another framework
// does not import echo.
package echoentry

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// Verifier checks a token for a room: an *entrytoken.Verifier, or an
// *entrytoken.Cache in front of one.
type Verifier interface {
	Verify(ctx context.Context, token, room string) (*entrytoken.VerifiedClaims, error)
}

// claimsKey is where Middleware stores the verified claims in the echo.Context.
const claimsKey = "entrytoken.claims"

// Middleware returns echo middleware that requires an entry token for the
// room that room returns: it reads `Authorization: Bearer <jwt>`, verifies it
// and stores the claims for ClaimsFrom. On failure it writes nothing and
// returns the error of Verify (wrapping entrytoken.ErrInvalidToken,
// ErrWrongRoom or ErrKeysUnavailable; a missing header wraps
// ErrInvalidToken) for the app's error handler to map.
func Middleware(v Verifier, room func(echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token, err := entrytoken.BearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
			if err != nil {
				return err
			}
			claims, err := v.Verify(c.Request().Context(), token, room(c))
			if err != nil {
				return err
			}
			c.Set(claimsKey, claims)
			return next(c)
		}
	}
}

// ClaimsFrom returns the claims Middleware verified for this request, and
// false if the request did not pass through Middleware.
func ClaimsFrom(c echo.Context) (*entrytoken.VerifiedClaims, bool) {
	claims, ok := c.Get(claimsKey).(*entrytoken.VerifiedClaims)
	return claims, ok && claims != nil
}
