package entrytoken

import (
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"
)

// claimsKey is where Middleware stores the verified claims in the echo.Context.
const claimsKey = "entrytoken.claims"

// Middleware returns echo middleware that requires an entry token for the
// room that room returns: it reads `Authorization: Bearer <jwt>`, verifies it
// and stores the claims for ClaimsFrom. On failure it writes nothing and
// returns the error of Verify (wrapping ErrInvalidToken, ErrWrongRoom or
// ErrKeysUnavailable; a missing header wraps ErrInvalidToken) for the app's
// error handler to map.
func (v *Verifier) Middleware(room func(echo.Context) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token, err := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
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
func ClaimsFrom(c echo.Context) (*VerifiedClaims, bool) {
	claims, ok := c.Get(claimsKey).(*VerifiedClaims)
	return claims, ok && claims != nil
}

// bearer extracts the token of an Authorization header value. The scheme is
// case-insensitive (RFC 9110 §11.1).
func bearer(header string) (string, error) {
	if header == "" {
		return "", fmt.Errorf("%w: no Authorization header", ErrInvalidToken)
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: Authorization is not a Bearer token", ErrInvalidToken)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", fmt.Errorf("%w: empty Bearer token", ErrInvalidToken)
	}
	return token, nil
}
