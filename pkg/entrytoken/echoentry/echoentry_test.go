package echoentry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/entrytoken/echoentry"
)

func TestMiddleware(t *testing.T) {
	key, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	signer := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{})
	tok, err := signer.Sign(entrytoken.Claims{Room: "concert", Subject: "user-42", ID: "adm-1", ExpiresAt: time.Now().Add(10 * time.Minute)})
	require.NoError(t, err)
	verifier, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil },
	})
	require.NoError(t, err)

	// run sends one request for room through the middleware and reports the
	// error it returned and the claims the handler saw (nil if not reached).
	run := func(t *testing.T, v echoentry.Verifier, authorization, room string) (error, *entrytoken.VerifiedClaims, *httptest.ResponseRecorder) {
		t.Helper()
		e := echo.New()
		req := httptest.NewRequest(http.MethodGet, "/api/events/"+room+"/seats", nil)
		if authorization != "" {
			req.Header.Set(echo.HeaderAuthorization, authorization)
		}
		rec := httptest.NewRecorder()
		c := e.NewContext(req, rec)
		c.SetParamNames("room")
		c.SetParamValues(room)
		var seen *entrytoken.VerifiedClaims
		h := echoentry.Middleware(v, func(c echo.Context) string { return c.Param("room") })(func(c echo.Context) error {
			claims, ok := echoentry.ClaimsFrom(c)
			require.True(t, ok)
			seen = claims
			return c.NoContent(http.StatusNoContent)
		})
		return h(c), seen, rec
	}

	for name, v := range map[string]echoentry.Verifier{
		"verifier":        verifier,
		"cache before it": entrytoken.NewCache(verifier, entrytoken.CacheOptions{}),
	} {
		t.Run(name+": a valid bearer token reaches the handler with its claims", func(t *testing.T) {
			err, claims, rec := run(t, v, "Bearer "+tok, "concert")
			require.NoError(t, err)
			require.Equal(t, "user-42", claims.Subject)
			require.Equal(t, http.StatusNoContent, rec.Code)
		})
		t.Run(name+": the scheme is case-insensitive", func(t *testing.T) {
			err, claims, _ := run(t, v, "bearer "+tok, "concert")
			require.NoError(t, err)
			require.NotNil(t, claims)
		})
		for what, tc := range map[string]struct {
			authorization, room string
			want                error
		}{
			"no Authorization header":  {"", "concert", entrytoken.ErrInvalidToken},
			"Basic credentials":        {"Basic dXNlcjpwYXNz", "concert", entrytoken.ErrInvalidToken},
			"Bearer without a token":   {"Bearer ", "concert", entrytoken.ErrInvalidToken},
			"a bad token":              {"Bearer a.b.c", "concert", entrytoken.ErrInvalidToken},
			"a token for another room": {"Bearer " + tok, "theatre", entrytoken.ErrWrongRoom},
		} {
			t.Run(name+": "+what+" is returned as an error, with nothing written", func(t *testing.T) {
				err, claims, rec := run(t, v, tc.authorization, tc.room)
				require.ErrorIs(t, err, tc.want)
				require.Nil(t, claims, "handler not reached")
				require.Zero(t, rec.Body.Len())
			})
		}
	}

	t.Run("ClaimsFrom outside the middleware reports false", func(t *testing.T) {
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
		_, ok := echoentry.ClaimsFrom(c)
		require.False(t, ok)
	})
}
