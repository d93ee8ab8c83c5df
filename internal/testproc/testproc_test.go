package testproc_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/entrytoken"
)

// The test binary doubles as the program the tests run: with
// TESTPROC_HELPER set it plays that part instead of running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("TESTPROC_HELPER"); mode != "" {
		os.Exit(helper(mode))
	}
	testproc.Main(m)
}

// helper is the program: "env" prints its environment and waits for
// SIGTERM; "serve" also serves /readyz on $HELPER_ADDR.
func helper(mode string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Println(`{"level":"INFO","msg":"started"}`)
	for _, kv := range os.Environ() {
		fmt.Println("env", kv)
	}
	if mode == "serve" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
		go func() { fmt.Println(http.ListenAndServe(os.Getenv("HELPER_ADDR"), mux)) }()
	}
	<-term
	fmt.Println("stopping")
	return 0
}

func helperCommand(t *testing.T, mode string, env ...string) testproc.Command {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	return testproc.Command{Name: "helper-" + mode, Path: self, Env: append([]string{"TESTPROC_HELPER=" + mode}, env...)}
}

func TestAProcessSeesOnlyTheEnvironmentItIsGiven(t *testing.T) {
	t.Setenv("TESTPROC_OUTSIDE", "leaked")
	p := testproc.Start(t, helperCommand(t, "env", "GIVEN=yes"))
	require.Eventually(t, func() bool { return strings.Contains(p.Output(), "env GIVEN=yes") }, 10*time.Second, 10*time.Millisecond)
	var env []string
	for line := range strings.Lines(p.Output()) {
		if kv, ok := strings.CutPrefix(strings.TrimSpace(line), "env "); ok {
			env = append(env, strings.SplitN(kv, "=", 2)[0])
		}
	}
	require.ElementsMatch(t, []string{"PATH", "HOME", "TESTPROC_HELPER", "GIVEN"}, env)
}

func TestAStoppedProcessExitsCleanlyAndItsLogIsKept(t *testing.T) {
	p := testproc.Start(t, helperCommand(t, "env"))
	require.Eventually(t, func() bool { return len(p.LogRecords()) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.True(t, p.Alive())
	p.RequireStop(t, 10*time.Second)
	require.False(t, p.Alive())
	require.Contains(t, p.Tail(1), "stopping")
	require.Equal(t, "started", p.LogRecords()[0]["msg"])
	require.FileExists(t, p.LogPath())
}

func TestAKilledProcessStartsAgainAndItsLogGoesOn(t *testing.T) {
	p := testproc.Start(t, helperCommand(t, "env"))
	first := p.PID()
	require.Error(t, p.Start(), "it is running")
	require.Eventually(t, func() bool { return len(p.LogRecords()) == 1 }, 10*time.Second, 10*time.Millisecond)
	p.Kill()
	require.False(t, p.Alive())
	require.NoError(t, p.Start())
	require.True(t, p.Alive())
	require.NotEqual(t, first, p.PID())
	require.Eventually(t, func() bool { return len(p.LogRecords()) == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Contains(t, p.Output(), "---- run 1 ----")
	require.Contains(t, p.Output(), "---- run 2 ----")
}

func TestAServerIsReadyOnItsAddressAndRestartsThere(t *testing.T) {
	s := testproc.StartServer(t, helperCommand(t, "serve"), "HELPER_ADDR")
	require.Equal(t, "http://"+s.Addr, s.Base)
	resp, err := http.Get(s.Base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	s.Kill()
	require.Error(t, s.WaitReady(time.Second), "a dead server is never ready")
	require.NoError(t, s.Restart(20*time.Second))
	resp, err = http.Get(s.Base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestBinaryBuildsACommandOncePerTestProcess(t *testing.T) {
	path := testproc.Binary(t, "loadgen")
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.NotZero(t, info.Mode()&0o100, "executable")
	require.Equal(t, path, testproc.Binary(t, "loadgen"))
}

func TestFreeAddrIsALoopbackPortNobodyListensOn(t *testing.T) {
	addr := testproc.FreeAddr(t)
	require.True(t, strings.HasPrefix(addr, "127.0.0.1:"), addr)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	require.NoError(t, err)
	ln.Close()
}

func TestSigningKeyIsAPKCS8PEMFileTheServersLoad(t *testing.T) {
	key, path := testproc.SigningKey(t)
	loaded, err := entrytoken.LoadPrivateKey(path)
	require.NoError(t, err)
	require.True(t, key.Equal(loaded))
}

func TestSendMarshalsTheBodyAndSendsTheToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer secret" || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"no"}}`))
			return
		}
		_, _ = w.Write([]byte("{}\n"))
	}))
	defer srv.Close()
	a, err := testproc.Send(t.Context(), srv.Client(), http.MethodPut, srv.URL, map[string]any{"paused": true}, "secret")
	require.NoError(t, err)
	require.Equal(t, "200 {}", a.String())
	require.Empty(t, a.ErrorCode())
	a, err = testproc.Send(t.Context(), srv.Client(), http.MethodGet, srv.URL, nil, "")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, a.Status)
	require.Equal(t, "unauthorized", a.ErrorCode())
}

func TestASocketRecordsEveryMessageUntilItCloses(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		testproc.ServeSocket(w, r, func(c *websocket.Conn) {
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"position","position":2,"ahead":1,"waiting":5,"eta_seconds":30}`))
			_ = c.WriteMessage(websocket.TextMessage, []byte(`not json`))
			<-release
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"type":"admitted","entry_token":"tok"}`))
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "replaced"))
			_, _, _ = c.ReadMessage()
		})
	}))
	defer srv.Close()

	s, err := testproc.Dial(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	defer s.Close()
	require.Eventually(t, func() bool { return s.Count() == 2 }, 5*time.Second, 5*time.Millisecond)
	require.True(t, s.Open())
	require.Equal(t, websocket.CloseAbnormalClosure, s.CloseCode(), "no close frame yet")
	first := s.Messages()[0]
	require.Equal(t, int64(2), first.Position)
	require.Equal(t, int64(30), *first.ETASeconds)
	require.False(t, first.At.IsZero())
	last, ok := s.Last()
	require.True(t, ok)
	require.Equal(t, "unparsable: not json", last.Type)
	require.Equal(t, "not json", last.Raw)

	close(release)
	require.True(t, s.WaitFor("admitted"))
	require.False(t, s.WaitFor("expired"), "the socket closed without one")
	require.False(t, s.Open())
	require.Equal(t, 4000, s.CloseCode())
	last, _ = s.Last()
	require.Equal(t, "tok", last.EntryToken)
}

func TestTokensSignsWhatItsVerifierAcceptsAndClaimsReadsIt(t *testing.T) {
	signer, verifier, key := testproc.Tokens(t)
	require.Equal(t, entrytoken.Thumbprint(key.Public().(ed25519.PublicKey)), signer.KeyID())
	exp := time.Now().Add(time.Minute).Truncate(time.Second)
	token, err := signer.Sign(entrytoken.Claims{Room: "r", Subject: "s", ID: "adm-1", ExpiresAt: exp})
	require.NoError(t, err)
	claims, err := verifier.Verify(t.Context(), token, "r")
	require.NoError(t, err)
	require.Equal(t, "s", claims.Subject)
	c := testproc.Claims(t, token)
	require.Equal(t, "adm-1", c.ID)
	require.True(t, c.ExpiresAt.Time.Equal(exp))
}

func TestSendPassesAStringOrBytesBodyAsItIs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write([]byte(r.Header.Get("Content-Type") + " " + string(body)))
	}))
	defer srv.Close()
	for _, body := range []any{`{"a":1,"a":2}`, []byte(`{"a":1,"a":2}`), strings.NewReader(`{"a":1,"a":2}`)} {
		a, err := testproc.Send(t.Context(), srv.Client(), http.MethodPost, srv.URL, body, "")
		require.NoError(t, err)
		require.Equal(t, `application/json {"a":1,"a":2}`, string(a.Body), "%T", body)
	}
	a, err := testproc.Send(t.Context(), srv.Client(), http.MethodPost, srv.URL, map[string]int{"a": 1}, "")
	require.NoError(t, err)
	require.Equal(t, `application/json {"a":1}`, string(a.Body))
}

func TestSignJWTSetsTheKidAndAHangingServerNeverAnswers(t *testing.T) {
	tok := testproc.SignJWT(t, jwt.SigningMethodHS256, []byte("secret"), "k1", jwt.MapClaims{"jti": "x"})
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	require.NoError(t, err)
	require.Equal(t, "k1", parsed.Header["kid"])
	require.Equal(t, "x", testproc.Claims(t, tok).ID)

	hang := testproc.HangingServer(t)
	c := &http.Client{Timeout: 100 * time.Millisecond}
	_, err = c.Get(hang.URL)
	require.Error(t, err, "no answer before the client's timeout")
}

func TestRunCancelsItsFunctionOnStopAndWaitsForIt(t *testing.T) {
	var ended atomic.Bool
	stop := testproc.Run(t, 5*time.Second, func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond)
		ended.Store(true)
		return nil
	})
	require.False(t, ended.Load())
	stop()
	require.True(t, ended.Load(), "stop waited for the function to return")
	stop() // again: at once
}
