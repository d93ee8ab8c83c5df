package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// module is the import path the commands are built from, so that Binary
// works from any package of the tree.
const module = "github.com/waitroom/waitroom"

var (
	binMu  sync.Mutex
	binDir string
	builds = map[string]*build{}
)

// build is one command, built at most once per test process.
type build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of cmd/<name> (waitroom, admitter, booking, …)
// built from this tree. The first call of a test process builds it; later
// calls, from any test, get the same file.
func Binary(t testing.TB, name string) string {
	t.Helper()
	binMu.Lock()
	b, ok := builds[name]
	if !ok {
		b = &build{}
		builds[name] = b
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "testproc-bin-*")
		if err != nil {
			binMu.Unlock()
			require.NoError(t, err, "directory for the binaries")
		}
		binDir = dir
	}
	dir := binDir
	binMu.Unlock()

	b.once.Do(func() {
		b.path = filepath.Join(dir, name)
		out, err := exec.Command(goTool(), "build", "-o", b.path, module+"/cmd/"+name).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build cmd/%s: %w\n%s", name, err, out)
		}
	})
	require.NoError(t, b.err)
	return b.path
}

// goTool is the go command: on PATH, else the one of the running toolchain.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Main runs the tests, removes the binaries Binary built for them and exits
// with the tests' code. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	binMu.Lock()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	binMu.Unlock()
	os.Exit(code)
}
