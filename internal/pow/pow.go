// Package pow is the join puzzle of docs/API.md "Proof of work": challenges in the
// ALTCHA format, their verification, the per-address escalation of the
// puzzle size, and the master key that every instance shares.
//
// Room keys: a room's HMAC key is HMAC-SHA256(master, "waitroom pow "+room),
// so a challenge signed for one room never verifies in another.
//
// Verify checks a solution but does not remember it: making each solution
// admit one join, once, is the caller's job, keyed by [Solution.ID] until
// [Solution.ExpiresAt].
package pow

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
)

// ErrInvalid: the payload is malformed, forged, for another room, expired or
// not a solution. API code `pow_invalid` (403). Every error of Verify wraps it
// and names the reason.
var ErrInvalid = errors.New("invalid proof of work")

const (
	// Algorithm is the only hash the puzzle uses.
	Algorithm = "SHA-256"
	// TTL is how long a challenge lives (docs/API.md: 5 minutes).
	TTL = 5 * time.Minute
	// MaxNumber is the largest maxnumber, after escalation too (docs/API.md).
	MaxNumber = 10_000_000
	// MinKeyBytes is the least master key length.
	MinKeyBytes = 32

	// saltBytes of randomness make every challenge, and so every Solution.ID,
	// unique.
	saltBytes = 12
	// maxPayloadBytes bounds the work spent on a join body's "pow"; real
	// payloads are about 330 bytes.
	maxPayloadBytes = 1024
	// clockSkew is how far ahead of the verifier's clock an issuer's may be.
	// Any salt whose expiry lies further out than TTL+clockSkew was not issued
	// by us: it is what shifting a digit of the number into the salt yields.
	clockSkew = time.Minute
	// expiresParam starts the query part of every salt we issue.
	expiresParam = "?expires="
)

// Challenge is the answer of GET /api/rooms/{room}/challenge.
type Challenge struct {
	Algorithm string `json:"algorithm"`
	// Challenge is the hex SHA-256 of Salt followed by the decimal secret number.
	Challenge string `json:"challenge"`
	// MaxNumber bounds the secret number: 0 ≤ n ≤ MaxNumber.
	MaxNumber int `json:"maxnumber"`
	// Salt is "<hex>?expires=<unix seconds>".
	Salt string `json:"salt"`
	// Signature is the hex HMAC-SHA256 of Challenge under the room's key.
	Signature string `json:"signature"`
}

// Solution is what a verified payload proves. The caller stores ID until
// ExpiresAt so the same solution never admits a second join.
type Solution struct {
	// ID is the challenge's hex hash: unique to one challenge.
	ID string
	// ExpiresAt is when the challenge expires; after it, Verify refuses the
	// payload on its own, so the single-use record may go then.
	ExpiresAt time.Time
}

// NewChallenge makes a challenge for room with a secret number drawn
// uniformly from [0, maxnumber], expiring TTL after now.
func NewChallenge(master []byte, room string, maxnumber int, now time.Time) (Challenge, error) {
	if len(master) < MinKeyBytes {
		return Challenge{}, fmt.Errorf("pow: master key is %d bytes, needs at least %d", len(master), MinKeyBytes)
	}
	if maxnumber < 1 || maxnumber > MaxNumber {
		return Challenge{}, fmt.Errorf("pow: maxnumber %d is outside 1–%d", maxnumber, MaxNumber)
	}
	raw := make([]byte, saltBytes)
	if _, err := rand.Read(raw); err != nil {
		return Challenge{}, fmt.Errorf("pow: salt: %w", err)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(maxnumber)+1))
	if err != nil {
		return Challenge{}, fmt.Errorf("pow: secret number: %w", err)
	}
	salt := hex.EncodeToString(raw) + expiresParam + strconv.FormatInt(now.Add(TTL).Unix(), 10)
	challenge := hashHex(salt, n.Int64())
	return Challenge{
		Algorithm: Algorithm,
		Challenge: challenge,
		MaxNumber: maxnumber,
		Salt:      salt,
		Signature: sign(master, room, challenge),
	}, nil
}

// Verify checks a join body's "pow" for room at now: base64 (standard or URL
// alphabet, padded or not) of the JSON {"algorithm","challenge","number",
// "salt","signature"}, decoded strictly. Every refusal wraps ErrInvalid; an
// unusable master key is a server fault and does not.
func Verify(master []byte, room, payload string, now time.Time) (Solution, error) {
	if len(master) < MinKeyBytes {
		return Solution{}, fmt.Errorf("pow: master key is %d bytes, needs at least %d", len(master), MinKeyBytes)
	}
	if len(payload) > maxPayloadBytes {
		return Solution{}, invalid("payload is %d bytes, more than %d", len(payload), maxPayloadBytes)
	}
	raw, err := decodeBase64(payload)
	if err != nil {
		return Solution{}, invalid("payload is not base64: %v", err)
	}
	p, err := decodePayload(raw)
	if err != nil {
		return Solution{}, invalid("payload: %v", err)
	}
	if p.algorithm != Algorithm {
		return Solution{}, invalid("algorithm %q is not %s", p.algorithm, Algorithm)
	}
	expires, err := saltExpiry(p.salt)
	if err != nil {
		return Solution{}, invalid("salt: %v", err)
	}
	if now.After(expires) {
		return Solution{}, invalid("challenge expired at %s", expires.UTC().Format(time.RFC3339))
	}
	if expires.After(now.Add(TTL + clockSkew)) {
		return Solution{}, invalid("salt expires at %s, later than any challenge issued", expires.UTC().Format(time.RFC3339))
	}
	if !isHex(p.challenge, sha256.Size) || !isHex(p.signature, sha256.Size) {
		return Solution{}, invalid("challenge and signature must be %d lowercase hex digits", 2*sha256.Size)
	}
	if p.number < 0 || p.number > MaxNumber {
		return Solution{}, invalid("number %d is outside 0–%d", p.number, MaxNumber)
	}
	if hashHex(p.salt, p.number) != p.challenge {
		return Solution{}, invalid("number does not solve the challenge")
	}
	// Last, and in constant time: the signature is the only secret-derived value.
	if !hmac.Equal([]byte(sign(master, room, p.challenge)), []byte(p.signature)) {
		return Solution{}, invalid("signature does not match (forged, or for another room)")
	}
	return Solution{ID: p.challenge, ExpiresAt: expires}, nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// roomKey derives the room's HMAC key (see the package doc).
func roomKey(master []byte, room string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("waitroom pow " + room))
	return m.Sum(nil)
}

func sign(master []byte, room, challenge string) string {
	m := hmac.New(sha256.New, roomKey(master, room))
	m.Write([]byte(challenge))
	return hex.EncodeToString(m.Sum(nil))
}

func hashHex(salt string, n int64) string {
	sum := sha256.Sum256([]byte(salt + strconv.FormatInt(n, 10)))
	return hex.EncodeToString(sum[:])
}

// isHex reports whether s is exactly n bytes in lowercase hex, the only
// spelling we issue.
func isHex(s string, n int) bool {
	if len(s) != 2*n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// saltExpiry parses a salt of exactly the shape NewChallenge issues:
// 2·saltBytes lowercase hex digits, "?expires=", a decimal without leading
// zeros. Anything else was not issued by us.
func saltExpiry(salt string) (time.Time, error) {
	random, exp, ok := strings.Cut(salt, expiresParam)
	if !ok {
		return time.Time{}, errors.New(`no "expires" parameter`)
	}
	if !isHex(random, saltBytes) {
		return time.Time{}, fmt.Errorf("random part must be %d lowercase hex digits", 2*saltBytes)
	}
	if exp == "" || len(exp) > 12 || (exp[0] == '0' && exp != "0") {
		return time.Time{}, fmt.Errorf("expires %q is not a plain unix time", exp)
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("expires %q is not a plain unix time", exp)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// decodeBase64 accepts the standard and the URL alphabet, with or without
// padding, but not a mix of the two, nor line breaks, which Go's decoder
// would otherwise skip.
func decodeBase64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	std, url := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '=':
		case c == '+' || c == '/':
			std = true
		case c == '-' || c == '_':
			url = true
		default:
			return nil, fmt.Errorf("byte %#x at %d is outside the base64 alphabets", c, i)
		}
	}
	if std && url {
		return nil, errors.New("mixes the standard and the URL alphabet")
	}
	enc := base64.StdEncoding
	if url {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.Strict().DecodeString(s)
}

type payload struct {
	algorithm, challenge, salt, signature string
	number                                int64
}

// decodePayload reads exactly one JSON object with exactly the five fields,
// each once, spelled exactly, with its own type (an integer number, not
// 1.0), and nothing after it: json v2 refuses the rest (encoding/json would
// let duplicate names, names in other letter cases and 1.0 through).
func decodePayload(b []byte) (payload, error) {
	var in struct {
		Algorithm *string `json:"algorithm"`
		Challenge *string `json:"challenge"`
		Number    *int64  `json:"number"`
		Salt      *string `json:"salt"`
		Signature *string `json:"signature"`
	}
	if err := json.Unmarshal(b, &in, json.RejectUnknownMembers(true)); err != nil {
		return payload{}, err
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{{"algorithm", in.Algorithm == nil}, {"challenge", in.Challenge == nil}, {"number", in.Number == nil},
		{"salt", in.Salt == nil}, {"signature", in.Signature == nil}} {
		if f.missing {
			return payload{}, fmt.Errorf("field %q is missing", f.name)
		}
	}
	return payload{algorithm: *in.Algorithm, challenge: *in.Challenge, number: *in.Number, salt: *in.Salt, signature: *in.Signature}, nil
}
