package faults_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/pkg/queue"
)

// adminToken is the operator token of every waitroom a test starts.
const adminToken = "faults-admin-token-0123456789abcdef"

// The binaries, built from this tree once per test binary.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the tests' own clients while Redis
	// is down on purpose; the tests check the answers instead.
	redis.SetLogger(silentLogger{})
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// binary returns the path of cmd/<name> (waitroom or admitter) built from
// this tree.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "faults-bin-*"); buildErr != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		// The test runs in internal/faults; the commands are two levels up.
		out, err := exec.Command(goBin, "build", "-o", binDir+string(filepath.Separator),
			"../../cmd/waitroom", "../../cmd/admitter").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return filepath.Join(binDir, name)
}

// ---- processes --------------------------------------------------------------

// process is one running binary, its output appended to a log file that
// outlives restarts.
type process struct {
	name string
	bin  string
	args []string
	env  []string
	log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed once the current run has exited
	runs int
}

// startProcess runs cmd/<bin> with env only (on top of PATH and a HOME of
// its own). It is killed when the test ends, and its output shown if the
// test failed.
func startProcess(t *testing.T, bin, name string, env []string) *process {
	t.Helper()
	return startCommand(t, name, binary(t, bin), nil, env)
}

// startCommand is startProcess for any program and arguments.
func startCommand(t *testing.T, name, path string, args, env []string) *process {
	t.Helper()
	dir := t.TempDir()
	p := &process{name: name, bin: path, args: args, log: filepath.Join(dir, name+".log"),
		env: append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)}
	require.NoError(t, p.start())
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- last lines of %s (%s) ---\n%s", p.name, p.log, p.tail(40))
		}
	})
	return p
}

// start runs the binary (again). It fails if it is running.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !closed(p.done) {
		return fmt.Errorf("%s is running", p.name)
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.runs++
	fmt.Fprintf(f, "---- run %d ----\n", p.runs)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
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
	p.cmd, p.done = cmd, done
	return nil
}

// kill sends SIGKILL, as a crash would, and waits for the process to go.
func (p *process) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || closed(done) {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// stop sends SIGTERM and waits (at most within) for a clean exit; it
// returns the exit code, or an error if the process did not exit.
func (p *process) stop(within time.Duration) (int, error) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return -1, err
	}
	select {
	case <-done:
		return cmd.ProcessState.ExitCode(), nil
	case <-time.After(within):
		return -1, fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, within)
	}
}

// alive reports whether the current run is still running.
func (p *process) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !closed(p.done)
}

// pid is the current run's process id.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// output is everything the process wrote, over all its runs.
func (p *process) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// tail returns the last n lines of the process's output.
func (p *process) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.output(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logRecords are the process's JSON log lines (slog), decoded; other lines
// are skipped.
func (p *process) logRecords() []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(p.output()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// server is a waitroom instance: a process serving HTTP on a fixed address,
// which it keeps across restarts, as a load balancer's target does.
type server struct {
	*process
	addr string // 127.0.0.1:port
	base string // http://127.0.0.1:port
}

// startWaitroom runs cmd/waitroom on a free port with env on top of the
// usual test settings, and returns once /readyz answers 200.
func startWaitroom(t *testing.T, name string, env []string) *server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		p := startProcess(t, "waitroom", name, append([]string{
			"WAITROOM_ADDR=" + addr,
			"WAITROOM_ADMIN_TOKEN=" + adminToken,
			"WAITROOM_SHUTDOWN_GRACE=0s",
			// All the load comes from one address: the per-address limits
			// are off (a binary without one of them ignores its variable).
			"WAITROOM_JOIN_RATE=0",
			"WAITROOM_STATUS_RATE=0",
			"WAITROOM_SOCKET_RATE=0",
			"WAITROOM_SOCKETS_PER_ADDR=0",
		}, env...))
		s := &server{process: p, addr: addr, base: "http://" + addr}
		err := s.waitReady(20 * time.Second)
		if err == nil {
			return s
		}
		p.kill()
		if attempt < 3 && strings.Contains(p.tail(20), "address already in use") {
			continue
		}
		t.Fatalf("%s: %v\n--- output ---\n%s", name, err, p.tail(40))
	}
}

// restart starts a killed instance again on its address and waits until it
// is ready. The port was free a moment ago, so a retry covers the rare case
// of another test's process taking it meanwhile.
func (s *server) restart(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if err := s.start(); err != nil {
			return err
		}
		err := s.waitReady(time.Until(deadline))
		if err == nil {
			return nil
		}
		s.kill()
		if time.Now().After(deadline) || !strings.Contains(s.tail(5), "address already in use") {
			return fmt.Errorf("%s restart: %w\n%s", s.name, err, s.tail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(within time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if !s.alive() {
			return errors.New("exited before it was ready")
		}
		if resp, err := c.Get(s.base + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
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

// signingKey makes a new Ed25519 key, writes it as PKCS #8 PEM, and
// returns the key and the file's path.
func signingKey(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "signing-key.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return priv, path
}

// ---- HTTP -------------------------------------------------------------------

// newHTTPClient is a client with room for many concurrent connections to
// one host; its idle connections are closed when the test ends.
func newHTTPClient(t *testing.T, timeout time.Duration) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: timeout, Transport: tr}
}

// answer is an HTTP answer read in full.
type answer struct {
	status int
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body)) }

// errorCode is the code of a docs/API.md error body, or "".
func (a answer) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.body, &e)
	return e.Error.Code
}

// send makes one request; body is marshalled to JSON unless nil, token is
// sent as the bearer token unless empty.
func send(ctx context.Context, c *http.Client, method, url string, body any, token string) (answer, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: data}, err
}

// putRoom creates or updates a room through the operator API at base.
func putRoom(t *testing.T, ctx context.Context, c *http.Client, base, room string, cfg map[string]any) {
	t.Helper()
	a, err := send(ctx, c, http.MethodPut, base+"/api/admin/rooms/"+room, cfg, adminToken)
	require.NoError(t, err)
	require.Contains(t, []int{http.StatusOK, http.StatusCreated}, a.status, "PUT room %s: %s", room, a)
}

// ticketStatus is the body of a join or a status answer.
type ticketStatus struct {
	Ticket     string `json:"ticket"`
	State      string `json:"state"`
	Position   int64  `json:"position"`
	Waiting    int64  `json:"waiting"`
	EntryToken string `json:"entry_token"`
	ExpiresAt  string `json:"expires_at"`
}

func decodeStatus(a answer) (ticketStatus, error) {
	var st ticketStatus
	err := json.Unmarshal(a.body, &st)
	return st, err
}

// ---- sockets ----------------------------------------------------------------

// message is one frame a socket received.
type message struct {
	at         time.Time
	Type       string `json:"type"`
	Position   int64  `json:"position"`
	Ahead      int64  `json:"ahead"`
	Waiting    int64  `json:"waiting"`
	EntryToken string `json:"entry_token"`
	ExpiresAt  string `json:"expires_at"`
	TargetURL  string `json:"target_url"`
	Reason     string `json:"reason"`
}

// socket is one WebSocket of a visitor; a goroutine records every frame.
type socket struct {
	via  string // the instance's name
	conn *websocket.Conn
	done chan struct{} // closed when reading stopped
	got  chan struct{} // signalled after each message

	mu   sync.Mutex
	msgs []message
	err  error // why reading stopped
}

var dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256}

// dialSocket opens the visitor's socket at addr (host:port).
func dialSocket(ctx context.Context, addr, via, room, ticket string) (*socket, error) {
	conn, resp, err := dialer.DialContext(ctx, "ws://"+addr+"/api/rooms/"+room+"/ws?ticket="+ticket, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	s := &socket{via: via, conn: conn, done: make(chan struct{}), got: make(chan struct{}, 1)}
	go s.read()
	return s, nil
}

func (s *socket) read() {
	defer close(s.done)
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		m := message{at: time.Now()}
		if err := json.Unmarshal(data, &m); err != nil {
			m.Type = "unparsable: " + string(data)
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
		select {
		case s.got <- struct{}{}:
		default:
		}
	}
}

// waitFor waits until the socket has received a message of type typ
// (true) or has closed without one (false).
func (s *socket) waitFor(typ string) bool {
	for {
		for _, m := range s.messages() {
			if m.Type == typ {
				return true
			}
		}
		select {
		case <-s.got:
		case <-s.done:
			for _, m := range s.messages() {
				if m.Type == typ {
					return true
				}
			}
			return false
		}
	}
}

func (s *socket) messages() []message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// last returns the newest message; ok is false before the first.
func (s *socket) last() (m message, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return message{}, false
	}
	return s.msgs[len(s.msgs)-1], true
}

func (s *socket) open() bool { return !closed(s.done) }

func (s *socket) closeReason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *socket) close() {
	_ = s.conn.Close()
	<-s.done
}

// ---- room events ------------------------------------------------------------

// eventLog records every event published on a room's channel, through a
// subscription of the test's own (Redis is not killed while it runs).
type eventLog struct {
	ps *redis.PubSub

	mu     sync.Mutex
	events []queue.Event
	bad    []string
	done   chan struct{}
	latest atomic.Int64 // version of the newest event
	notify chan struct{}
}

// recordEvents subscribes to room's channel and returns once the
// subscription is confirmed; it ends with the test.
func recordEvents(t *testing.T, ctx context.Context, rdb *redis.Client, room string) *eventLog {
	t.Helper()
	ps := rdb.Subscribe(ctx, queue.Channel(room))
	_, err := ps.Receive(ctx)
	require.NoError(t, err, "subscribe to %s", queue.Channel(room))
	l := &eventLog{ps: ps, done: make(chan struct{}), notify: make(chan struct{}, 1)}
	go func() {
		defer close(l.done)
		for msg := range ps.Channel(redis.WithChannelSize(10000)) {
			ev, err := queue.ParseEvent([]byte(msg.Payload))
			l.mu.Lock()
			if err != nil {
				l.bad = append(l.bad, msg.Payload)
			} else {
				l.events = append(l.events, ev)
				l.latest.Store(ev.Version)
			}
			l.mu.Unlock()
			select {
			case l.notify <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = ps.Close()
		<-l.done
	})
	return l
}

// next waits for an event newer than the one seen last and returns its
// version.
func (l *eventLog) next(ctx context.Context, after int64) (int64, error) {
	for {
		if v := l.latest.Load(); v > after {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-l.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (l *eventLog) all() ([]queue.Event, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events), slices.Clone(l.bad)
}
