package httpapi

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"
)

// readJSON decodes an optional JSON object body into dst (a pointer to a
// struct) strictly: non-JSON content types, invalid UTF-8, a name that is not
// exactly one of dst's JSON names, a name given twice in any object, and
// trailing data are all refused with invalid_body. An empty body leaves dst
// as it is.
func readJSON(c echo.Context, dst any) error {
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkContentType(c, raw); err != nil || len(bytes.TrimSpace(raw)) == 0 {
		return err
	}
	if err := json.Unmarshal(raw, dst, strictJSON); err != nil {
		return errInvalidBody
	}
	return nil
}

// strictJSON refuses a member named twice, a name in another case, an
// unknown name and invalid UTF-8: encoding/json would take the last
// duplicate, match names case-insensitively and turn bad bytes into U+FFFD,
// so a proxy or a log could read another body than we do. The last three
// are json v2's defaults, named so that they stay (as in queue's config).
var strictJSON = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// checkContentType is the one content-type rule of every body: a request
// that declares a type must declare application/json, even with an empty
// body, and a body must declare it. So a cross-site form post (which can
// carry no other type without a preflight) never acts, empty or not.
func checkContentType(c echo.Context, raw []byte) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct == echo.MIMEApplicationJSON {
		return nil // what every client sends: no parse (its parameter map) needed
	}
	if ct == "" {
		if len(bytes.TrimSpace(raw)) > 0 {
			return errUnsupportedCT
		}
		return nil
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationJSON {
		return errUnsupportedCT
	}
	return nil
}

// readNoBody is readJSON for a request that takes no body (a leave): it
// must come empty, under the same content-type rule.
func readNoBody(c echo.Context) error {
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkContentType(c, raw); err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		return apiErr(http.StatusBadRequest, "invalid_body", "This request takes no body.")
	}
	return nil
}

// readBody reads the whole body, mapping the body limit to 413.
func readBody(c echo.Context) ([]byte, error) {
	if c.Request().Body == http.NoBody {
		return nil, nil // no Content-Length, no chunks: io.ReadAll would still allocate
	}
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		return nil, errInvalidBody
	}
	return raw, nil
}
