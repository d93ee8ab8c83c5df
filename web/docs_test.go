package web_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// docs/ARCHITECTURE.md is a newcomer's map: every file and folder it names
// must exist, and README must link nothing outside the repository.
func TestTheDocsNameOnlyWhatIsInTheRepository(t *testing.T) {
	root := ".."
	arch, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	require.NoError(t, err)
	named := regexp.MustCompile("`((?:cmd|pkg|internal|web|scripts|deploy|docs)/[A-Za-z0-9_./-]+)`")
	n := 0
	for _, m := range named.FindAllSubmatch(arch, -1) {
		n++
		_, err := os.Stat(filepath.Join(root, string(m[1])))
		require.NoError(t, err, "docs/ARCHITECTURE.md names %s", m[1])
	}
	require.Greater(t, n, 30, "found the names")

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	for _, m := range regexp.MustCompile(`\]\(([^)#]+)`).FindAllSubmatch(readme, -1) {
		link := string(m[1])
		if regexp.MustCompile(`^https?://`).MatchString(link) {
			continue
		}
		_, err := os.Stat(filepath.Join(root, link))
		require.NoError(t, err, "README links %s", link)
		abs, _ := filepath.Abs(filepath.Join(root, link))
		top, _ := filepath.Abs(root)
		require.True(t, len(abs) >= len(top) && abs[:len(top)] == top, "README links %s, outside the repository", link)
	}
}
