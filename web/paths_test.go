package web_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A script that wrote "/api/…" or "/static/…" would miss the prefix; every
// such URL must come from lib/base.js.
func TestNoScriptWritesAPathFromTheHostRoot(t *testing.T) {
	files := setup(t)
	rooted := regexp.MustCompile("['\"`]/(api|static|rooms|booking)/")
	n := 0
	require.NoError(t, fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".js") {
			return err
		}
		n++
		js := readFile(t, files, name)
		for _, loc := range rooted.FindAllStringIndex(js, -1) {
			line := strings.Count(js[:loc[0]], "\n") + 1
			t.Errorf("%s:%d: a string starts with a path from the host's root: %s", name, line, js[loc[0]:min(len(js), loc[1]+20)])
		}
		return nil
	}))
	require.Greater(t, n, 10, "found the scripts")
}
