package web

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// LangCookie remembers a visitor's ?lang= choice for a year.
const LangCookie = "wr_lang"

// DefaultLanguage is the language of a visitor who asks for none we have.
const DefaultLanguage = "en"

// htmlTag is how every page's root element starts in the source; Page
// rewrites it.
const htmlTag = `<html lang="en">`

var (
	languagesOnce sync.Once
	languages     []string
	langTagRE     = regexp.MustCompile(`^[a-z]{2,3}$`)
)

// Languages are the languages the pages speak: one file each,
// static/i18n/<tag>.js, so adding a language is adding a file. English
// comes first, the others in order.
func Languages() []string {
	languagesOnce.Do(func() {
		names, _ := fs.Glob(Static, "static/i18n/*.js")
		for _, n := range names {
			tag := strings.TrimSuffix(path.Base(n), ".js")
			if langTagRE.MatchString(tag) && tag != DefaultLanguage {
				languages = append(languages, tag)
			}
		}
		sort.Strings(languages)
		languages = append([]string{DefaultLanguage}, languages...)
	})
	return slices.Clone(languages)
}

// Language picks the page language for r: a ?lang= the pages speak, then
// the wr_lang cookie, then the first language of Accept-Language (by
// weight) that they speak, else English. The bool says ?lang= chose it.
func Language(r *http.Request) (string, bool) {
	have := Languages()
	if q := r.URL.Query().Get("lang"); slices.Contains(have, q) {
		return q, true
	}
	if c, err := r.Cookie(LangCookie); err == nil && slices.Contains(have, c.Value) {
		return c.Value, false
	}
	for _, tag := range acceptedLanguages(r.Header.Get("Accept-Language")) {
		if slices.Contains(have, tag) {
			return tag, false
		}
	}
	return DefaultLanguage, false
}

// acceptedLanguages reads an Accept-Language header ("ko-KR,ko;q=0.9,en;q=0.8")
// into primary language tags, most wanted first; q=0 means "not this one".
func acceptedLanguages(header string) []string {
	type choice struct {
		tag string
		q   float64
	}
	var out []choice
	for i, part := range strings.Split(header, ",") {
		if i >= 32 { // a header longer than any browser sends: the rest is noise
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if q == 0 || !langTagRE.MatchString(primary) {
			continue
		}
		out = append(out, choice{primary, q})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].q > out[b].q })
	tags := make([]string, 0, len(out))
	for _, c := range out {
		tags = append(tags, c.tag)
	}
	return tags
}

// Page returns page `name` (RoomPage, BookingPage, AdminPage) for r, in the
// language Language picks: its <html> carries lang and data-languages (the
// languages on offer, for the switch). A ?lang= choice is remembered in the
// wr_lang cookie; the answer varies with the request's language headers.
func Page(w http.ResponseWriter, r *http.Request, name string) ([]byte, error) {
	b, err := fs.ReadFile(Files(), name)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(b, []byte(htmlTag)) {
		return nil, fmt.Errorf("web: page %s does not start with %s", name, htmlTag)
	}
	lang, chosen := Language(r)
	h := w.Header()
	h.Add("Vary", "Accept-Language, Cookie")
	if chosen {
		http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
	tag := fmt.Sprintf(`<html lang="%s" data-languages="%s">`, lang, strings.Join(Languages(), " "))
	return bytes.Replace(b, []byte(htmlTag), []byte(tag), 1), nil
}
