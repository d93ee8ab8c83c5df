package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// CookieSecure says when the cookies waitroom sets carry Secure. Behind a
// proxy that ends TLS, a request reaches waitroom over plain HTTP, and
// X-Forwarded-Proto says https only if the proxy passes it on (Caddy
// replaces it unless it trusts the hop): set CookieSecureAlways there.
type CookieSecure int

const (
	// CookieSecureAuto marks a cookie Secure when its request came over
	// TLS or with X-Forwarded-Proto: https. The default.
	CookieSecureAuto CookieSecure = iota
	// CookieSecureAlways marks every cookie Secure.
	CookieSecureAlways
	// CookieSecureNever marks no cookie Secure, even over TLS.
	CookieSecureNever
)

// secure reports whether a cookie set in answer to r carries Secure.
func (s CookieSecure) secure(r *http.Request) bool {
	switch s {
	case CookieSecureAlways:
		return true
	case CookieSecureNever:
		return false
	}
	if r.TLS != nil {
		return true
	}
	v := r.Header["X-Forwarded-Proto"] // canonical already: Get would canonicalise it per call
	return len(v) > 0 && v[0] == "https"
}

// SetCookie sets ck on the answer with Secure as s says for this request.
// Every cookie waitroom sets goes through it, so none is left out.
func (s CookieSecure) SetCookie(c echo.Context, ck *http.Cookie) {
	ck.Secure = s.secure(c.Request())
	c.SetCookie(ck)
}
