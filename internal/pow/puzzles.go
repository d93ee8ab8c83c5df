package pow

import "time"

// Puzzles makes and checks one deployment's join puzzles with its shared
// master key; it is what the waiting-room API calls.
type Puzzles struct {
	// Key is the master key every instance shares (see SharedKey).
	Key []byte
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (p *Puzzles) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// Challenge is a fresh challenge of size maxnumber for room. A room whose
// puzzle is off (maxnumber 0) still gets a valid, trivial challenge.
func (p *Puzzles) Challenge(room string, maxnumber int) (any, error) {
	return NewChallenge(p.Key, room, max(maxnumber, 1), p.now())
}

// Verify checks a solved payload for room; see the package's Verify.
func (p *Puzzles) Verify(room, payload string) (id string, expires time.Time, err error) {
	s, err := Verify(p.Key, room, payload, p.now())
	return s.ID, s.ExpiresAt, err
}

// Required is the puzzle size for an address that fetched recent challenges
// in the last minute, in a room of size base; see the package's Required.
func (p *Puzzles) Required(base int, recent int64) int { return Required(base, recent) }
