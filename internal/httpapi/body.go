package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// readJSON decodes an optional JSON object body into dst (a pointer to a
// struct) strictly: non-JSON content types, invalid UTF-8, a key that is not
// exactly one of dst's JSON names, a key named twice in any object, and
// trailing data are all refused with invalid_body. An empty body leaves dst
// as it is.
//
// encoding/json alone would take {"user":"a","user":"b"} (the last wins) and
// {"USER":"a"} (names match case-insensitively), and would replace invalid
// UTF-8 with U+FFFD: a proxy or a log reading the same body could then see
// something else than we do.
func readJSON(c echo.Context, dst any) error {
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	if err := checkContentType(c, raw); err != nil || len(bytes.TrimSpace(raw)) == 0 {
		return err
	}
	if !utf8.Valid(raw) {
		return errInvalidBody
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return errInvalidBody
	}
	if dec.More() {
		return errInvalidBody
	}
	if !strictKeys(raw, jsonNames(dst)) {
		return errInvalidBody
	}
	return nil
}

// strictKeys reports whether raw (one valid JSON value) has only the keys
// of top, spelled exactly, in its top-level object, and no object in it
// that names a key twice. It walks the tokens with a stack of its own, so a
// deeply nested body costs no Go stack.
func strictKeys(raw []byte, top map[string]bool) bool {
	type level struct {
		keys    map[string]bool // nil for an array
		wantKey bool            // an object's next token is a key or '}'
	}
	var stack []level
	// valueDone is called after each complete value: in an object, a key
	// comes next.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			key, _ := tok.(string)
			if stack[n-1].keys[key] || (n == 1 && top != nil && !top[key]) {
				return false
			}
			stack[n-1].keys[key] = true
			stack[n-1].wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, level{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

var jsonNamesCache sync.Map // reflect.Type → map[string]bool

// jsonNames is the set of JSON names of the struct dst points to, nil if
// dst is not a pointer to a struct.
func jsonNames(dst any) map[string]bool {
	t := reflect.TypeOf(dst)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	if m, ok := jsonNamesCache.Load(t); ok {
		return m.(map[string]bool)
	}
	names := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	jsonNamesCache.Store(t, names)
	return names
}

// checkContentType is the one content-type rule of every body: a request
// that declares a type must declare application/json, even with an empty
// body, and a body must declare it. So a cross-site form post (which can
// carry no other type without a preflight) never acts, empty or not.
func checkContentType(c echo.Context, raw []byte) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
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
