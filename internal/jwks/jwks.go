// Package jwks reads JSON Web Key Sets (RFC 7517): it turns a set's signing
// keys into crypto public keys by kid, and keeps a fetched set cached with
// bounded refetching. The entry-token verifier and the user-token verifier
// share it.
package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
)

// The JWS algorithms a Key can serve: one per key type, so a key never
// verifies under an algorithm it was not made for.
const (
	RS256 = "RS256" // kty RSA, at least 2048 bits
	ES256 = "ES256" // kty EC, crv P-256
	EdDSA = "EdDSA" // kty OKP, crv Ed25519
)

// Algorithms lists every algorithm this package knows, the default of
// Parse and Options.Algorithms.
var Algorithms = []string{RS256, ES256, EdDSA}

// minRSABits refuses keys that are too weak to trust for a signature.
const minRSABits = 2048

// Key is one usable public signing key of a set.
type Key struct {
	// ID is the JWK's kid, or its RFC 7638 thumbprint when it has none.
	ID string
	// Algorithm is the one algorithm the key verifies: RS256, ES256 or EdDSA.
	Algorithm string
	// Public is *rsa.PublicKey (RS256), *ecdsa.PublicKey on P-256 (ES256) or
	// ed25519.PublicKey (EdDSA).
	Public crypto.PublicKey
}

// Set is a parsed key set: its usable keys by kid and algorithm. RFC 7517
// lets keys of different types share a kid, so a lookup names both.
type Set struct {
	keys map[lookup]Key
}

type lookup struct{ kid, alg string }

// Lookup returns the key with this kid that verifies alg.
func (s *Set) Lookup(kid, alg string) (Key, bool) {
	if s == nil {
		return Key{}, false
	}
	k, ok := s.keys[lookup{kid, alg}]
	return k, ok
}

// Len returns the number of usable keys.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// jwk holds the members of a JWK that this package reads (RFC 7517 §4,
// RFC 7518 §6, RFC 8037 §2).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// Parse reads a JWK set and keeps the keys that verify one of algorithms
// (default: all of Algorithms). Keys it cannot use (other types, curves or
// algorithms, `use` other than "sig", weak or malformed) are skipped, not
// errors, since a set may carry keys for other consumers; when two usable
// keys share kid and algorithm, the later one wins. Only a body that is not
// a JWK set is an error.
func Parse(data []byte, algorithms ...string) (*Set, error) {
	if len(algorithms) == 0 {
		algorithms = Algorithms
	}
	var raw struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("jwks: decode JWK set: %w", err)
	}
	set := &Set{keys: make(map[lookup]Key, len(raw.Keys))}
	for _, j := range raw.Keys {
		k, ok := j.key()
		if !ok || !slices.Contains(algorithms, k.Algorithm) {
			continue
		}
		set.keys[lookup{k.ID, k.Algorithm}] = k
	}
	return set, nil
}

// key returns the Key a JWK describes, and false when it is not usable.
func (j jwk) key() (Key, bool) {
	if j.Use != "" && j.Use != "sig" {
		return Key{}, false
	}
	var k Key
	var ok bool
	switch j.Kty {
	case "RSA":
		k, ok = j.rsaKey()
	case "EC":
		k, ok = j.ecKey()
	case "OKP":
		k, ok = j.okpKey()
	}
	// A JWK that names an algorithm may serve only that one.
	if !ok || (j.Alg != "" && j.Alg != k.Algorithm) {
		return Key{}, false
	}
	k.ID = j.Kid
	if k.ID == "" {
		k.ID = Thumbprint(k.Public)
	}
	return k, true
}

func (j jwk) rsaKey() (Key, bool) {
	n, err := decode(j.N)
	if err != nil {
		return Key{}, false
	}
	e, err := decode(j.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return Key{}, false
	}
	modulus := new(big.Int).SetBytes(n)
	exponent := int(new(big.Int).SetBytes(e).Int64())
	// crypto/rsa takes odd exponents up to 2^31-1.
	if modulus.BitLen() < minRSABits || exponent < 3 || exponent > 1<<31-1 || exponent%2 == 0 {
		return Key{}, false
	}
	return Key{Algorithm: RS256, Public: &rsa.PublicKey{N: modulus, E: exponent}}, true
}

func (j jwk) ecKey() (Key, bool) {
	if j.Crv != "P-256" {
		return Key{}, false
	}
	x, errX := decode(j.X)
	y, errY := decode(j.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return Key{}, false
	}
	// Refuses points off the curve, which could leak nothing here but would
	// make verification meaningless.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return Key{}, false
	}
	return Key{Algorithm: ES256, Public: pub}, true
}

func (j jwk) okpKey() (Key, bool) {
	if j.Crv != "Ed25519" {
		return Key{}, false
	}
	x, err := decode(j.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return Key{}, false
	}
	return Key{Algorithm: EdDSA, Public: ed25519.PublicKey(x)}, true
}

// Thumbprint returns the RFC 7638 JWK thumbprint (SHA-256, base64url
// without padding) of an *rsa.PublicKey, a P-256 *ecdsa.PublicKey or an
// ed25519.PublicKey, and "" for any other key.
func Thumbprint(pub crypto.PublicKey) string {
	// RFC 7638 §3.2: the required members only, in lexicographic order, no
	// whitespace. Written by hand because the member order is part of the hash.
	var canonical string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		e := big.NewInt(int64(k.E)).Bytes()
		canonical = `{"e":"` + b64(e) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return ""
		}
		raw, err := k.Bytes() // 0x04 || x || y
		if err != nil {
			return ""
		}
		canonical = `{"crv":"P-256","kty":"EC","x":"` + b64(raw[1:33]) + `","y":"` + b64(raw[33:]) + `"}`
	case ed25519.PublicKey:
		canonical = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(k) + `"}`
	default:
		return ""
	}
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

func decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
