package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// drainWait is how long the end of a run waits for a tick wave under way to
// finish before closing the sockets, so the order check does not see half a
// wave.
const drainWait = time.Second

// runner is one run: its visitors, clients and measurements.
type runner struct {
	cfg     config
	log     io.Writer
	start   time.Time
	sources []*source
	nofile  uint64

	visitors []visitor
	waves    *waveDetector
	rss      *rssWatch
	httpSem  chan struct{}
	dialSem  chan struct{}
	// interval is the room's tick interval as -room-config set it (0: not
	// set here), which tells the wave detector how soon a tick can follow.
	interval time.Duration

	joinLat, statusLat, dialLat          syncHist
	seatsLat, holdLat, bookLat, checkLat syncHist
	errs, retries, notes                 counters

	joinsOK, joinsFailed         atomic.Int64
	firstSent, lastDone          atomic.Int64 // ns since start
	socketsOpened, socketsOpen   atomic.Int64
	socketsPeak                  atomic.Int64
	waiting                      atomic.Int64 // sockets whose visitor waits
	positionMsgs                 atomic.Int64
	admitted, admittedAtJoin     atomic.Int64
	admittedOnConnect            atomic.Int64
	dupVisitors, dupMsgs         atomic.Int64
	settled                      atomic.Int64
	statusReqs                   atomic.Int64
	booked, bookFailed           atomic.Int64
	exactChecked, exactMismatch  atomic.Int64
	exactInconclusive, exactLate atomic.Int64
	lateHist                     syncHist // how long a late socket took to catch up, from the check
	mismatchExamples             counters

	self     SelfMem     // taken with the sockets still open
	closing  atomic.Bool // the run is closing the sockets: their end is no error
	sampling atomic.Bool
	readers  sync.WaitGroup // socket readers
	bg       sync.WaitGroup // status polls, bookings, samples
}

func newRunner(cfg config, log io.Writer) (*runner, error) {
	r := &runner{cfg: cfg, log: log}
	var err error
	r.nofile, err = raiseNoFile()
	if err != nil {
		fmt.Fprintln(log, "loadgen: cannot raise RLIMIT_NOFILE:", err)
	}
	need := uint64(2*cfg.Concurrency + 100)
	if cfg.Sockets {
		need += uint64(cfg.Visitors)
	}
	fmt.Fprintf(log, "loadgen: RLIMIT_NOFILE %d (this run needs about %d)\n", r.nofile, need)
	if r.nofile < need {
		return nil, fmt.Errorf("RLIMIT_NOFILE is %d, below the %d open files this run needs (visitors + 2×concurrency + 100): raise the hard limit (ulimit -Hn, LimitNOFILE, /etc/security/limits.conf) or run fewer visitors", r.nofile, need)
	}

	conns := 2 * cfg.Concurrency
	if cfg.Sockets {
		conns += cfg.Visitors
	}
	ports := ephemeralPorts()
	n := cfg.SourceIPs
	if n == 0 {
		n = autoSourceIPs(conns, ports)
	}
	v6 := false
	if ip, err := netip.ParseAddr(cfg.URL.Hostname()); err == nil && ip.Is6() && !ip.Is4In6() {
		v6 = true
	}
	if bk, err := netip.ParseAddr(cfg.BookingURL.Hostname()); err == nil && bk.Is6() && !bk.Is4In6() {
		v6 = true
	}
	if v6 && n > 1 {
		return nil, fmt.Errorf("the target is IPv6 (::1), which has one loopback address: use 127.0.0.1 to spread over -source-ips %d", n)
	}
	if per := (conns + n - 1) / n; per > usablePorts(ports) {
		fmt.Fprintf(log, "loadgen: warning: about %d connections per source address, %d local ports each: raise -source-ips\n", per, ports)
	}
	perSource := cfg.Concurrency/n + 2
	first := max(cfg.SourceIPFirst, 1)
	if first+n-1 > maxSourceIPs {
		return nil, fmt.Errorf("-source-ip-first %d with %d source addresses goes past 127.0.0.%d", first, n, maxSourceIPs)
	}
	for _, a := range sourceAddrs(first, n) {
		r.sources = append(r.sources, newSource(a, n > 1 || first != 1, perSource, cfg.HTTPTimeout))
	}

	if cfg.ServerPID == 0 {
		port := cfg.URL.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[cfg.URL.Scheme]
		}
		p, _ := strconv.Atoi(port)
		if pid, err := findListener(p); err == nil {
			cfg.ServerPID = pid
			r.cfg.ServerPID = pid
		} else {
			fmt.Fprintln(log, "loadgen: server memory not watched:", err)
		}
	}
	r.rss = &rssWatch{pid: cfg.ServerPID}
	r.httpSem = make(chan struct{}, cfg.Concurrency)
	r.dialSem = make(chan struct{}, cfg.Concurrency)
	r.visitors = make([]visitor, cfg.Visitors)
	for i := range r.visitors {
		r.visitors[i].lastPos.Store(-1)
		r.visitors[i].admitWave.Store(-1)
		r.visitors[i].wave.last = unknownWave // until its first position message
	}
	return r, nil
}

// since is the time since the run began.
func (r *runner) since() time.Duration { return time.Since(r.start) }

// Run does the run and returns its summary.
func (r *runner) Run(ctx context.Context) *Summary {
	roomBefore := r.roomInfo(ctx)

	r.start = time.Now()
	r.waves = newWaveDetector(r.cfg.WaveGap, nil, r.waiting.Load)
	r.waves.apart = r.interval / 2
	r.waves.onQuiet = func(ws waveStat) { r.checkExact(ctx, ws) }
	runCtx, cancel := context.WithTimeout(ctx, r.cfg.Duration)
	defer cancel()

	monCtx, stopMon := context.WithCancel(context.Background())
	monDone := make(chan struct{})
	go func() { defer close(monDone); r.monitor(monCtx) }()

	fmt.Fprintf(r.log, "loadgen: %d visitors → %s room %q, %d source address(es), concurrency %d, rate %s\n",
		r.cfg.Visitors, r.cfg.URL, r.cfg.Room, len(r.sources), r.cfg.Concurrency, rateText(r.cfg.Rate))
	r.joinAll(runCtx)
	joinEnd := r.since()
	stopped := r.hold(runCtx)
	holdEnd := r.since()

	// Let a wave under way finish, take the last memory sample while the
	// sockets are still open, then close them.
	deadline := time.Now().Add(drainWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, open := r.waves.State(); !open && r.waves.Quiet() >= r.cfg.WaveGap {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.waves.Flush(true)
	r.rss.sample()
	held := r.socketsOpen.Load()
	r.self = selfMem()
	order := r.orderCheck()
	r.closeSockets()
	stopMon()
	<-monDone
	waitTimeout(&r.readers, 5*time.Second)
	cancel() // ends polls and bookings still under way
	waitTimeout(&r.bg, r.cfg.HTTPTimeout+time.Second)

	return r.summary(stopped, joinEnd, holdEnd, held, order, roomBefore, r.roomInfo(ctx))
}

// joinAll joins every visitor, at the set rate, with at most Concurrency
// joins in flight, and starts its socket and status polls.
func (r *runner) joinAll(ctx context.Context) {
	jobs := make(chan int, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r.visit(ctx, i)
			}
		}()
	}
	start := time.Now()
feed:
	for i := range r.visitors {
		if r.cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / r.cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-ctx.Done():
					break feed
				case <-time.After(d):
				}
			}
		}
		select {
		case <-ctx.Done():
			break feed
		case jobs <- i:
		}
	}
	close(jobs)
	wg.Wait()
}

// hold waits until every joined visitor has settled (admitted, and booked
// with -book; or its socket ended), or -hold or -duration runs out, and
// says which.
func (r *runner) hold(ctx context.Context) string {
	var holdC <-chan time.Time
	if r.cfg.Hold > 0 {
		t := time.NewTimer(r.cfg.Hold)
		defer t.Stop()
		holdC = t.C
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if r.settled.Load() >= r.joinsOK.Load() {
			if ctx.Err() != nil && r.joinsOK.Load()+r.joinsFailed.Load() < int64(r.cfg.Visitors) {
				return "-duration ended while joining"
			}
			return "every visitor settled (admitted, booked or gone)"
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return "-duration ended"
			}
			return "interrupted"
		case <-holdC:
			return "-hold ended"
		case <-tick.C:
		}
	}
}

// monitor closes quiet waves, samples memory and prints progress.
func (r *runner) monitor(ctx context.Context) {
	flush := time.NewTicker(max(r.cfg.WaveGap/4, 5*time.Millisecond))
	defer flush.Stop()
	mem := time.NewTicker(time.Second)
	defer mem.Stop()
	var progress <-chan time.Time
	if r.cfg.Progress > 0 {
		t := time.NewTicker(r.cfg.Progress)
		defer t.Stop()
		progress = t.C
	}
	r.rss.sample()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			r.waves.Flush(false)
		case <-mem.C:
			r.rss.sample()
		case <-progress:
			r.printProgress()
		}
	}
}

func (r *runner) printProgress() {
	waves, _, _ := r.waves.Waves()
	last := "-"
	if len(waves) > 0 {
		last = fmtMS(waves[len(waves)-1].LastMS)
	}
	_, nerr := r.errs.Snapshot()
	m := r.rss.report()
	srv := "?"
	if m.PID > 0 && m.Samples > 0 {
		srv = fmt.Sprintf("%.0f MiB", m.LastMiB)
	}
	fmt.Fprintf(r.log, "loadgen: %5.1fs joined %d/%d, sockets %d, waiting %d, admitted %d, waves %d (last %s), errors %d, server RSS %s, loadgen RSS %.0f MiB\n",
		r.since().Seconds(), r.joinsOK.Load(), r.cfg.Visitors, r.socketsOpen.Load(), r.waiting.Load(),
		r.admitted.Load(), len(waves), last, nerr, srv, m.LoadgenPeak)
}

// closeSockets closes every client socket with a close frame.
func (r *runner) closeSockets() {
	r.closing.Store(true)
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(r.visitors); i += workers {
				if c := r.visitors[i].conn.Load(); c != nil {
					closeConn(c)
				}
			}
		}()
	}
	wg.Wait()
}

func closeConn(c *websocket.Conn) {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "load test over")
	_ = c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(100*time.Millisecond))
	_ = c.Close()
}

// orderCheck gathers the join records the order check can use.
func (r *runner) orderCheck() orderResult {
	recs := make([]joinRec, 0, len(r.visitors))
	for i := range r.visitors {
		v := &r.visitors[i]
		if v.done == 0 || !r.cfg.Sockets {
			continue
		}
		rec := joinRec{sent: v.sent, done: v.done, pre: v.pre.Load()}
		switch w := v.admitWave.Load(); {
		case v.admittedCount.Load() > 0 && w >= 0:
			rec.wave = int(w)
		case v.admittedCount.Load() > 0:
			continue // admitted at join or on connect: no wave
		case v.conn.Load() != nil && !v.ended.Load():
			rec.wave = stillWaiting
		default:
			continue
		}
		recs = append(recs, rec)
	}
	return checkOrder(recs)
}

// checkExact compares, after a wave has gone quiet, a sample of waiting
// sockets' last position with what a status request says. A wave that
// begins during the comparison makes it inconclusive. A socket that is
// behind is given up to lateWait to catch up: if it does, its message was
// late (a straggler the wave count already credits to its tick); if not,
// the socket missed its update, and that is an error.
func (r *runner) checkExact(ctx context.Context, ws waveStat) {
	if r.cfg.CheckSample == 0 || ws.Positions == 0 || r.closing.Load() || ctx.Err() != nil ||
		!r.sampling.CompareAndSwap(false, true) {
		return
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		defer r.sampling.Store(false)
		n := len(r.visitors)
		for picked, tries := 0, 0; picked < r.cfg.CheckSample && tries < 20*r.cfg.CheckSample; tries++ {
			v := &r.visitors[rand.IntN(n)]
			pos := v.lastPos.Load()
			if pos <= 0 || v.admittedCount.Load() > 0 || v.ended.Load() || v.conn.Load() == nil {
				continue
			}
			picked++
			before, open := r.waves.State()
			if open {
				r.exactInconclusive.Add(1)
				continue
			}
			st, err := r.status(ctx, v)
			after, open := r.waves.State()
			switch {
			case err != nil || after != before || open || v.lastPos.Load() != pos:
				r.exactInconclusive.Add(1)
			case st.State == "waiting" && st.Position != nil && *st.Position == pos:
				r.exactChecked.Add(1)
			default:
				r.exactChecked.Add(1)
				r.settleMismatch(ctx, v, ws.Index, before, pos, st)
			}
		}
	}()
}

// lateWait is how long a socket found behind its status may take to catch up
// before it counts as having missed its update.
const lateWait = time.Second

func (r *runner) settleMismatch(ctx context.Context, v *visitor, wave, started int, pos int64, st ticketStatus) {
	caughtUp := func() bool {
		if st.State == "admitted" {
			return v.admittedCount.Load() > 0
		}
		return st.Position != nil && v.lastPos.Load() == *st.Position
	}
	t0 := time.Now()
	for time.Since(t0) < lateWait && ctx.Err() == nil {
		if caughtUp() {
			r.exactLate.Add(1)
			r.lateHist.Record(time.Since(t0))
			return
		}
		if now, _ := r.waves.State(); now != started {
			r.exactInconclusive.Add(1)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	if caughtUp() {
		r.exactLate.Add(1)
		return
	}
	r.exactMismatch.Add(1)
	r.errs.Add("exactness: socket missed its update (status differs for 1 s after its wave)")
	got := st.State
	if st.Position != nil {
		got += " " + strconv.FormatInt(*st.Position, 10)
	}
	r.mismatchExamples.Add(fmt.Sprintf("wave %d: socket says %d, status says %s", wave, pos, got))
}

// putRoomConfig applies -room-config, if given, through the operator API.
func (r *runner) putRoomConfig(ctx context.Context) error {
	if r.cfg.RoomConfig == "" {
		return nil
	}
	u := *r.cfg.URL
	u.Path += "/api/admin/rooms/" + r.cfg.Room
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewBufferString(r.cfg.RoomConfig))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.cfg.AdminToken)
	resp, err := r.sources[0].http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %d %s", u.Path, resp.StatusCode, bytes.TrimSpace(body))
	}
	fmt.Fprintf(r.log, "loadgen: room %q configured: %s\n", r.cfg.Room, bytes.TrimSpace(body))
	var put struct {
		Config struct {
			IntervalMS int64 `json:"interval_ms"`
		} `json:"config"`
	}
	if json.Unmarshal(body, &put) == nil {
		r.interval = time.Duration(put.Config.IntervalMS) * time.Millisecond
	}
	return nil
}

// RoomInfo is GET /api/rooms/{room}.
type RoomInfo struct {
	State             string  `json:"state"`
	Waiting           int64   `json:"waiting"`
	Admitted          int64   `json:"admitted"`
	Capacity          int64   `json:"capacity"`
	AdmittedPerMinute float64 `json:"admitted_per_minute"`
	Error             string  `json:"error,omitempty"`
}

func (r *runner) roomInfo(ctx context.Context) *RoomInfo {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.HTTPTimeout)
	defer cancel()
	u := *r.cfg.URL
	u.Path += "/api/rooms/" + r.cfg.Room
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	resp, err := r.sources[0].http.Do(req)
	if err != nil {
		return &RoomInfo{Error: err.Error()}
	}
	defer resp.Body.Close()
	var info RoomInfo
	if resp.StatusCode != http.StatusOK {
		return &RoomInfo{Error: resp.Status + ": " + apiErrorCode(resp)}
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return &RoomInfo{Error: err.Error()}
	}
	return &info
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

func rateText(rate float64) string {
	if rate == 0 {
		return "as fast as possible"
	}
	return strconv.FormatFloat(rate, 'f', -1, 64) + "/s"
}
