package entrytoken_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/entrytoken"
)

func TestBearerTokenTakesTheSchemeInAnyCase(t *testing.T) {
	for _, h := range []string{"Bearer a.b.c", "bearer a.b.c", "BEARER a.b.c", "bEaReR  a.b.c ", "Bearer a.b.c\t"} {
		tok, err := entrytoken.BearerToken(h)
		require.NoError(t, err, "%q", h)
		require.Equal(t, "a.b.c", tok, "%q", h)
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "Bearer    ", "Basic dXNlcjpwYXNz", "Bearera.b.c", "Token a.b.c", " Bearer a.b.c", "Bearer\ta.b.c"} {
		_, err := entrytoken.BearerToken(h)
		require.ErrorIs(t, err, entrytoken.ErrInvalidToken, "%q", h)
	}
}
