package web_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/waitroom/waitroom/web"
)

// setup returns the embedded tree as the server will serve it.
func setup(t *testing.T) fs.FS {
	t.Helper()
	return web.Files()
}

func readFile(t *testing.T, files fs.FS, name string) string {
	t.Helper()
	b, err := fs.ReadFile(files, name)
	if err != nil {
		t.Fatalf("embedded file %s: %v", name, err)
	}
	if len(b) == 0 {
		t.Fatalf("embedded file %s is empty", name)
	}
	return string(b)
}

func TestPagesAreEmbedded(t *testing.T) {
	files := setup(t)
	for _, name := range []string{web.RoomPage, "room.js", "style.css"} {
		readFile(t, files, name)
	}
	// Static keeps the source layout; Files strips the prefix.
	if _, err := fs.Stat(web.Static, "static/"+web.RoomPage); err != nil {
		t.Fatalf("Static: %v", err)
	}
}

var (
	tagRE       = regexp.MustCompile(`(?is)<[a-z][^>]*>`)
	handlerRE   = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleAttrRE = regexp.MustCompile(`(?i)\sstyle\s*=`)
	scriptRE    = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	srcAttrRE   = regexp.MustCompile(`(?i)\ssrc\s*=`)
	urlAttrRE   = regexp.MustCompile(`(?i)\s(?:src|href|action|formaction)\s*=\s*"([^"]*)"`)
	absURLRE    = regexp.MustCompile(`(?i)https?://`)
)

// The page must work under "default-src 'self'": everything same-origin,
// no inline script, style or event handler.
func TestRoomPageUsesOnlySameOriginResources(t *testing.T) {
	html := readFile(t, setup(t), web.RoomPage)

	if loc := absURLRE.FindStringIndex(html); loc != nil {
		t.Errorf("absolute URL at byte %d: %q", loc[0], html[loc[0]:min(len(html), loc[0]+60)])
	}
	if regexp.MustCompile(`(?i)<style\b`).MatchString(html) {
		t.Error("inline <style> element")
	}

	for _, tag := range tagRE.FindAllString(html, -1) {
		if handlerRE.MatchString(tag) {
			t.Errorf("inline event handler in %s", tag)
		}
		if styleAttrRE.MatchString(tag) {
			t.Errorf("inline style attribute in %s", tag)
		}
		for _, m := range urlAttrRE.FindAllStringSubmatch(tag, -1) {
			u := m[1]
			sameOrigin := strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//")
			if !sameOrigin && !strings.HasPrefix(u, "#") {
				t.Errorf("URL %q in %s is not a same-origin path", u, tag)
			}
		}
	}

	scripts := scriptRE.FindAllStringSubmatch(html, -1)
	if len(scripts) == 0 {
		t.Error("no <script src> at all")
	}
	for _, s := range scripts {
		if !srcAttrRE.MatchString(s[1]) {
			t.Errorf("script without src: <script%s>", s[1])
		}
		if body := strings.TrimSpace(s[2]); body != "" {
			t.Errorf("inline script body: %q", body)
		}
	}

	for _, want := range []string{`src="/static/room.js"`, `href="/static/style.css"`, `name="viewport"`} {
		if !strings.Contains(html, want) {
			t.Errorf("room.html lacks %s", want)
		}
	}
}

// The stylesheet must not pull anything from elsewhere either.
func TestStylesheetLoadsNothingElse(t *testing.T) {
	css := readFile(t, setup(t), "style.css")
	if absURLRE.MatchString(css) {
		t.Error("style.css has an absolute URL")
	}
	if strings.Contains(css, "@import") {
		t.Error("style.css uses @import")
	}
}

// Every element the script looks up must exist in the page, so the two
// cannot drift apart unnoticed.
func TestScriptFindsEveryElementItNeeds(t *testing.T) {
	files := setup(t)
	html := readFile(t, files, web.RoomPage)
	js := readFile(t, files, "room.js")

	ids := regexp.MustCompile(`byId\('([^']+)'\)`).FindAllStringSubmatch(js, -1)
	if len(ids) == 0 {
		t.Fatal("found no byId lookups in room.js")
	}
	for _, m := range ids {
		if !strings.Contains(html, `id="`+m[1]+`"`) {
			t.Errorf("room.js looks up #%s, which room.html lacks", m[1])
		}
	}
}
