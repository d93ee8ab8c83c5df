package luascript

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Refusal is a script's named refusal, the reply {"err": code}: the room is
// gone, the ticket unknown, and so on. The calling package maps each code it
// knows to one of its named errors.
type Refusal struct {
	Script string
	Code   string
}

func (r *Refusal) Error() string { return r.Script + ": refused: " + r.Code }

// ErrBadReply: a script answered something it never answers (a reply of
// the wrong type, a missing field). Errors of Decode wrap it.
var ErrBadReply = errors.New("unexpected script reply")

// Decode reads the reply v of script s (with err, the error of running it)
// into a T, a struct whose fields carry json tags. Every field is required
// unless its tag says omitempty; a field tagged ",string" holds a number
// sent as a string (one above cjson's 14 digits). An empty Lua table, which
// cjson encodes as {}, is an empty slice. A reply {"err": code} is a
// *Refusal. Anything else unexpected is an error wrapping ErrBadReply.
func Decode[T any](s *Script, v any, err error) (T, error) {
	var out T
	if err != nil {
		return out, fmt.Errorf("%s: %w", s.name, err)
	}
	raw, ok := v.(string)
	if !ok {
		return out, fmt.Errorf("%s: %w: a %T, not a cjson string", s.name, ErrBadReply, v)
	}
	// cjson passes a string's bytes through unchecked; so does Redis.
	dec := jsontext.NewDecoder(bytes.NewReader([]byte(raw)), jsontext.AllowInvalidUTF8(true))
	code, err := decodeObject(dec, reflect.ValueOf(&out).Elem(), true)
	if err != nil {
		return out, fmt.Errorf("%s: %w: %v in %.200q", s.name, ErrBadReply, err, raw)
	}
	if code != "" {
		return out, &Refusal{Script: s.name, Code: code}
	}
	return out, nil
}

// field is one struct field a reply fills.
type field struct {
	name     string
	index    int
	required bool
	quoted   bool // ",string": a number sent as a JSON string
}

type plan struct {
	fields []field
	byName map[string]int
}

var plans sync.Map // reflect.Type -> *plan

func planOf(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := &plan{byName: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		f := field{name: name, index: i, required: true}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "omitempty":
				f.required = false
			case "string":
				f.quoted = true
			}
		}
		p.byName[name] = len(p.fields)
		p.fields = append(p.fields, f)
	}
	plans.Store(t, p)
	return p
}

// decodeObject reads one JSON object into the struct dst, checking that
// every required field came. At the top level a member "err" is a refusal:
// its code is returned and the other fields are not required.
func decodeObject(dec *jsontext.Decoder, dst reflect.Value, top bool) (refusal string, err error) {
	if k := dec.PeekKind(); k != '{' {
		return "", fmt.Errorf("%v where an object was expected", k)
	}
	if _, err := dec.ReadToken(); err != nil {
		return "", err
	}
	p := planOf(dst.Type())
	var seen uint64 // reply structs have well under 64 fields
	if len(p.fields) > 64 {
		return "", fmt.Errorf("%s has more than 64 fields", dst.Type())
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return "", err
		}
		name := tok.String()
		i, ok := p.byName[name]
		if !ok {
			if top && name == "err" {
				t, err := dec.ReadToken()
				if err != nil || t.Kind() != '"' || t.String() == "" {
					return "", errors.New(`"err" is not a code`)
				}
				refusal = t.String()
				continue
			}
			if err := dec.SkipValue(); err != nil {
				return "", err
			}
			continue
		}
		f := p.fields[i]
		if err := decodeValue(dec, dst.Field(f.index), f.quoted); err != nil {
			return "", fmt.Errorf("field %q: %w", name, err)
		}
		seen |= 1 << i
	}
	if _, err := dec.ReadToken(); err != nil {
		return "", err
	}
	if refusal != "" {
		return refusal, nil
	}
	for i, f := range p.fields {
		if f.required && seen&(1<<i) == 0 {
			return "", fmt.Errorf("field %q missing", f.name)
		}
	}
	return "", nil
}

// decodeValue reads one JSON value into dst: nested structs and slices of
// them with the same checks, everything else by the json package.
func decodeValue(dec *jsontext.Decoder, dst reflect.Value, quoted bool) error {
	switch {
	case quoted:
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if tok.Kind() != '"' {
			return fmt.Errorf("%v where a number in a string was expected", tok.Kind())
		}
		n, err := strconv.ParseInt(tok.String(), 10, 64)
		if err != nil || !dst.CanInt() {
			return fmt.Errorf("%q is not an integer", tok.String())
		}
		dst.SetInt(n)
		return nil
	case dst.Kind() == reflect.Struct:
		_, err := decodeObject(dec, dst, false)
		return err
	case dst.Kind() == reflect.Slice && dec.PeekKind() == '{':
		// cjson cannot tell an empty array from an empty object: Redis's
		// writes {}, miniredis's [].
		if err := readEmpty(dec, '}'); err != nil {
			return err
		}
		dst.Set(reflect.MakeSlice(dst.Type(), 0, 0))
		return nil
	case dst.Kind() == reflect.Map && dec.PeekKind() == '[':
		if err := readEmpty(dec, ']'); err != nil {
			return err
		}
		dst.Set(reflect.MakeMap(dst.Type()))
		return nil
	case dst.Kind() == reflect.Slice && dst.Type().Elem().Kind() == reflect.Struct:
		if k := dec.PeekKind(); k != '[' {
			return fmt.Errorf("%v where an array was expected", k)
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		s := reflect.MakeSlice(dst.Type(), 0, 4)
		for i := 0; dec.PeekKind() != ']'; i++ {
			s = reflect.Append(s, reflect.Zero(dst.Type().Elem()))
			if _, err := decodeObject(dec, s.Index(i), false); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		dst.Set(s)
		_, err := dec.ReadToken()
		return err
	}
	return json.UnmarshalDecode(dec, dst.Addr().Interface())
}

// readEmpty reads an empty object or array, whose closing token is end.
func readEmpty(dec *jsontext.Decoder, end jsontext.Kind) error {
	open, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if dec.PeekKind() != end {
		return fmt.Errorf("a non-empty %v where the other kind was expected", open.Kind())
	}
	_, err = dec.ReadToken()
	return err
}
