package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/browsertest"
	"github.com/waitroom/waitroom/internal/pow"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/web"
)

// csp is the policy internal/httpapi sends with every page and file: the worker
// must load and run under it (worker-src falls back to script-src 'self').
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// powTestPage loads only the pow.js module; the test drives it through
// DevTools, which the policy's ban on inline scripts does not cover.
const powTestPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>pow</title>` +
	`<script type="module" src="/static/pow.js"></script></head><body></body></html>`

// powBundle is a server of web/static with the test page and a fake of the
// join API around the real room.html, a master key, and a Chromium tab.
type powBundle struct {
	t      *testing.T
	master []byte
	base   string // http://127.0.0.1:port
	ctx    context.Context
	api    *fakeJoinAPI
}

func setupPow(t *testing.T) *powBundle {
	t.Helper()
	b := &powBundle{t: t, master: []byte("0123456789abcdef0123456789abcdef")}
	b.api = &fakeJoinAPI{master: b.master, used: map[string]bool{}}
	mux := http.NewServeMux()
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServerFS(web.Files())))
	mux.HandleFunc("GET /pow-test", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(powTestPage))
	})
	mux.HandleFunc("GET /rooms/demo", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, web.Files(), web.RoomPage)
	})
	b.api.register(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	b.base = srv.URL
	b.ctx = browsertest.Chromium(t, 0, chromedp.Flag("host-resolver-rules", "MAP insecure.test 127.0.0.1"))
	return b
}

// solved is one solve in the page: its payload and how long it took there.
type solved struct {
	Payload   string    `json:"payload"`
	Ms        float64   `json:"ms"`
	Progress  []float64 `json:"progress"`
	ErrorCode string    `json:"code"`
	Error     string    `json:"error"`
}

// solveInPage runs pow.js's solve on the open test page; abortAfterMs > 0
// aborts it that long after the start.
func (b *powBundle) solveInPage(ch pow.Challenge, abortAfterMs int, timeout time.Duration) solved {
	b.t.Helper()
	js, err := json.Marshal(ch)
	require.NoError(b.t, err)
	expr := fmt.Sprintf(`(async () => {
		const progress = [];
		const { solve } = await import('/static/pow.js');
		const ctl = new AbortController();
		if (%d > 0) setTimeout(() => ctl.abort(), %d);
		const t0 = performance.now();
		try {
			const payload = await solve(%s, (f) => progress.push(f), ctl.signal);
			return {payload, ms: performance.now() - t0, progress, code: '', error: ''};
		} catch (e) {
			return {payload: '', ms: performance.now() - t0, progress, code: e.code || '', error: String(e.message)};
		}
	})()`, abortAfterMs, abortAfterMs, js)
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[solved](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err)
	return out
}

func (b *powBundle) open(url string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, chromedp.Navigate(url)))
}

func TestThePagesWorkerSolvesAChallengeThatVerifies(t *testing.T) {
	b := setupPow(t)
	b.open(b.base + "/pow-test")
	ch, err := pow.NewChallenge(b.master, "demo", 5000, time.Now())
	require.NoError(t, err)
	got := b.solveInPage(ch, 0, 30*time.Second)
	require.Empty(t, got.Error)
	sol, err := pow.Verify(b.master, "demo", got.Payload, time.Now())
	require.NoError(t, err)
	require.Equal(t, ch.Challenge, sol.ID)
	require.NotEmpty(t, got.Progress)
	require.Equal(t, 1.0, got.Progress[len(got.Progress)-1], "progress ends at 1")
}

func TestTheWorkerReportsProgressAndStopsWhenAborted(t *testing.T) {
	b := setupPow(t)
	b.open(b.base + "/pow-test")
	ch, err := pow.NewChallenge(b.master, "demo", pow.MaxNumber, time.Now())
	require.NoError(t, err)
	got := b.solveInPage(ch, 1500, 30*time.Second)
	require.Equal(t, "aborted", got.ErrorCode, got.Error)
	require.Less(t, got.Ms, 2500.0, "the solve ends soon after the abort")
	require.NotEmpty(t, got.Progress, "progress came during the first 1.5 s")
	require.True(t, slices.IsSorted(got.Progress))
	require.Less(t, got.Progress[len(got.Progress)-1], 1.0)
}

func TestWithoutASecureContextSolvingFailsWithAClearError(t *testing.T) {
	b := setupPow(t)
	base, err := url.Parse(b.base)
	require.NoError(t, err)
	// http on a name other than localhost is not a secure context: no crypto.subtle.
	b.open("http://insecure.test:" + base.Port() + "/pow-test")
	ch, err := pow.NewChallenge(b.master, "demo", 1000, time.Now())
	require.NoError(t, err)
	got := b.solveInPage(ch, 0, 10*time.Second)
	require.Equal(t, "unsupported", got.ErrorCode)
	require.Contains(t, got.Error, "https")
}

func TestAMalformedChallengeIsRefusedBeforeAnyWork(t *testing.T) {
	b := setupPow(t)
	b.open(b.base + "/pow-test")
	ch, err := pow.NewChallenge(b.master, "demo", 1000, time.Now())
	require.NoError(t, err)
	ch.Algorithm = "SHA-1"
	got := b.solveInPage(ch, 0, 10*time.Second)
	require.Equal(t, "invalid", got.ErrorCode)
}

func TestTheWaitingPageSolvesThePuzzleWhenAskedAndJoins(t *testing.T) {
	b := setupPow(t)
	b.api.maxnumber = 300_000
	b.api.late = true // the answer in the last 40%: long enough to watch the progress
	b.open(b.base + "/rooms/demo")

	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#view-checking")))
	heading, err := chromedp.Run(ctx, chromedp.Text("#heading"))
	require.NoError(t, err)
	require.Equal(t, "Checking your browser…", heading)
	type checking struct {
		Role    string `json:"role"`
		Now     string `json:"now"`
		Percent string `json:"percent"`
		Said    string `json:"said"`
	}
	var seen checking
	require.Eventually(t, func() bool {
		seen, err = chromedp.Run(ctx, chromedp.Evaluate[checking](`({
			role: document.getElementById('check-progress').getAttribute('role'),
			now: document.getElementById('check-progress').getAttribute('aria-valuenow'),
			percent: document.getElementById('check-percent').textContent,
			said: document.getElementById('announcer').textContent,
		})`))
		return err == nil && seen.Now != "0" && seen.Now != ""
	}, 20*time.Second, 50*time.Millisecond, "the bar moves")
	require.Equal(t, "progressbar", seen.Role)
	require.Equal(t, seen.Now+"%", seen.Percent)
	require.Contains(t, seen.Said, "Checking your browser", "the polite live region said what is happening")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#view-waiting")))
	position, err := chromedp.Run(ctx, chromedp.Text("#position"))
	require.NoError(t, err)
	require.Equal(t, "1", strings.TrimSpace(position))

	joins := b.api.joinBodies()
	require.Len(t, joins, 2, "one join without work, one with")
	require.NotContains(t, joins[0], "pow")
	require.Contains(t, joins[1], "pow")
	require.EqualValues(t, 1, b.api.challenges.Load())
}

func TestTheWaitingPageSolvesOnceMoreAfterPowInvalid(t *testing.T) {
	b := setupPow(t)
	b.api.maxnumber = 2000
	b.api.refuse = 1 // the first solution is answered pow_invalid
	b.open(b.base + "/rooms/demo")
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#view-waiting")))
	require.EqualValues(t, 2, b.api.challenges.Load())
	require.Len(t, b.api.joinBodies(), 3)
}

func TestTheWaitingPageGivesUpAfterTwoRefusedSolutions(t *testing.T) {
	// Refused every time: two solves, then a final message with a retry button.
	b := setupPow(t)
	b.api.maxnumber = 2000
	b.api.refuse = 100
	b.open(b.base + "/rooms/demo")
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible("#view-ended"), chromedp.WaitVisible("#rejoin")))
	require.EqualValues(t, 2, b.api.challenges.Load())
	heading, err := chromedp.Run(ctx, chromedp.Text("#heading"))
	require.NoError(t, err)
	require.Contains(t, heading, "check")
}

// fakeJoinAPI is the part of the waiting-room API that room.js meets when a
// room asks for work: joins without a valid solution get 403 pow_required,
// the first `refuse` solutions get pow_invalid, each solution works once.
type fakeJoinAPI struct {
	master    []byte
	maxnumber int
	refuse    int
	late      bool // hand out only challenges whose number is in the top 40% of the range

	challenges atomic.Int32 // handed out

	mu    sync.Mutex
	used  map[string]bool
	joins []string
}

func (a *fakeJoinAPI) register(mux *http.ServeMux) {
	status := `{"ticket":"t1","room":"demo","state":"waiting","position":1,"ahead":0,"waiting":1,"eta_seconds":null}`
	fail := func(w http.ResponseWriter, code int, c string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = fmt.Fprintf(w, `{"error":{"code":%q,"message":"test"}}`, c)
	}
	mux.HandleFunc("POST /api/rooms/demo/tickets", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Pow string `json:"pow"`
		}
		raw, err := io.ReadAll(io.LimitReader(r.Body, 8192))
		a.mu.Lock()
		defer a.mu.Unlock()
		a.joins = append(a.joins, string(raw))
		if err != nil || json.Unmarshal(raw, &body) != nil {
			fail(w, http.StatusBadRequest, "invalid_body")
			return
		}
		if body.Pow == "" {
			fail(w, http.StatusForbidden, "pow_required")
			return
		}
		sol, err := pow.Verify(a.master, "demo", body.Pow, time.Now())
		if err != nil || a.used[sol.ID] || a.refuse > 0 {
			a.refuse--
			fail(w, http.StatusForbidden, "pow_invalid")
			return
		}
		a.used[sol.ID] = true
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(status))
	})
	mux.HandleFunc("GET /api/rooms/demo/challenge", func(w http.ResponseWriter, r *http.Request) {
		ch, err := pow.NewChallenge(a.master, "demo", a.maxnumber, time.Now())
		for a.late && err == nil && testproc.PowNumber(ch) < a.maxnumber*6/10 {
			ch, err = pow.NewChallenge(a.master, "demo", a.maxnumber, time.Now())
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, "internal")
			return
		}
		a.challenges.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ch)
	})
	mux.HandleFunc("GET /api/rooms/demo/tickets/t1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(status))
	})
	// No socket here: the page falls back to polling the status.
	mux.HandleFunc("GET /api/rooms/demo/ws", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "ticket_not_found")
	})
}

func (a *fakeJoinAPI) joinBodies() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.joins)
}

// TestPowSolveTimesInChromium measures the solve time of the page's worker
// at several puzzle sizes (docs/BENCHMARKS.md). Minutes of CPU, so only with
// WAITROOM_POW_BENCH=1; WAITROOM_POW_BENCH_RUNS sets the solves per size
// (default 20) and WAITROOM_POW_BENCH_SIZES the sizes (comma-separated).
func TestPowSolveTimesInChromium(t *testing.T) {
	if os.Getenv("WAITROOM_POW_BENCH") != "1" {
		t.Skip("set WAITROOM_POW_BENCH=1 to measure solve times in Chromium")
	}
	runs := 20
	if s := os.Getenv("WAITROOM_POW_BENCH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		runs = n
	}
	sizes := []int{20_000, 50_000, 100_000, 250_000, 500_000, 1_000_000}
	if s := os.Getenv("WAITROOM_POW_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err)
			sizes = append(sizes, n)
		}
	}
	b := setupPow(t)
	b.open(b.base + "/pow-test")
	// One unmeasured solve warms up the worker code path and WebCrypto.
	warm, err := pow.NewChallenge(b.master, "demo", 20_000, time.Now())
	require.NoError(t, err)
	b.solveInPage(warm, 0, time.Minute)

	var report strings.Builder
	report.WriteString("\n| pow_work (maxnumber) | solves | median | p95 | max | hashes/s |\n|---|---|---|---|---|---|\n")
	for _, size := range sizes {
		var ms []float64
		var hashes, total float64
		for range runs {
			ch, err := pow.NewChallenge(b.master, "demo", size, time.Now())
			require.NoError(t, err)
			got := b.solveInPage(ch, 0, 5*time.Minute)
			require.Empty(t, got.Error)
			_, err = pow.Verify(b.master, "demo", got.Payload, time.Now())
			require.NoError(t, err)
			ms = append(ms, got.Ms)
			hashes += float64(numberOf(t, got.Payload) + 1)
			total += got.Ms
		}
		slices.Sort(ms)
		fmt.Fprintf(&report, "| %d | %d | %.0f ms | %.0f ms | %.0f ms | %.0f |\n",
			size, runs, quantile(ms, 0.5), quantile(ms, 0.95), ms[len(ms)-1], hashes/(total/1000))
	}
	t.Log(report.String())
}

// numberOf reads the number out of a payload that has already verified.
func numberOf(t *testing.T, payload string) int64 {
	t.Helper()
	var p struct {
		Number int64 `json:"number"`
	}
	raw, err := base64.StdEncoding.DecodeString(payload)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &p))
	return p.Number
}

// quantile of sorted xs by linear interpolation between closest ranks.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 1 {
		return xs[0]
	}
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[i] + (pos-float64(i))*(xs[i+1]-xs[i])
}
