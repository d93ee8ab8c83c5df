package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/web"
)

func TestThePagesSpeakOneLanguagePerFileEnglishFirst(t *testing.T) {
	require.Equal(t, []string{"en", "ko"}, web.Languages())
}

func TestAPagesLanguageComesFromLangThenTheCookieThenAcceptLanguage(t *testing.T) {
	for _, c := range []struct {
		name, query, cookie, accept, want string
	}{
		{"nothing asked", "", "", "", "en"},
		{"a Korean browser", "", "", "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"},
		{"weights, not order", "", "", "en;q=0.3, ko;q=0.8", "ko"},
		{"q=0 is a no", "", "", "ko;q=0, en", "en"},
		{"languages we lack are passed over", "", "", "fr-FR, de;q=0.9, ko;q=0.5", "ko"},
		{"only languages we lack", "", "", "fr, de", "en"},
		{"a bad weight drops its entry", "", "", "ko;q=abc, en;q=0.1", "en"},
		{"the cookie beats the header", "", "ko", "en", "ko"},
		{"a cookie for a language we lack is ignored", "", "xx", "ko", "ko"},
		{"?lang= beats both", "en", "ko", "ko", "en"},
		{"an unknown ?lang= is ignored", "xx", "", "ko", "ko"},
		{"?lang= is matched exactly", "KO", "", "", "en"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/rooms/demo", nil)
			if c.query != "" {
				r.URL.RawQuery = "lang=" + c.query
			}
			if c.cookie != "" {
				r.AddCookie(&http.Cookie{Name: web.LangCookie, Value: c.cookie})
			}
			if c.accept != "" {
				r.Header.Set("Accept-Language", c.accept)
			}
			got, _ := web.Language(r)
			require.Equal(t, c.want, got)
		})
	}
}

func TestAPageCarriesItsLanguageAndRemembersAChoice(t *testing.T) {
	for _, name := range []string{web.RoomPage, web.BookingPage, web.AdminPage} {
		r := httptest.NewRequest(http.MethodGet, "/rooms/demo?lang=ko", nil)
		w := httptest.NewRecorder()
		b, err := web.Page(w, r, name)
		require.NoError(t, err)
		require.True(t, strings.Contains(string(b), `<html lang="ko" data-languages="en ko">`), name)
		require.Equal(t, "Accept-Language, Cookie", w.Header().Get("Vary"))
		cookie := w.Result().Cookies()
		require.Len(t, cookie, 1)
		require.Equal(t, web.LangCookie, cookie[0].Name)
		require.Equal(t, "ko", cookie[0].Value)
		require.True(t, cookie[0].HttpOnly)
		require.Equal(t, "/", cookie[0].Path)
	}
	// Without ?lang= nothing is set: Accept-Language alone is not a choice to remember.
	r := httptest.NewRequest(http.MethodGet, "/rooms/demo", nil)
	r.Header.Set("Accept-Language", "ko")
	w := httptest.NewRecorder()
	b, err := web.Page(w, r, web.RoomPage)
	require.NoError(t, err)
	require.Contains(t, string(b), `<html lang="ko"`)
	require.Empty(t, w.Result().Cookies())
}
