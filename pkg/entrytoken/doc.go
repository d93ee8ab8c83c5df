// Package entrytoken issues and checks entry tokens: Ed25519-signed JWTs
// (alg EdDSA, header kid = RFC 7638 thumbprint of the key) that waitroom hands
// a visitor on admission and the booking API requires on every call.
//
// A protected site imports it to let only admitted visitors in:
//
//	v, err := entrytoken.NewVerifier(entrytoken.VerifierOptions{
//		JWKSURL: "https://wait.example.com/.well-known/jwks.json",
//	})
//	claims, err := v.Verify(ctx, token, "concert") // errors.Is(err, entrytoken.ErrWrongRoom), …
//
// A site that checks many requests of the same visitor puts a Cache in front
// (NewCache), which spares the signature check for a minute. BearerToken
// reads the token of an Authorization header. On echo, package echoentry
// (pkg/entrytoken/echoentry) has the middleware; this package imports no web
// framework. See Example.
//
// The Signer signs with the current key and publishes it, with the previous
// keys, as a JWKS. The Verifier fetches that JWKS, caches the keys and
// accepts a token only if its signature, algorithm, issuer, audience, room and
// validity window all check (see docs/API.md, "Entry token").
package entrytoken
