package entrytoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
)

// LoadPrivateKey reads an Ed25519 private key from a PKCS #8 PEM file (a
// "PRIVATE KEY" block, as written by scripts/gen-signing-key.sh or
// `openssl genpkey -algorithm ed25519`).
//
// A missing file gives an error that wraps fs.ErrNotExist; a file that is not
// PEM, holds another block type or holds a key of another algorithm gives an
// error that says so.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("entrytoken: read signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("entrytoken: signing key %s is not a PEM file", path)
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("entrytoken: signing key %s holds a %q PEM block, want \"PRIVATE KEY\" (PKCS #8)", path, block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("entrytoken: signing key %s: parse PKCS #8: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("entrytoken: signing key %s is a %T, want an Ed25519 key", path, key)
	}
	return priv, nil
}

// GenerateKey returns a new random Ed25519 private key. Standalone mode uses
// it when no WAITROOM_SIGNING_KEY is given; the key lives only in memory.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("entrytoken: generate key: %w", err)
	}
	return priv, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of pub (SHA-256, base64url
// without padding). It is the key's `kid`, so any party can recompute it from
// the key alone.
func Thumbprint(pub ed25519.PublicKey) string {
	// RFC 7638 §3.2: the required members only, in lexicographic order, no
	// whitespace. Written by hand because the member order is part of the hash.
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

// JWK is one public key of a JWKS (RFC 7517, RFC 8037 for OKP keys).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// JWKS is a JSON Web Key Set (RFC 7517 §5), the body of
// GET /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// newJWK describes an Ed25519 public key as a signing JWK whose kid is its
// Thumbprint.
func newJWK(pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: b64(pub), Kid: Thumbprint(pub), Alg: "EdDSA", Use: "sig"}
}

// PublicJWKS returns the JSON of a JWKS that lists keys in the given order.
func PublicJWKS(keys ...ed25519.PublicKey) []byte {
	set := JWKS{Keys: make([]JWK, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, newJWK(k))
	}
	out, err := json.Marshal(set)
	if err != nil {
		// Only strings are marshalled; this cannot fail.
		panic("entrytoken: marshal JWKS: " + err.Error())
	}
	return out
}

// ed25519Key returns the public key a JWK describes, and false when the JWK is
// not a usable Ed25519 signing key (other key types are skipped, not errors,
// so a JWKS may also carry keys for other consumers).
func (k JWK) ed25519Key() (ed25519.PublicKey, bool) {
	if k.Kty != "OKP" || k.Crv != "Ed25519" {
		return nil, false
	}
	if k.Alg != "" && k.Alg != "EdDSA" {
		return nil, false
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, false
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(x), true
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
