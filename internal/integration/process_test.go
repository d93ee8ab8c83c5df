package integration_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// The three binaries, built from this tree once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the tests' own clients; the tests
	// that stop Redis check the services' answers instead. (The open-files
	// limit needs no raising: the Go runtime lifts its soft limit to the hard
	// one at start, in this process and in each binary it runs.)
	redis.SetLogger(silentLogger{})
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// binary returns the path of cmd/<name> built from this tree.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "integration-bin-*"); buildErr != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		// The test runs in internal/integration; the commands are two levels up.
		out, err := exec.Command(goBin, "build", "-o", binDir+string(filepath.Separator),
			"../../cmd/waitroom", "../../cmd/admitter", "../../cmd/booking").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(binDir, name)
}

// process is one running binary, its output captured to a file.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once it has exited and been waited for
}

var started atomic.Int64

// startProcess runs cmd/<bin> with env only (on top of PATH and a HOME of
// its own). It is killed when the test ends (or when this test binary
// dies), and its output shown if the test failed.
func startProcess(t *testing.T, bin, name string, env []string) *process {
	t.Helper()
	dir := t.TempDir()
	p := &process{
		name: name,
		log:  filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, started.Add(1))),
		done: make(chan struct{}),
	}
	f, err := os.Create(p.log)
	require.NoError(t, err)
	p.cmd = exec.Command(binary(t, bin))
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = procAttr()
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- output of %s (%s) ---\n%s", p.name, p.log, p.tail(60))
		}
	})
	return p
}

// kill sends SIGKILL, as a crash would, and waits for the process to go.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// tail returns the last n lines of the process's output.
func (p *process) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// server is a process that serves HTTP: a waitroom instance or booking.
type server struct {
	*process
	addr string // 127.0.0.1:port
	base string // http://127.0.0.1:port
}

// startServer runs cmd/<bin> listening on a free port of 127.0.0.1, given
// to it in addrVar, and returns once its /readyz answers 200. A port taken
// by someone else between picking and binding it is picked again.
func startServer(t *testing.T, bin, name, addrVar string, env []string) *server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		p := startProcess(t, bin, name, append([]string{addrVar + "=" + addr}, env...))
		s := &server{process: p, addr: addr, base: "http://" + addr}
		err := s.waitReady(20 * time.Second)
		if err == nil {
			return s
		}
		if attempt < 3 && strings.Contains(p.tail(20), "address already in use") {
			continue
		}
		t.Fatalf("%s: %v\n--- output ---\n%s", name, err, p.tail(60))
	}
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(within time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if s.exited() {
			return errors.New("exited before it was ready")
		}
		if resp, err := c.Get(s.base + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("/readyz not 200 within %s", within)
}

// freeAddr picks a port of 127.0.0.1 that nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
