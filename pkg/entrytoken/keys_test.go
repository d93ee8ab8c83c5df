package entrytoken_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// rfc8037Pub is the public key of RFC 8037 Appendix A.
func rfc8037Pub(t *testing.T) ed25519.PublicKey {
	t.Helper()
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	require.NoError(t, err)
	return ed25519.PublicKey(x)
}

func TestThumbprintIsTheRFC8037Example(t *testing.T) {
	require.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", entrytoken.Thumbprint(rfc8037Pub(t)))
}

func TestPublicJWKSDescribesEachKeyAsAnEdDSASigningKey(t *testing.T) {
	require.JSONEq(t, `{"keys":[{
		"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		"kid":"kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k","alg":"EdDSA","use":"sig"}]}`,
		string(entrytoken.PublicJWKS(rfc8037Pub(t))))
	require.JSONEq(t, `{"keys":[]}`, string(entrytoken.PublicJWKS()))
}

func TestGenerateKeyGivesDistinctKeys(t *testing.T) {
	a, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	b, err := entrytoken.GenerateKey()
	require.NoError(t, err)
	require.Len(t, a, ed25519.PrivateKeySize)
	require.False(t, a.Equal(b))
}

func TestLoadPrivateKeyReadsAKeyFromGenSigningKeyScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("scripts/gen-signing-key.sh needs openssl, which is not installed: apt-get install openssl")
	}
	script, err := filepath.Abs("../../scripts/gen-signing-key.sh")
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "signing-key.pem")

	printed, err := exec.Command(script, out).Output()
	require.NoError(t, err, "gen-signing-key.sh: %s", exitStderr(err))
	require.Equal(t, out, strings.TrimSpace(string(printed)), "prints the path")
	info, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), info.Mode().Perm())

	key, err := entrytoken.LoadPrivateKey(out)
	require.NoError(t, err)
	msg := []byte("admit")
	require.True(t, ed25519.Verify(key.Public().(ed25519.PublicKey), msg, ed25519.Sign(key, msg)))

	t.Run("it refuses to overwrite an existing key", func(t *testing.T) {
		before, err := os.ReadFile(out)
		require.NoError(t, err)
		cmd := exec.Command(script, out)
		stderr, err := cmd.CombinedOutput()
		require.Error(t, err)
		require.Contains(t, string(stderr), "already exists")
		after, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Equal(t, before, after)
	})

	t.Run("it writes signing-key.pem by default", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(script)
		cmd.Dir = dir
		require.NoError(t, cmd.Run())
		_, err := entrytoken.LoadPrivateKey(filepath.Join(dir, "signing-key.pem"))
		require.NoError(t, err)
	})
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

func TestLoadPrivateKeyExplainsWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(edKey.Public())
	require.NoError(t, err)

	t.Run("missing file", func(t *testing.T) {
		_, err := entrytoken.LoadPrivateKey(filepath.Join(dir, "nope.pem"))
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"not PEM":           {[]byte("hello"), "not a PEM file"},
		"a public key":      {pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), `"PUBLIC KEY" PEM block`},
		"an RSA key":        {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: rsaDER}), "want an Ed25519 key"},
		"a corrupt PKCS #8": {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}), "parse PKCS #8"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := entrytoken.LoadPrivateKey(write(strings.ReplaceAll(name, " ", "-")+".pem", tc.data))
			require.ErrorContains(t, err, tc.want)
		})
	}
}
