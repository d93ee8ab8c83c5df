package testproc

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// failureTail is how many lines of a process's log a failed test shows.
const failureTail = 60

// Command is a program for Start.
type Command struct {
	// Name labels the process in its log's name and in failure messages.
	// Default the program's base name.
	Name string
	// Path is the program, e.g. Binary(t, "waitroom").
	Path string
	// Args are its arguments.
	Args []string
	// Env is its whole environment, on top of PATH and a HOME of its own:
	// nothing else of the test's environment leaks in.
	Env []string
}

// Process is one program the test runs. Its output, over all its runs, goes
// to one log file. It is safe for concurrent use.
type Process struct {
	// Name is Command.Name.
	Name string

	cmd Command
	env []string
	log string

	mu   sync.Mutex
	run  *exec.Cmd
	done chan struct{} // closed once the current run has exited
	runs int
}

// Start runs c. The process is killed when the test ends (and, on Linux,
// when the test binary dies first), and the end of its log is shown if the
// test failed.
func Start(t testing.TB, c Command) *Process {
	t.Helper()
	if c.Name == "" {
		c.Name = filepath.Base(c.Path)
	}
	dir := t.TempDir()
	p := &Process{Name: c.Name, cmd: c, log: filepath.Join(dir, c.Name+".log"),
		env: append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, c.Env...)}
	require.NoError(t, p.Start(), "start %s", c.Name)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- last lines of %s (%s) ---\n%s", p.Name, p.log, p.Tail(failureTail))
		}
	})
	return p
}

// Start runs the program again once it has exited (killed or stopped); its
// output goes on in the same log. It fails while the program runs.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run != nil && !isClosed(p.done) {
		return fmt.Errorf("%s is running", p.Name)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.runs++
	fmt.Fprintf(f, "---- run %d ----\n", p.runs)
	cmd := exec.Command(p.cmd.Path, p.cmd.Args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(done)
	}()
	p.run, p.done = cmd, done
	return nil
}

// Kill sends SIGKILL, as a crash would, and waits for the process to go.
func (p *Process) Kill() {
	p.mu.Lock()
	cmd, done := p.run, p.done
	p.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Stop sends SIGTERM and waits, at most within, for the process to exit; it
// returns the exit code, or an error if the process did not exit.
func (p *Process) Stop(within time.Duration) (int, error) {
	p.mu.Lock()
	cmd, done := p.run, p.done
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return -1, err
	}
	select {
	case <-done:
		return cmd.ProcessState.ExitCode(), nil
	case <-time.After(within):
		return -1, fmt.Errorf("%s did not exit within %s of SIGTERM", p.Name, within)
	}
}

// RequireStop is Stop that fails the test unless the process exits with
// code 0 within.
func (p *Process) RequireStop(t testing.TB, within time.Duration) {
	t.Helper()
	code, err := p.Stop(within)
	require.NoError(t, err)
	require.Equal(t, 0, code, "%s: exit code after SIGTERM", p.Name)
}

// Alive reports whether the current run is still running.
func (p *Process) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run != nil && !isClosed(p.done)
}

// PID is the current run's process id.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run.Process.Pid
}

// LogPath is the file the process writes its output to.
func (p *Process) LogPath() string { return p.log }

// Output is everything the process wrote, over all its runs.
func (p *Process) Output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Tail returns the last n lines of the process's output.
func (p *Process) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// LogRecords are the process's JSON log lines (slog), decoded; other lines
// are skipped.
func (p *Process) LogRecords() []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(p.Output()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
