package testproc

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/waitroom/waitroom/internal/pow"
)

// PowNumber is the number that solves a proof-of-work challenge, found by
// brute force as a browser finds it; -1 when no number in its range does.
func PowNumber(ch pow.Challenge) int {
	for n := 0; n <= ch.MaxNumber; n++ {
		sum := sha256.Sum256([]byte(ch.Salt + strconv.Itoa(n)))
		if hex.EncodeToString(sum[:]) == ch.Challenge {
			return n
		}
	}
	return -1
}
