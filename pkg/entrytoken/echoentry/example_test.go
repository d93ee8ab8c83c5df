package echoentry_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/entrytoken/echoentry"
)

// A site on echo lets only admitted visitors reach its routes of a room
// (here the keys are read in process; a site sets JWKSURL to waitroom's).
func ExampleMiddleware() {
	key, _ := entrytoken.GenerateKey()
	signer := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{})
	verifier, _ := entrytoken.NewVerifier(entrytoken.VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return signer.JWKS(), nil },
	})

	e := echo.New()
	// The middleware returns Verify's error; the app maps it.
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		switch {
		case errors.Is(err, entrytoken.ErrWrongRoom):
			_ = c.String(http.StatusForbidden, "wrong room")
		case errors.Is(err, entrytoken.ErrKeysUnavailable):
			_ = c.String(http.StatusServiceUnavailable, "try again")
		default:
			_ = c.String(http.StatusUnauthorized, "no entry")
		}
	}
	api := e.Group("/api/events/:room", echoentry.Middleware(verifier, func(c echo.Context) string { return c.Param("room") }))
	api.GET("/seats", func(c echo.Context) error {
		claims, _ := echoentry.ClaimsFrom(c)
		return c.String(http.StatusOK, "seats for "+claims.Subject)
	})

	token, _ := signer.Sign(entrytoken.Claims{Room: "concert", Subject: "user-42", ID: "adm-1", ExpiresAt: time.Now().Add(10 * time.Minute)})
	for _, room := range []string{"concert", "theatre", "nothing"} {
		req := httptest.NewRequest(http.MethodGet, "/api/events/"+room+"/seats", nil)
		if room != "nothing" {
			req.Header.Set(echo.HeaderAuthorization, "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		fmt.Println(room, rec.Code, rec.Body.String())
	}
	// Output:
	// concert 200 seats for user-42
	// theatre 403 wrong room
	// nothing 401 no entry
}
