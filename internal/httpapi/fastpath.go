package httpapi

import (
	"strconv"
)

// The join and status answers of the opening second, written without
// reflection or net/http's cookie sanitising. Each falls back to the general
// path (ok false) for anything but the plain values a ticket, a room id and
// a number are, so the bytes are always those of the general path
// (TestTheFastPathsWriteWhatTheGeneralPathsWrite).

// plain reports whether s needs no escaping in a JSON string, a cookie value
// or a cookie name: letters, digits, '-', '_' and '.'.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ticketCookie is http.Cookie.String() of the ticket cookie setTicketCookie
// sets (Path=/, HttpOnly, SameSite=Lax).
func ticketCookie(room, ticket string, maxAge int, secure bool) (string, bool) {
	if !plain(room) || !plain(ticket) {
		return "", false
	}
	b := make([]byte, 0, 96)
	b = append(b, TicketCookie(room)...)
	b = append(b, '=')
	b = append(b, ticket...)
	b = append(b, "; Path=/"...)
	switch {
	case maxAge > 0:
		b = append(b, "; Max-Age="...)
		b = strconv.AppendInt(b, int64(maxAge), 10)
	case maxAge < 0:
		b = append(b, "; Max-Age=0"...)
	}
	b = append(b, "; HttpOnly"...)
	if secure {
		b = append(b, "; Secure"...)
	}
	b = append(b, "; SameSite=Lax"...)
	return string(b), true
}

// appendJSON appends what encoding/json's Encoder writes for b, newline
// included.
func (b waitingBody) appendJSON(dst []byte) ([]byte, bool) {
	if !plain(b.Ticket) || !plain(b.Room) || !plain(b.State) {
		return nil, false
	}
	dst = append(dst, `{"ticket":"`...)
	dst = append(dst, b.Ticket...)
	dst = append(dst, `","room":"`...)
	dst = append(dst, b.Room...)
	dst = append(dst, `","state":"`...)
	dst = append(dst, b.State...)
	dst = append(dst, `","position":`...)
	dst = strconv.AppendInt(dst, b.Position, 10)
	dst = append(dst, `,"ahead":`...)
	dst = strconv.AppendInt(dst, b.Ahead, 10)
	dst = append(dst, `,"waiting":`...)
	dst = strconv.AppendInt(dst, b.Waiting, 10)
	dst = append(dst, `,"eta_seconds":`...)
	if b.ETASeconds == nil {
		dst = append(dst, "null"...)
	} else {
		dst = strconv.AppendInt(dst, *b.ETASeconds, 10)
	}
	return append(dst, "}\n"...), true
}
