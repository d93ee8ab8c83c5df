// Package redistest starts real redis-server processes for tests.
//
// The queue logic lives in Lua scripts, and only a real Redis runs them with
// the semantics production sees (cluster hash slots, AOF recovery, script
// atomicity), so tests use this package instead of a fake. A missing
// redis-server is an error, never a skip: a suite that silently skips its
// storage tests proves nothing.
package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound reports that a Redis binary is not on PATH. Its error text
// names the package to install, so a failing CI log says how to fix itself.
var ErrNotFound = errors.New("not found on PATH")

// errPortInUse marks a start that failed only because another process took
// the port between picking and binding it, so a retry on a new port can help.
var errPortInUse = errors.New("port already in use")

const (
	// startTimeout bounds the wait for PING; loading an AOF counts as starting.
	startTimeout = 20 * time.Second
	// startAttempts is how many ports NewServer tries before giving up.
	startAttempts = 5
	// logTailLines is how much of the server log an error carries.
	logTailLines = 20
)

// Options configures a server. The zero value is an in-memory server with no
// persistence, which is what most tests want: fast and nothing on disk.
type Options struct {
	// AppendOnly turns on the append-only file with appendfsync always, so
	// every acknowledged write survives Kill and Restart. Default: false.
	AppendOnly bool
	// Args are extra redis-server arguments, such as
	// []string{"--maxmemory", "10mb"}; they come last and so override the
	// defaults this package sets. Default: none.
	Args []string
}

// Server is one redis-server process on 127.0.0.1 with its own temporary
// directory. It keeps its port and directory across Kill and Start, so clients
// made before a restart reconnect to the same server and data.
type Server struct {
	bin  string
	dir  string
	port int
	conf string   // a config file, the first argument (redis-sentinel's own); "": none
	args []string // redis-server arguments except --port
	clog string   // the server's stdout and stderr, appended across restarts
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	shut bool

	clients clients
}

// NewServer starts redis-server on a free port of 127.0.0.1 with a fresh
// temporary directory and RDB snapshots off, and returns once it answers
// PING. The caller must Close it; tests should use Start instead.
func NewServer(opt Options) (*Server, error) {
	return newServer(opt, nil, freePort)
}

// newServer starts a server with extra arguments (the cluster's) and a port
// picker (the cluster needs port+10000 free as well).
func newServer(opt Options, extra []string, pick func() (int, error)) (*Server, error) {
	return newProcess(spec{bin: "redis-server", opt: opt, extra: extra, pick: pick})
}

// spec is one Redis process to start: redis-server, or redis-sentinel with
// the config file it needs (Sentinel rewrites it with what it learns).
type spec struct {
	bin   string // redis-server or redis-sentinel, which is also its Debian package
	conf  string // the config file's contents; "": no file
	opt   Options
	extra []string
	pick  func() (int, error)
}

func newProcess(sp spec) (*Server, error) {
	opt, extra, pick := sp.opt, sp.extra, sp.pick
	bin, err := lookPath(sp.bin, sp.bin)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-*")
	if err != nil {
		return nil, fmt.Errorf("redistest: temp dir: %w", err)
	}
	s := &Server{bin: bin, dir: dir, clog: dir + string(os.PathSeparator) + "redis.log"}
	if sp.conf != "" {
		s.conf = dir + string(os.PathSeparator) + "sentinel.conf"
		if err := os.WriteFile(s.conf, []byte(sp.conf), 0o644); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("redistest: write %s: %w", s.conf, err)
		}
	}
	s.args = []string{
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "", // stdout, which goes to s.clog
	}
	switch {
	case sp.conf != "":
		// Sentinel keeps no data: no snapshot or append-only settings.
	case opt.AppendOnly:
		// always, not everysec: with everysec Redis may acknowledge a write
		// it has not yet handed to the kernel, and a fault test would flake.
		s.args = append(s.args, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	default:
		s.args = append(s.args, "--save", "", "--appendonly", "no")
	}
	s.args = append(s.args, extra...)
	s.args = append(s.args, opt.Args...)

	// The port is free when picked but not reserved, so another process can
	// take it before redis-server binds; a new port then usually works.
	for range startAttempts {
		if s.port, err = pick(); err != nil {
			break
		}
		if err = s.start(); !errors.Is(err, errPortInUse) {
			break
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Addr returns the server's address, "127.0.0.1:PORT". It stays the same
// across Kill, Start and Restart.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// addrs are the servers' addresses, in order.
func addrs(servers []*Server) []string {
	a := make([]string, len(servers))
	for i, s := range servers {
		a[i] = s.Addr()
	}
	return a
}

// Client returns a new client for the server. Close closes it too, so a test
// need not, but closing it earlier is harmless.
func (s *Server) Client() *redis.Client {
	return add(&s.clients, redis.NewClient(&redis.Options{Addr: s.Addr()}))
}

// Kill stops the server with SIGKILL, as a crash or power cut would, and
// waits for it to exit. The directory is kept, so Start recovers whatever the
// append-only file holds. Killing a stopped server does nothing.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kill()
}

// Start starts a killed server again on the same port and directory and
// waits until it answers PING, which with AppendOnly means the AOF is loaded.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return errors.New("redistest: start: server is closed")
	}
	if s.cmd != nil {
		return fmt.Errorf("redistest: start: server on %s is already running", s.Addr())
	}
	// The port cannot change, since clients hold the address, so wait for
	// whoever took it meanwhile instead of picking another.
	var err error
	for i := range startAttempts {
		if err = s.start(); !errors.Is(err, errPortInUse) {
			return err
		}
		time.Sleep(time.Duration(i+1) * 200 * time.Millisecond)
	}
	return err
}

// StartReplicaOf starts a killed server again as a replica of primary
// (--replicaof), as an operator's restart script does after a failover: it
// never serves, empty, as a primary of its own. Later starts keep it.
func (s *Server) StartReplicaOf(primary *Server) error {
	s.mu.Lock()
	args := make([]string, 0, len(s.args)+3)
	for i := 0; i < len(s.args); i++ {
		if s.args[i] == "--replicaof" && i+2 < len(s.args) {
			i += 2
			continue
		}
		args = append(args, s.args[i])
	}
	s.args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(primary.port))
	s.mu.Unlock()
	return s.Start()
}

// Restart kills the server with SIGKILL and starts it again on the same port
// and directory: the fault that AppendOnly tests are about.
func (s *Server) Restart() error {
	if err := s.Kill(); err != nil {
		return err
	}
	return s.Start()
}

// Close closes the clients made by Client, stops the server and removes its
// directory. Calling it again does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return nil
	}
	s.shut = true
	s.clients.closeAll()
	err := s.kill()
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("redistest: remove %s: %w", s.dir, rmErr)
	}
	return err
}

// start runs redis-server and waits for PING; s.mu is held or s is not yet
// shared. On failure the process is gone and the error ends with the log.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.clog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("redistest: open log: %w", err)
	}
	defer logf.Close() // the child has its own copy once started
	st, err := logf.Stat()
	if err != nil {
		return fmt.Errorf("redistest: stat log: %w", err)
	}
	from := st.Size() // this attempt's lines start here

	args := append([]string{"--port", strconv.Itoa(s.port)}, s.args...)
	if s.conf != "" {
		args = append([]string{s.conf}, args...)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	// A file, not a pipe: Wait then never blocks on a reader, and the log
	// survives the process for the error message.
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit status says nothing the log does not
		close(done)
	}()
	s.cmd, s.done = cmd, done

	if err := waitReady(s.Addr(), cmd.Process.Pid, done, startTimeout); err != nil {
		_ = s.kill()
		tail := s.logTail(from)
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return fmt.Errorf("redistest: redis-server on %s: %w\n--- last lines of its log ---\n%s", s.Addr(), err, tail)
	}
	return nil
}

// kill stops the process group and waits for it; s.mu is held.
func (s *Server) kill() error {
	if s.cmd == nil {
		return nil
	}
	err := killGroup(s.cmd.Process)
	<-s.done
	s.cmd, s.done = nil, nil
	if err != nil {
		return fmt.Errorf("redistest: kill redis-server on %s: %w", s.Addr(), err)
	}
	return nil
}

// logTail returns the last lines the server logged since offset from.
func (s *Server) logTail(from int64) string {
	b, err := os.ReadFile(s.clog)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if from > int64(len(b)) {
		from = 0
	}
	lines := strings.Split(strings.TrimRight(string(b[from:]), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls addr until it answers PONG, the process exits, or timeout
// passes. A LOADING error while the AOF loads counts as not ready yet. The
// answering server must have our pid: if another process took the port
// first, our redis-server exits, and its PONG must not pass for ours.
func waitReady(addr string, pid int, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return errors.New("exited before answering PING")
		default:
		}
		err := ping(addr, pid)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %w", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ping checks that the server at addr is process pid and answers PONG.
func ping(addr string, pid int) error {
	reply, err := command(addr, time.Second, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	info, err := command(addr, time.Second, "INFO", "server")
	if err != nil {
		return err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			if v != strconv.Itoa(pid) {
				return fmt.Errorf("%s is answered by process %s, not ours (%d)", addr, v, pid)
			}
			return nil
		}
	}
	return errors.New("INFO server has no process_id")
}

// lookPath finds bin on PATH, or says which Debian package provides it.
func lookPath(bin, pkg string) (string, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s %w: install it (Debian/Ubuntu: apt-get install %s)", bin, ErrNotFound, pkg)
	}
	return path, nil
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// running reports whether the process is up (not killed or closed).
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}
