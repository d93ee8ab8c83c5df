package entrytoken

import (
	"fmt"
	"strings"
)

// BearerToken extracts the token of an Authorization header value
// ("Bearer <token>"). The scheme is case-insensitive (RFC 9110 §11.1) and
// spaces around the token are dropped. A missing, other or empty scheme
// wraps ErrInvalidToken.
func BearerToken(header string) (string, error) {
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
