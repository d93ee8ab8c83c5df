package queue

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"regexp"
)

// TicketLen is the length of a ticket: 16 random bytes (128 bits) in
// unpadded URL-safe base64.
const TicketLen = 22

var ticketPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// ValidTicket reports whether s has the shape of a ticket. A well-formed
// ticket may still be unknown; a malformed one never reaches Redis.
func ValidTicket(s string) bool { return ticketPattern.MatchString(s) }

// NewTicket returns a fresh unguessable ticket.
func NewTicket() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux; it panics rather than return short
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// shuffleKey is the pre-queue's random sort key: 53 random bits, exact as a
// zset score. Ordering the pre-queue by independent uniform keys gives a
// uniformly random permutation (ties, about one in 2^53 per pair, fall back
// to the ticket's own random bytes).
func shuffleKey() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 11
}

// newJoinIDs draws what a join needs, a new ticket, a shuffle key and an
// admission id (as NewTicket, shuffleKey and NewAdmissionID), from one
// random read: the opening second runs thousands of joins a second.
func newJoinIDs() (ticket string, shuffle uint64, aid string) {
	var b [40]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:16]), binary.LittleEndian.Uint64(b[16:24]) >> 11,
		base64.RawURLEncoding.EncodeToString(b[24:])
}

// maxAdmissionIDLen bounds an admission id read from a token before Redis
// is asked.
const maxAdmissionIDLen = 64

// NewAdmissionID returns a fresh opaque admission id: 128 random bits, as
// unguessable as a ticket but never usable as one.
func NewAdmissionID() string { return NewTicket() }

// admissionIDPrefix is a tick's fresh random prefix of admission ids: the
// script appends each admission's index, so one tick admits many with one
// random draw.
func admissionIDPrefix() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]) + "."
}
