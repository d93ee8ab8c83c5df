package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTheFastPathsWriteWhatTheGeneralPathsWrite(t *testing.T) {
	eta := int64(42)
	for _, b := range []waitingBody{
		{Ticket: "AbC-_09xyzAbC-_09xyzAb", Room: "sale-1", State: "waiting", Position: 1, Ahead: 0, Waiting: 1},
		{Ticket: "t", Room: "r", State: "waiting", Position: 123456789, Ahead: 123456788, Waiting: 200000000, ETASeconds: &eta},
	} {
		var want bytes.Buffer
		require.NoError(t, json.NewEncoder(&want).Encode(b))
		got, ok := b.appendJSON(nil)
		require.True(t, ok)
		require.Equal(t, want.String(), string(got))
	}
	_, ok := waitingBody{Ticket: `a"b`, Room: "r", State: "waiting"}.appendJSON(nil)
	require.False(t, ok, "a value that needs escaping takes the general path")

	for _, maxAge := range []int{86400, -1} {
		for _, secure := range []bool{false, true} {
			want := (&http.Cookie{Name: TicketCookie("sale-1"), Value: "AbC-_09xyzAbC-_09xyzAb", Path: "/", MaxAge: maxAge,
				HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}).String()
			got, ok := ticketCookie("sale-1", "AbC-_09xyzAbC-_09xyzAb", maxAge, secure)
			require.True(t, ok)
			require.Equal(t, want, got)
		}
	}
	_, ok = ticketCookie("r", "a;b", 1, false)
	require.False(t, ok)
}
