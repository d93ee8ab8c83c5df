package pow

import "errors"

// ErrInvalid: a proof-of-work payload is malformed, wrong, expired or for
// another room. API code pow_invalid (403).
var ErrInvalid = errors.New("invalid proof of work")
