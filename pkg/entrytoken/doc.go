// Package entrytoken issues and checks entry tokens: Ed25519-signed JWTs
// (alg EdDSA, header kid = RFC 7638 thumbprint of the key) that waitroom hands
// a visitor on admission and the booking API requires on every call.
//
// The Signer signs with the current key and publishes it, with the previous
// keys, as a JWKS. The Verifier fetches that JWKS, caches the keys and
// accepts a token only if its signature, algorithm, issuer, audience, room and
// validity window all check (see docs/API.md, "Entry token").
package entrytoken
