package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/queue"
)

func TestTheLongestRouteAcrossRoomsWinsOnTheCleanedPath(t *testing.T) {
	room := func(id string, routes ...string) queue.RoomConfig {
		c := queue.DefaultConfig(id)
		c.Routes = routes
		return queue.RoomConfig{Room: id, Config: c}
	}
	tb := newTable([]queue.RoomConfig{room("b", "/events/", "/_waitroom/x"), room("a", "/events/42/", "/checkout"), room("c", "/events/")}, "/_waitroom")
	for path, want := range map[string]string{
		"/events/42/seats": "a", "/events/41": "b", "/checkout": "a", "/checkout/pay": "a", "/checkoutx": "a",
		"/": "", "/shop": "", "//checkout": "a", "/x/../checkout": "a", "/./events/42/": "a", "/events/42": "b",
		"/_waitroom/x": "", // never one of waitroom's own
	} {
		require.Equal(t, want, tb.match(cleanPath(path)), path)
	}
}

func TestAReturnIsAPathOfThisHostOrNothing(t *testing.T) {
	for _, s := range []string{"/", "/shop/x?a=b&c=%2F", "/a#b"} {
		require.Equal(t, s, SameOriginPath(s), s)
	}
	for _, s := range []string{"", "shop", "//evil.example/x", `/\evil.example`, "/\t/evil.example", "/a b", "https://evil.example/",
		"/" + string(make([]byte, maxReturnLen))} {
		require.Empty(t, SameOriginPath(s), "%q", s)
	}
	require.Equal(t, "/_waitroom/rooms/shop?return=%2Fshop%2Fx%3Fa%3Db", WaitingPage("/_waitroom", "shop", "/shop/x?a=b"))
	require.Equal(t, "/_waitroom/rooms/shop", WaitingPage("/_waitroom", "shop", "//evil.example"))
}

func TestTheClientsWaitroomHeadersAndCookiesNeverReachTheSite(t *testing.T) {
	h := http.Header{"X-Waitroom-Sub": {"f"}, "X_waitroom_room": {"f"}, "X-WAITROOM-EXPIRES": {"f"}, "X-Waitroomish": {"kept"}, "Accept": {"kept"}}
	StripWaitroomHeaders(h)
	require.Equal(t, http.Header{"X-Waitroomish": {"kept"}, "Accept": {"kept"}}, h)

	h = http.Header{"Cookie": {"a=1; wr_shop=ticket; wr_entry_shop=tok", "wr_x_y=kept; b=2"}}
	stripWaitroomCookies(h)
	require.Equal(t, []string{"a=1; wr_x_y=kept; b=2"}, h["Cookie"])
	h = http.Header{"Cookie": {"wr_shop=ticket"}}
	stripWaitroomCookies(h)
	require.NotContains(t, h, "Cookie")
	h = http.Header{"Cookie": {" ; wr_shop =ticket;;a=1 ;wr_entry_shop=tok", "b=2"}} // net/http reads the name "wr_shop"
	stripWaitroomCookies(h)
	require.Equal(t, []string{"a=1; b=2"}, h["Cookie"])
}

func TestAPageLoadIsAGETThatAcceptsHTML(t *testing.T) {
	html := http.Header{"Accept": {"text/html,application/xhtml+xml"}}
	require.True(t, Navigation(http.MethodGet, html))
	require.False(t, Navigation(http.MethodPost, html))
	require.False(t, Navigation(http.MethodHead, html))
	require.False(t, Navigation(http.MethodGet, http.Header{"Accept": {"application/json"}}))
	require.False(t, Navigation(http.MethodGet, http.Header{}))
}

func TestTheEntryCookieIsReadAsNetHTTPReadsIt(t *testing.T) {
	for _, lines := range [][]string{
		nil, {""}, {"wr_entry_shop=tok"}, {"a=1; wr_entry_shop=tok; b=2"}, {" wr_entry_shop = tok ;"}, {`wr_entry_shop="tok"`},
		{`wr_entry_shop="tok`}, {"wr_entry_shop=t\\ok; wr_entry_shop=second"}, {"wr_entry_shop=; wr_entry_shop=second"},
		{"wr_entry_shopx=no; wr_entry_sho=no"}, {"wr_shop=ticket"}, {"x=1", "wr_entry_shop=in-the-second-line"}, {";;wr_entry_shop=a=b"},
		{"wr_entry_shop=t\tok"}, {"WR_ENTRY_SHOP=case"},
	} {
		r := &http.Request{Header: http.Header{"Cookie": lines}}
		want := ""
		if ck, err := r.Cookie(EntryCookie("shop")); err == nil {
			want = ck.Value
		}
		require.Equal(t, want, entryCookie(r.Header, "shop"), "%q", lines)
	}
}

func FuzzEntryCookie(f *testing.F) {
	f.Add("a=1; wr_entry_shop=tok; b=2")
	f.Add(`wr_entry_shop="tok"; wr_entry_shop=second`)
	f.Fuzz(func(t *testing.T, line string) {
		r := &http.Request{Header: http.Header{"Cookie": {line}}}
		want := ""
		if ck, err := r.Cookie(EntryCookie("shop")); err == nil {
			want = ck.Value
		}
		if strings.Count(line, ";") >= 3000 {
			return // net/http reads no cookie of a line of more than 3000
		}
		require.Equal(t, want, entryCookie(r.Header, "shop"), "%q", line)
	})
}
