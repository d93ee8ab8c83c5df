package pow_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pow"
	"github.com/waitroom/waitroom/internal/testproc"
)

// now is the tests' clock: whole seconds, as the salt's expiry is.
var now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// bundle is a master key, a room and a challenge for it with its solution.
type bundle struct {
	master []byte
	room   string
	ch     pow.Challenge
	number int64
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{master: []byte("0123456789abcdef0123456789abcdef"), room: "concert"}
	b.ch, b.number = b.solved(t, 5000)
	return b
}

// solved makes a challenge and finds its number by brute force, as a
// browser would.
func (b *bundle) solved(t *testing.T, maxnumber int) (pow.Challenge, int64) {
	t.Helper()
	ch, err := pow.NewChallenge(b.master, b.room, maxnumber, now)
	require.NoError(t, err)
	return ch, solve(t, ch)
}

func solve(t testing.TB, ch pow.Challenge) int64 {
	t.Helper()
	n := testproc.PowNumber(ch)
	if n < 0 {
		t.Fatalf("no number in 0–%d solves %+v", ch.MaxNumber, ch)
	}
	return int64(n)
}

// fields is the ALTCHA payload as a map, so a test can break any part of it.
func fields(ch pow.Challenge, n int64) map[string]any {
	return map[string]any{"algorithm": ch.Algorithm, "challenge": ch.Challenge, "number": n, "salt": ch.Salt, "signature": ch.Signature}
}

func encode(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAChallengeHasTheALTCHAShapeAndTheRoomsSignature(t *testing.T) {
	b := setup(t)
	require.Equal(t, "SHA-256", b.ch.Algorithm)
	require.Equal(t, 5000, b.ch.MaxNumber)
	require.Regexp(t, `^[0-9a-f]{24}\?expires=\d+$`, b.ch.Salt)
	require.True(t, strings.HasSuffix(b.ch.Salt, "?expires="+strconv.FormatInt(now.Add(5*time.Minute).Unix(), 10)),
		"expires 5 minutes after now")
	require.Regexp(t, `^[0-9a-f]{64}$`, b.ch.Challenge)

	// The documented derivation: HMAC(HMAC(master, "waitroom pow "+room), challenge).
	rk := hmac.New(sha256.New, b.master)
	rk.Write([]byte("waitroom pow " + b.room))
	sig := hmac.New(sha256.New, rk.Sum(nil))
	sig.Write([]byte(b.ch.Challenge))
	require.Equal(t, hex.EncodeToString(sig.Sum(nil)), b.ch.Signature)

	js, err := json.Marshal(b.ch)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(js, &m))
	require.ElementsMatch(t, []string{"algorithm", "challenge", "maxnumber", "salt", "signature"}, keysOf(m))
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestTheSecretNumberCoversZeroThroughMaxnumber(t *testing.T) {
	b := setup(t)
	seen := map[int64]bool{}
	salts := map[string]bool{}
	for range 200 {
		ch, n := b.solved(t, 3)
		seen[n] = true
		require.False(t, salts[ch.Salt], "every salt is fresh")
		salts[ch.Salt] = true
	}
	require.Equal(t, map[int64]bool{0: true, 1: true, 2: true, 3: true}, seen)
}

func TestNewChallengeRefusesAShortKeyAndAnOutOfRangeMaxnumber(t *testing.T) {
	b := setup(t)
	_, err := pow.NewChallenge(b.master[:31], b.room, 1000, now)
	require.ErrorContains(t, err, "at least 32")
	for _, n := range []int{0, -1, pow.MaxNumber + 1} {
		_, err := pow.NewChallenge(b.master, b.room, n, now)
		require.Error(t, err, "maxnumber %d", n)
	}
	_, err = pow.NewChallenge(b.master, b.room, pow.MaxNumber, now)
	require.NoError(t, err)
}

func TestASolvedChallengeVerifiesInEveryBase64Spelling(t *testing.T) {
	b := setup(t)
	js, err := json.Marshal(fields(b.ch, b.number))
	require.NoError(t, err)
	for name, enc := range map[string]*base64.Encoding{
		"std": base64.StdEncoding, "std raw": base64.RawStdEncoding,
		"url": base64.URLEncoding, "url raw": base64.RawURLEncoding,
	} {
		sol, err := pow.Verify(b.master, b.room, enc.EncodeToString(js), now)
		require.NoError(t, err, name)
		require.Equal(t, pow.Solution{ID: b.ch.Challenge, ExpiresAt: now.Add(pow.TTL)}, sol, name)
	}
	// Still good in the last second of its life.
	_, err = pow.Verify(b.master, b.room, encode(t, fields(b.ch, b.number)), now.Add(pow.TTL))
	require.NoError(t, err)
}

func TestBadPayloadsAreInvalid(t *testing.T) {
	b := setup(t)
	other, otherN := b.solved(t, 5000)
	good := fields(b.ch, b.number)
	with := func(k string, v any) string {
		m := fields(b.ch, b.number)
		m[k] = v
		return encode(t, m)
	}
	without := func(k string) string {
		m := fields(b.ch, b.number)
		delete(m, k)
		return encode(t, m)
	}
	goodJSON, err := json.Marshal(good)
	require.NoError(t, err)
	goodB64 := base64.StdEncoding.EncodeToString(goodJSON)
	obj := strings.TrimSuffix(string(goodJSON), "}")

	// The ALTCHA splice: the salt ends in digits and the number is digits, so
	// moving the number's first digit into the salt keeps salt+number, and so
	// the hash and the signature, while multiplying expires by ten.
	shifted, shiftedN := b.ch, b.number
	for shiftedN < 10 || strconv.FormatInt(shiftedN, 10)[1] == '0' {
		shifted, shiftedN = b.solved(t, 5000)
	}
	digits := strconv.FormatInt(shiftedN, 10)
	rest, _ := strconv.ParseInt(digits[1:], 10, 64)
	spliceExpiry := fields(shifted, rest)
	spliceExpiry["salt"] = shifted.Salt + digits[:1]

	later := fields(b.ch, b.number)
	exp := now.Add(pow.TTL).Unix()
	later["salt"] = strings.Replace(b.ch.Salt, strconv.FormatInt(exp, 10), strconv.FormatInt(exp+3600, 10), 1)

	spliced := fields(b.ch, b.number)
	spliced["signature"] = other.Signature
	otherWithMySig := fields(other, otherN)
	otherWithMySig["signature"] = b.ch.Signature

	flipped := []byte(b.ch.Signature)
	flipped[0] ^= 1

	huge := base64.StdEncoding.EncodeToString([]byte(obj + strings.Repeat(" ", 1024) + "}"))

	cases := []struct {
		name, payload string
		room          string
		at            time.Time
	}{
		{name: "empty", payload: ""},
		{name: "not base64", payload: "%%% not base64 %%%"},
		{name: "base64 with a line break", payload: goodB64[:20] + "\n" + goodB64[20:]},
		{name: "mixed base64 alphabets", payload: "+" + strings.Repeat("A", 2) + "_"},
		{name: "not JSON", payload: b64("hello")},
		{name: "a JSON array", payload: b64(`["SHA-256"]`)},
		{name: "unknown field", payload: b64(obj + `,"extra":1}`)},
		{name: "field in other letter case", payload: with("Number", b.number)},
		{name: "duplicate field", payload: b64(obj + `,"number":` + strconv.FormatInt(b.number+1, 10) + `}`)},
		{name: "number as a string", payload: with("number", strconv.FormatInt(b.number, 10))},
		{name: "number with a fraction", payload: b64(strings.Replace(string(goodJSON), `"number":`+strconv.FormatInt(b.number, 10), `"number":`+strconv.FormatInt(b.number, 10)+`.0`, 1))},
		{name: "negative number", payload: with("number", -1)},
		{name: "salt as an object", payload: with("salt", map[string]string{"a": "b"})},
		{name: "trailing data", payload: b64(string(goodJSON) + `{}`)},
		{name: "missing signature", payload: without("signature")},
		{name: "missing number", payload: without("number")},
		{name: "wrong number", payload: with("number", b.number+1)},
		{name: "wrong signature", payload: with("signature", string(flipped))},
		{name: "uppercase signature", payload: with("signature", strings.ToUpper(b.ch.Signature))},
		{name: "spliced: my challenge, another's signature", payload: encode(t, spliced)},
		{name: "spliced: another's challenge, my signature", payload: encode(t, otherWithMySig)},
		{name: "salt edited to extend expires", payload: encode(t, later)},
		{name: "a digit of the number moved into expires", payload: encode(t, spliceExpiry)},
		{name: "salt without expires", payload: with("salt", strings.Split(b.ch.Salt, "?")[0])},
		{name: "expired", payload: goodB64, at: now.Add(pow.TTL + time.Second)},
		{name: "other room", payload: goodB64, room: "theatre"},
		{name: "algorithm SHA-1", payload: with("algorithm", "SHA-1")},
		{name: "algorithm in lower case", payload: with("algorithm", "sha-256")},
		{name: "huge payload", payload: huge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			room, at := b.room, now
			if c.room != "" {
				room = c.room
			}
			if !c.at.IsZero() {
				at = c.at
			}
			_, err := pow.Verify(b.master, room, c.payload, at)
			require.ErrorIs(t, err, pow.ErrInvalid)
		})
	}
	// Sanity: the splice does keep the hash, so only the expiry bound refuses it.
	require.Equal(t, shifted.Salt+digits, spliceExpiry["salt"].(string)+strconv.FormatInt(rest, 10))
	// And the huge payload is refused for its size, not its content.
	_, err = pow.Verify(b.master, b.room, huge, now)
	require.ErrorContains(t, err, "bytes")
}

func TestVerifyWithAShortKeyIsAServerFaultNotTheVisitors(t *testing.T) {
	b := setup(t)
	_, err := pow.Verify(b.master[:16], b.room, encode(t, fields(b.ch, b.number)), now)
	require.Error(t, err)
	require.NotErrorIs(t, err, pow.ErrInvalid)
}

func TestRequiredDoublesForEachFurtherTenJoinsUpToTenMillion(t *testing.T) {
	for _, c := range []struct {
		base   int
		recent int64
		want   int
	}{
		{0, 0, 0},
		{0, 500, 0},
		{-5, 0, 0},
		{50_000, -1, 50_000},
		{50_000, 0, 50_000},
		{50_000, 9, 50_000},
		{50_000, 10, 100_000},
		{50_000, 19, 100_000},
		{50_000, 20, 200_000},
		{50_000, 50, 1_600_000},
		{50_000, 70, 6_400_000},
		{50_000, 80, 10_000_000},
		{50_000, 1_000, 10_000_000},
		{1, 1 << 62, 10_000_000},
		{10_000_000, 0, 10_000_000},
		{20_000_000, 0, 10_000_000},
		{1_000, 99, 512_000},
		{1_000, 100, 1_024_000},
	} {
		require.Equal(t, c.want, pow.Required(c.base, c.recent), fmt.Sprintf("Required(%d, %d)", c.base, c.recent))
	}
}

// A payload is short enough for any join body (docs/API.md caps bodies at 8 KiB).
func TestAPayloadIsSmall(t *testing.T) {
	b := setup(t)
	p := encode(t, fields(b.ch, b.number))
	require.Less(t, len(p), 400)
	require.True(t, regexp.MustCompile(`^[A-Za-z0-9+/=]+$`).MatchString(p))
}

// BenchmarkNativeSolve is what an attacker's plain Go solver (one core, no
// GPU) spends per puzzle: compare with the browser's figures in
// docs/BENCHMARKS.md.
func BenchmarkNativeSolve(b *testing.B) {
	master := []byte("0123456789abcdef0123456789abcdef")
	var hashes int64
	for b.Loop() {
		ch, err := pow.NewChallenge(master, "concert", 50_000, now)
		if err != nil {
			b.Fatal(err)
		}
		hashes += solve(b, ch) + 1
	}
	b.ReportMetric(float64(hashes)/b.Elapsed().Seconds(), "hashes/s")
}
