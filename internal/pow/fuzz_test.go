package pow_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/waitroom/waitroom/internal/pow"
)

// FuzzVerify feeds arbitrary bytes to Verify, as they are and base64-encoded
// (so the fuzzer can shape the JSON inside): none may panic, every refusal
// is ErrInvalid, and the only thing ever accepted is the one solved challenge.
func FuzzVerify(f *testing.F) {
	// The challenge is built by hand, not by NewChallenge: each fuzz worker
	// process runs this setup, and all must agree on the one valid payload.
	master := []byte("0123456789abcdef0123456789abcdef")
	salt := "00112233445566778899aabb?expires=" + strconv.FormatInt(now.Add(pow.TTL).Unix(), 10)
	sum := sha256.Sum256([]byte(salt + "148"))
	challenge := hex.EncodeToString(sum[:])
	rk := hmac.New(sha256.New, master)
	rk.Write([]byte("waitroom pow concert"))
	sig := hmac.New(sha256.New, rk.Sum(nil))
	sig.Write([]byte(challenge))
	good, err := json.Marshal(map[string]any{"algorithm": "SHA-256", "challenge": challenge, "number": 148, "salt": salt, "signature": hex.EncodeToString(sig.Sum(nil))})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := pow.Verify(master, "concert", base64.StdEncoding.EncodeToString(good), now); err != nil {
		f.Fatalf("the hand-made solution does not verify: %v", err)
	}
	for _, seed := range [][]byte{
		good,
		[]byte(base64.StdEncoding.EncodeToString(good)),
		[]byte(`{"algorithm":"SHA-256","challenge":"","number":0,"salt":"","signature":""}`),
		[]byte(`{"number":1e999}`),
		[]byte(`{"number":-0,"number":0}`),
		[]byte(""),
		[]byte("null"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, payload := range []string{string(in), base64.RawURLEncoding.EncodeToString(in)} {
			sol, err := pow.Verify(master, "concert", payload, now)
			if err == nil {
				if sol.ID != challenge || !sol.ExpiresAt.Equal(now.Add(pow.TTL)) {
					t.Fatalf("accepted %q as %+v, which was never issued", payload, sol)
				}
				continue
			}
			if !errors.Is(err, pow.ErrInvalid) {
				t.Fatalf("refusal outside ErrInvalid: %v", err)
			}
		}
	})
}
