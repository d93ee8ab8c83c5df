package queue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Mode decides what happens to a visitor at join.
type Mode string

const (
	// ModeAuto admits a joiner at once while nobody waits and capacity is
	// free (never while paused or before opens_at); otherwise the joiner queues.
	ModeAuto Mode = "auto"
	// ModeQueueAll queues everyone for the admitter.
	ModeQueueAll Mode = "queue_all"
	// ModePassthrough admits everyone at once, capacity ignored.
	ModePassthrough Mode = "passthrough"
	// ModeReject refuses new joins (the sale is over); those in line keep
	// their place.
	ModeReject Mode = "reject"
)

// Limits of the config fields, from docs/API.md.
const (
	MaxCapacity      = 1<<31 - 1
	MinBatchSize     = 1
	MaxBatchSize     = 10000
	MinIntervalMS    = 100
	MaxIntervalMS    = 900000
	MinSessionTTLS   = 10
	MaxSessionTTLS   = 86400
	MaxAbandonAfterS = 1<<31 - 1
	MaxTargetURLLen  = 2048
	MaxUserLen       = 128
	MaxPowWork       = 10000000
	MaxArriveWithinS = 3600
	MaxTitleLen      = 100  // characters, not bytes: a Korean title is 3 bytes a character
	MaxMessageLen    = 1000 // characters
	MaxRoutes        = 100
	MaxRouteLen      = 512
)

// Config is one room's settings. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// Capacity is the most visitors admitted at once; 0 means no limit. Default 100.
	Capacity int `json:"capacity"`
	// BatchSize is the most visitors admitted per tick, 1–10000. Default 10.
	BatchSize int `json:"batch_size"`
	// IntervalMS is the time between ticks, 100–900000. Default 1000.
	IntervalMS int `json:"interval_ms"`
	// SessionTTLS is how long an admission lasts, 10–86400 s. Default 600.
	SessionTTLS int `json:"session_ttl_s"`
	// Mode applies at join. Default auto.
	Mode Mode `json:"mode"`
	// Paused stops admissions; joining still works. Default false.
	Paused bool `json:"paused"`
	// OpensAt, when set and in the future, sends joiners to the pre-queue.
	// Default nil.
	OpensAt *time.Time `json:"opens_at"`
	// AbandonAfterS drops a waiting visitor absent this long; 0 = never.
	// Default 120.
	AbandonAfterS int `json:"abandon_after_s"`
	// TargetURL is where an admitted visitor goes. Default /booking/<room>.
	TargetURL string `json:"target_url"`
	// RequireUser refuses joins without a verified user token. Default false.
	RequireUser bool `json:"require_user"`
	// PowWork is the join puzzle's size (its maxnumber); 0 = off. Default 0.
	PowWork int `json:"pow_work"`
	// Title is the waiting page's heading, plain text of at most 100
	// characters. Default "" (the page's own words).
	Title string `json:"title"`
	// Message is plain text the waiting page shows as it is, at most 1000
	// characters; line breaks are kept. Default "".
	Message string `json:"message"`
	// Routes are the path prefixes ("/checkout") whose requests the
	// gateway lets through only with this room's entry, at most 100.
	// Default none.
	Routes []string `json:"routes"`
	// ArriveWithinS ends an admission not used at the site (booking API,
	// gateway, forward auth, POST .../arrive) within this many seconds of
	// admission, reason no_show; 0–3600, 0 = off. Default 0.
	ArriveWithinS int `json:"arrive_within_s"`
}

// DefaultConfig returns the defaults of docs/API.md for a room.
func DefaultConfig(room string) Config {
	return Config{
		Capacity:      100,
		BatchSize:     10,
		IntervalMS:    1000,
		SessionTTLS:   600,
		Mode:          ModeAuto,
		AbandonAfterS: 120,
		TargetURL:     "/booking/" + room,
		Routes:        []string{},
	}
}

// Interval is IntervalMS as a duration.
func (c Config) Interval() time.Duration { return time.Duration(c.IntervalMS) * time.Millisecond }

var roomIDPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// ValidRoomID reports whether id is 1–64 characters of a-z, 0-9 and '-'.
// It is checked before any room id reaches Redis.
func ValidRoomID(id string) bool { return roomIDPattern.MatchString(id) }

// ConfigPatch is a partial config: nil fields are left as they are. OpensAt
// distinguishes "absent" (OpensAtSet false) from "null" (set, nil value).
type ConfigPatch struct {
	Capacity      *int
	BatchSize     *int
	IntervalMS    *int
	SessionTTLS   *int
	Mode          *Mode
	Paused        *bool
	OpensAtSet    bool
	OpensAt       *time.Time
	AbandonAfterS *int
	TargetURL     *string
	RequireUser   *bool
	PowWork       *int
	Title         *string
	Message       *string
	Routes        *[]string
	ArriveWithinS *int
}

// patchJSON is a config patch as it arrives: each field's raw value, absent
// when nil, checked by set so that a wrong type names its field.
type patchJSON struct {
	Capacity      jsontext.Value `json:"capacity"`
	BatchSize     jsontext.Value `json:"batch_size"`
	IntervalMS    jsontext.Value `json:"interval_ms"`
	SessionTTLS   jsontext.Value `json:"session_ttl_s"`
	Mode          jsontext.Value `json:"mode"`
	Paused        jsontext.Value `json:"paused"`
	OpensAt       jsontext.Value `json:"opens_at"`
	AbandonAfterS jsontext.Value `json:"abandon_after_s"`
	TargetURL     jsontext.Value `json:"target_url"`
	RequireUser   jsontext.Value `json:"require_user"`
	PowWork       jsontext.Value `json:"pow_work"`
	Title         jsontext.Value `json:"title"`
	Message       jsontext.Value `json:"message"`
	Routes        jsontext.Value `json:"routes"`
	ArriveWithinS jsontext.Value `json:"arrive_within_s"`
}

// strictJSON refuses a member named twice, a name in another case, an
// unknown name and invalid UTF-8 (encoding/json would take the last
// duplicate, match names case-insensitively and turn bad bytes into U+FFFD,
// so a proxy or a log could read another body than we do). The last three
// are json v2's defaults, named here so that they stay.
var strictJSON = json.JoinOptions(
	json.RejectUnknownMembers(true),
	json.MatchCaseInsensitiveNames(false),
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
)

// DecodeConfigPatch parses a JSON object of config fields (as an operator
// PUTs it) and validates every field present. Unknown fields, duplicate
// fields, names in another case, invalid UTF-8 and wrong types are refused
// with a *ConfigError naming the field.
func DecodeConfigPatch(data []byte) (ConfigPatch, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if dec.PeekKind() != '{' {
		return ConfigPatch{}, &ConfigError{Field: "body", Reason: "must be a JSON object"}
	}
	var in patchJSON
	if err := json.UnmarshalDecode(dec, &in, strictJSON); err != nil {
		return ConfigPatch{}, patchError(err, data)
	}
	if _, err := dec.ReadValue(); err != io.EOF {
		return ConfigPatch{}, &ConfigError{Field: "body", Reason: "has data after the JSON object"}
	}
	var p ConfigPatch
	for _, f := range []struct {
		name string
		raw  jsontext.Value
	}{
		{"capacity", in.Capacity}, {"batch_size", in.BatchSize}, {"interval_ms", in.IntervalMS},
		{"session_ttl_s", in.SessionTTLS}, {"mode", in.Mode}, {"paused", in.Paused},
		{"opens_at", in.OpensAt}, {"abandon_after_s", in.AbandonAfterS}, {"target_url", in.TargetURL},
		{"require_user", in.RequireUser}, {"pow_work", in.PowWork}, {"title", in.Title}, {"message", in.Message},
		{"routes", in.Routes}, {"arrive_within_s", in.ArriveWithinS},
	} {
		if f.raw == nil {
			continue
		}
		if err := p.set(f.name, f.raw); err != nil {
			return ConfigPatch{}, err
		}
	}
	return p, nil
}

// patchError turns the JSON library's refusal into a *ConfigError naming
// the member it is about, or the body.
func patchError(err error, data []byte) error {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		field, nested := topMember(syn.JSONPointer)
		if nested { // inside a field's value, which no field takes anyway
			return &ConfigError{Field: field, Reason: "must not name a member twice"}
		}
		return &ConfigError{Field: field, Reason: "appears twice"}
	case errors.As(err, &sem) && errors.Is(sem.Err, json.ErrUnknownName):
		// Named quoted and cut short: the name is the caller's, and may be
		// empty, huge or full of control characters.
		field, _ := topMember(sem.JSONPointer)
		if len(field) > 64 {
			field = field[:64]
		}
		return &ConfigError{Field: strconv.QuoteToASCII(field), Reason: "is not a config field"}
	case !utf8.Valid(data):
		return &ConfigError{Field: "body", Reason: "is not valid UTF-8"}
	}
	return &ConfigError{Field: "body", Reason: "is not valid JSON"}
}

// topMember is the top-level member a JSON pointer lies in, and whether it
// points deeper than that member.
func topMember(ptr jsontext.Pointer) (name string, nested bool) {
	n := 0
	for tok := range ptr.Tokens() {
		if n == 0 {
			name = tok
		}
		n++
	}
	return name, n > 1
}

func (p *ConfigPatch) set(field string, raw jsontext.Value) error {
	intField := func(dst **int, lo, hi int) error {
		v, err := decodeInt(raw)
		if err != nil {
			return &ConfigError{Field: field, Reason: "must be an integer"}
		}
		if v < lo || v > hi {
			return &ConfigError{Field: field, Reason: fmt.Sprintf("must be between %d and %d", lo, hi)}
		}
		*dst = &v
		return nil
	}
	boolField := func(dst **bool) error {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return &ConfigError{Field: field, Reason: "must be true or false"}
		}
		*dst = &b
		return nil
	}
	switch field {
	case "capacity":
		return intField(&p.Capacity, 0, MaxCapacity)
	case "batch_size":
		return intField(&p.BatchSize, MinBatchSize, MaxBatchSize)
	case "interval_ms":
		return intField(&p.IntervalMS, MinIntervalMS, MaxIntervalMS)
	case "session_ttl_s":
		return intField(&p.SessionTTLS, MinSessionTTLS, MaxSessionTTLS)
	case "abandon_after_s":
		return intField(&p.AbandonAfterS, 0, MaxAbandonAfterS)
	case "pow_work":
		return intField(&p.PowWork, 0, MaxPowWork)
	case "arrive_within_s":
		return intField(&p.ArriveWithinS, 0, MaxArriveWithinS)
	case "require_user":
		return boolField(&p.RequireUser)
	case "mode":
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return &ConfigError{Field: field, Reason: "must be a string"}
		}
		m := Mode(s)
		switch m {
		case ModeAuto, ModeQueueAll, ModePassthrough, ModeReject:
		default:
			return &ConfigError{Field: field, Reason: "must be one of auto, queue_all, passthrough, reject"}
		}
		p.Mode = &m
	case "paused":
		return boolField(&p.Paused)
	case "opens_at":
		p.OpensAtSet = true
		if string(raw) == "null" {
			return nil
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return &ConfigError{Field: field, Reason: "must be an RFC 3339 time or null"}
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || t.Year() < 2000 || t.Year() > 2999 {
			return &ConfigError{Field: field, Reason: "must be an RFC 3339 time or null"}
		}
		t = t.UTC()
		p.OpensAt = &t
	case "target_url":
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return &ConfigError{Field: field, Reason: "must be a string"}
		}
		if err := validTargetURL(s); err != nil {
			return &ConfigError{Field: field, Reason: err.Error()}
		}
		p.TargetURL = &s
	case "title", "message":
		var s string
		if string(raw) == "null" || json.Unmarshal(raw, &s) != nil {
			return &ConfigError{Field: field, Reason: "must be a string"}
		}
		if err := validRoomText(field, s); err != nil {
			return &ConfigError{Field: field, Reason: err.Error()}
		}
		if field == "title" {
			p.Title = &s
		} else {
			p.Message = &s
		}
	case "routes":
		var routes []string
		if string(raw) == "null" || json.Unmarshal(raw, &routes) != nil {
			return &ConfigError{Field: field, Reason: "must be a list of path prefixes"}
		}
		if err := validRoutes(routes); err != nil {
			return &ConfigError{Field: field, Reason: err.Error()}
		}
		p.Routes = &routes
	default:
		return &ConfigError{Field: strconv.QuoteToASCII(field), Reason: "is not a config field"}
	}
	return nil
}

// decodeInt accepts only a JSON integer that fits an int: 1.5, "3", 1e3 and
// 1e30 are all refused, so a typo never becomes a surprising value.
func decodeInt(raw jsontext.Value) (int, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || strings.ContainsAny(s, ".eE\"") {
		return 0, fmt.Errorf("not an integer")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < -1<<31 || v > 1<<31-1 {
		return 0, fmt.Errorf("not an integer")
	}
	return int(v), nil
}

// validTargetURL accepts a same-site path ("/booking/x") or an absolute
// http(s) URL; never "javascript:" or a protocol-relative "//host". No
// whitespace or control character anywhere: browsers drop tabs and
// newlines from a URL, so "/\t/evil.example" would lead to //evil.example.
func validTargetURL(s string) error {
	if s == "" || len(s) > MaxTargetURLLen {
		return fmt.Errorf("must be 1–%d characters", MaxTargetURLLen)
	}
	if strings.ContainsFunc(s, invisibleInURL) {
		return fmt.Errorf("must not contain whitespace, control or format characters")
	}
	if strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.Contains(s, `\`) {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be a path starting with / or an http(s) URL")
	}
	return nil
}

// invisibleInURL reports a rune that a browser may drop from a URL or that
// hides what the URL says: whitespace, control characters (C0, DEL, C1) and
// format characters (zero-width spaces, bidi overrides).
func invisibleInURL(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// validRoomText checks a title or message: plain text the page shows as
// text, never as HTML, so only length and control characters matter. A
// title is one line; a message may have line breaks and tabs.
func validRoomText(field, s string) error {
	limit := MaxTitleLen
	if field == "message" {
		limit = MaxMessageLen
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("must be UTF-8 text")
	}
	if utf8.RuneCountInString(s) > limit {
		return fmt.Errorf("must be at most %d characters", limit)
	}
	for _, r := range s {
		if field == "message" && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("must not contain control characters")
		}
	}
	return nil
}

// validRoutes checks a room's gateway routes: at most MaxRoutes path
// prefixes, each starting with "/" (not "//"), with no query, fragment,
// backslash, whitespace, control or format character, none twice. A dot
// segment is refused: the gateway matches cleaned paths, which never
// hold one.
func validRoutes(routes []string) error {
	if len(routes) > MaxRoutes {
		return fmt.Errorf("must hold at most %d prefixes", MaxRoutes)
	}
	seen := map[string]bool{}
	for _, r := range routes {
		switch {
		case r == "" || len(r) > MaxRouteLen:
			return fmt.Errorf("must be paths of 1–%d characters", MaxRouteLen)
		case !strings.HasPrefix(r, "/") || strings.HasPrefix(r, "//") || strings.ContainsAny(r, `?#\`) ||
			strings.ContainsFunc(r, invisibleInURL) || !utf8.ValidString(r):
			return fmt.Errorf("must be paths starting with / (not //), without query, fragment or blanks")
		case strings.Contains(r+"/", "/./") || strings.Contains(r+"/", "/../") || strings.Contains(r, "//"):
			return fmt.Errorf("must not contain empty, . or .. segments")
		case seen[r]:
			return fmt.Errorf("must not repeat a prefix (%q)", r)
		}
		seen[r] = true
	}
	return nil
}

// Apply returns c with the patch's fields set.
func (p ConfigPatch) Apply(c Config) Config {
	pv, cv := reflect.ValueOf(p), reflect.ValueOf(&c).Elem()
	for _, f := range patchFields {
		if v := pv.Field(f.patch); !v.IsNil() {
			cv.Field(f.config).Set(v.Elem())
		}
	}
	if p.OpensAtSet {
		c.OpensAt = p.OpensAt
	}
	return c
}

// patchFields pairs each pointer field of ConfigPatch with the Config field
// of the same name and type that it sets, but OpensAt, whose null is a
// value. A patch field without its config field panics at start-up, which
// every test sees.
var patchFields = func() (out []struct{ patch, config int }) {
	pt, ct := reflect.TypeFor[ConfigPatch](), reflect.TypeFor[Config]()
	for i := range pt.NumField() {
		f := pt.Field(i)
		if f.Type.Kind() != reflect.Pointer || f.Name == "OpensAt" {
			continue
		}
		cf, ok := ct.FieldByName(f.Name)
		if !ok || cf.Type != f.Type.Elem() {
			panic("queue: ConfigPatch." + f.Name + " sets no Config field of its type")
		}
		out = append(out, struct{ patch, config int }{i, cf.Index[0]})
	}
	return out
}()

// Validate checks every field against the limits of docs/API.md and names the
// first bad field.
func (c Config) Validate() error {
	checks := []struct {
		field     string
		v, lo, hi int
	}{
		{"capacity", c.Capacity, 0, MaxCapacity},
		{"batch_size", c.BatchSize, MinBatchSize, MaxBatchSize},
		{"interval_ms", c.IntervalMS, MinIntervalMS, MaxIntervalMS},
		{"session_ttl_s", c.SessionTTLS, MinSessionTTLS, MaxSessionTTLS},
		{"abandon_after_s", c.AbandonAfterS, 0, MaxAbandonAfterS},
		{"pow_work", c.PowWork, 0, MaxPowWork},
		{"arrive_within_s", c.ArriveWithinS, 0, MaxArriveWithinS},
	}
	for _, ch := range checks {
		if ch.v < ch.lo || ch.v > ch.hi {
			return &ConfigError{Field: ch.field, Reason: fmt.Sprintf("must be between %d and %d", ch.lo, ch.hi)}
		}
	}
	switch c.Mode {
	case ModeAuto, ModeQueueAll, ModePassthrough, ModeReject:
	default:
		return &ConfigError{Field: "mode", Reason: "must be one of auto, queue_all, passthrough, reject"}
	}
	if err := validTargetURL(c.TargetURL); err != nil {
		return &ConfigError{Field: "target_url", Reason: err.Error()}
	}
	if err := validRoutes(c.Routes); err != nil {
		return &ConfigError{Field: "routes", Reason: err.Error()}
	}
	for field, text := range map[string]string{"title": c.Title, "message": c.Message} {
		if err := validRoomText(field, text); err != nil {
			return &ConfigError{Field: field, Reason: err.Error()}
		}
	}
	return nil
}

// fields is the config as the Redis hash stores it. opens_at is Unix
// milliseconds, "0" when unset, because the scripts compare it with TIME.
func (c Config) fields() []any {
	opens := int64(0)
	if c.OpensAt != nil {
		opens = c.OpensAt.UnixMilli()
	}
	return []any{
		"capacity", c.Capacity,
		"batch_size", c.BatchSize,
		"interval_ms", c.IntervalMS,
		"session_ttl_s", c.SessionTTLS,
		"mode", string(c.Mode),
		"paused", boolField(c.Paused),
		"opens_at", opens,
		"abandon_after_s", c.AbandonAfterS,
		"target_url", c.TargetURL,
		"require_user", boolField(c.RequireUser),
		"pow_work", c.PowWork,
		"title", c.Title,
		"message", c.Message,
		"routes", routesField(c.Routes),
		"arrive_within_s", c.ArriveWithinS,
	}
}

// routesField is the routes as the config hash stores them: a JSON list.
func routesField(routes []string) string {
	if routes == nil {
		routes = []string{}
	}
	b, _ := json.Marshal(routes) // a []string always marshals
	return string(b)
}

// boolField is a bool as the config hash stores it: "1" or "0".
func boolField(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// configFromHash reads the stored hash back; missing fields take defaults so
// a config written by an older version still loads.
func configFromHash(room string, h map[string]string) Config {
	c := DefaultConfig(room)
	atoi := func(k string, dst *int) {
		if v, err := strconv.Atoi(h[k]); err == nil {
			*dst = v
		}
	}
	atoi("capacity", &c.Capacity)
	atoi("batch_size", &c.BatchSize)
	atoi("interval_ms", &c.IntervalMS)
	atoi("session_ttl_s", &c.SessionTTLS)
	atoi("abandon_after_s", &c.AbandonAfterS)
	atoi("pow_work", &c.PowWork)
	atoi("arrive_within_s", &c.ArriveWithinS)
	c.RequireUser = h["require_user"] == "1"
	if m, ok := h["mode"]; ok {
		c.Mode = Mode(m)
	}
	c.Paused = h["paused"] == "1"
	if ms, err := strconv.ParseInt(h["opens_at"], 10, 64); err == nil && ms > 0 {
		t := time.UnixMilli(ms).UTC()
		c.OpensAt = &t
	}
	if u := h["target_url"]; u != "" {
		c.TargetURL = u
	}
	c.Title = h["title"]
	c.Message = h["message"]
	if r, ok := h["routes"]; ok {
		var routes []string
		if json.Unmarshal([]byte(r), &routes) == nil && routes != nil {
			c.Routes = routes
		}
	}
	return c
}

// sortedRooms sorts room ids for a stable listing.
func sortedRooms(ids []string) []string {
	sort.Strings(ids)
	return ids
}
