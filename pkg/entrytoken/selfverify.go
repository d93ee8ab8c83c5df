package entrytoken

import "context"

// Verifier returns a Verifier of the tokens this Signer signs: its own keys
// and its own iss and aud, with no JWKS fetch. For a waitroom process that
// checks its own entry tokens (POST /api/rooms/{room}/arrive).
func (s *Signer) Verifier() (*Verifier, error) {
	jwks := s.jwks
	return NewVerifier(VerifierOptions{
		FetchJWKS: func(context.Context) ([]byte, error) { return jwks, nil },
		Issuer:    s.opt.Issuer,
		Audience:  s.opt.Audience,
		Now:       s.opt.Now,
	})
}
