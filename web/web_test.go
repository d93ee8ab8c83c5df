package web_test

import (
	"io/fs"
	"path"
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

// moduleGraph is the source of the module `entry` and of every module it
// imports, statically or with import(), relative to the importer.
func moduleGraph(t *testing.T, files fs.FS, entry string) string {
	t.Helper()
	importRE := regexp.MustCompile(`(?:\bfrom\s*|\bimport\s*\(\s*)'(\.{1,2}/[^']+)'`)
	var all strings.Builder
	seen := map[string]bool{entry: true}
	for queue := []string{entry}; len(queue) > 0; queue = queue[1:] {
		js := readFile(t, files, queue[0])
		all.WriteString(js)
		for _, m := range importRE.FindAllStringSubmatch(js, -1) {
			name := path.Join(path.Dir(queue[0]), m[1])
			if !seen[name] {
				seen[name] = true
				queue = append(queue, name)
			}
		}
	}
	return all.String()
}

// pages are the HTML pages with the script each one runs and the
// references each must carry.
var pages = []struct {
	html, js string
	want     []string
}{
	{web.RoomPage, "room.js", []string{`src="../static/room.js"`, `href="../static/style.css"`, `name="viewport"`}},
	{web.AdminPage, "admin.js", []string{`src="static/admin.js"`, `href="static/style.css"`, `href="static/admin.css"`, `name="viewport"`}},
	{web.BookingPage, "booking.js", []string{`src="../static/booking.js"`, `href="../static/style.css"`, `href="../static/booking.css"`, `name="viewport"`}},
}

func TestPagesAreEmbedded(t *testing.T) {
	files := setup(t)
	for _, name := range []string{web.RoomPage, "room.js", web.AdminPage, "admin.js", web.BookingPage, "booking.js", "pow.js", "pow-worker.js", "style.css", "admin.css", "booking.css",
		"lib/base.js", "lib/api.js", "lib/storage.js", "lib/conn.js", "lib/announce.js",
		"lib/i18n.js", "i18n/en.js", "i18n/ko.js", "noscript.css"} {
		readFile(t, files, name)
	}
	// Static keeps the source layout; Files strips the prefix.
	for _, name := range []string{web.RoomPage, web.AdminPage, web.BookingPage} {
		if _, err := fs.Stat(web.Static, "static/"+name); err != nil {
			t.Fatalf("Static: %v", err)
		}
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

// The pages must work under "default-src 'self'": everything same-origin,
// no inline script, style or event handler. References are relative, so a
// page works under a gateway's prefix too.
func TestPagesUseOnlySameOriginResources(t *testing.T) {
	files := setup(t)
	for _, page := range pages {
		t.Run(page.html, func(t *testing.T) {
			checkSameOriginOnly(t, readFile(t, files, page.html), page.want)
		})
	}
}

func checkSameOriginOnly(t *testing.T, html string, want []string) {
	t.Helper()

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
			relative := !strings.HasPrefix(u, "/") && !strings.Contains(u, ":")
			if !relative {
				t.Errorf("URL %q in %s is not a relative reference", u, tag)
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

	for _, w := range want {
		if !strings.Contains(html, w) {
			t.Errorf("page lacks %s", w)
		}
	}
}

// The stylesheets must not pull anything from elsewhere either.
func TestStylesheetsLoadNothingElse(t *testing.T) {
	files := setup(t)
	names, err := fs.Glob(files, "*.css")
	if err != nil || len(names) == 0 {
		t.Fatalf("no stylesheets found: %v", err)
	}
	for _, name := range names {
		css := readFile(t, files, name)
		if absURLRE.MatchString(css) {
			t.Errorf("%s has an absolute URL", name)
		}
		if strings.Contains(css, "@import") {
			t.Errorf("%s uses @import", name)
		}
	}
}

var (
	byIDRE = regexp.MustCompile(`byId\('([^']+)'\)`)
	// admin.js finds the parts of a room card, cloned from a <template>, by
	// data-part; it builds some of them itself (its settings fields, from
	// its FIELDS table).
	partRE  = regexp.MustCompile(`\bpart\(\w+, '([^']+)'\)`)
	builtRE = regexp.MustCompile(`'data-part': '([^']+)'`)
)

// Every element a script looks up must exist in its page, so the two
// cannot drift apart unnoticed.
func TestScriptsFindEveryElementTheyNeed(t *testing.T) {
	files := setup(t)
	for _, page := range pages {
		t.Run(page.js, func(t *testing.T) {
			html := readFile(t, files, page.html)
			js := moduleGraph(t, files, page.js)

			ids := byIDRE.FindAllStringSubmatch(js, -1)
			if len(ids) == 0 {
				t.Fatalf("found no byId lookups in %s", page.js)
			}
			for _, m := range ids {
				if !strings.Contains(html, `id="`+m[1]+`"`) {
					t.Errorf("%s looks up #%s, which %s lacks", page.js, m[1], page.html)
				}
			}
			built := map[string]bool{}
			for _, m := range builtRE.FindAllStringSubmatch(js, -1) {
				built[m[1]] = true
			}
			for _, m := range partRE.FindAllStringSubmatch(js, -1) {
				if !strings.Contains(html, `data-part="`+m[1]+`"`) && !built[m[1]] {
					t.Errorf("%s looks up part %q, which neither %s nor the script makes", page.js, m[1], page.html)
				}
			}
		})
	}
}

// The operator token stays in the tab's sessionStorage: never in lasting
// storage or a cookie, and the sign-in field has no name, so no form
// submission can carry it.
func TestAdminTokenStaysInTheTab(t *testing.T) {
	files := setup(t)
	js := moduleGraph(t, files, "admin.js")
	for _, banned := range []string{"localStorage", "document.cookie", "indexedDB"} {
		if strings.Contains(js, banned) {
			t.Errorf("admin.js uses %s", banned)
		}
	}
	if !strings.Contains(js, "sessionStorage") {
		t.Error("admin.js does not keep the token in sessionStorage")
	}
	html := readFile(t, files, web.AdminPage)
	tag := regexp.MustCompile(`<input[^>]*\sid="token"[^>]*>`).FindString(html)
	if tag == "" {
		t.Fatal("admin.html has no token input")
	}
	if !strings.Contains(tag, `type="password"`) || regexp.MustCompile(`\sname\s*=`).MatchString(tag) {
		t.Errorf("token input must be a password field without a name: %s", tag)
	}
}
