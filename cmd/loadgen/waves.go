package main

import (
	"sync"
	"time"
)

// How tick propagation is measured.
//
// A tick moves the head of the line, so every waiting socket gets one
// message: "position" if still waiting, "admitted" if let in. Messages carry
// no tick number, so the detector groups them into waves, one per tick, by
// two facts:
//
//  1. Time: a tick's messages arrive close together, and ticks are
//     interval_ms apart. The first message after a quiet spell starts a
//     wave; a wave is "quiet" (over, for now) after -wave-gap without
//     messages.
//  2. Each socket gets exactly one message per tick, in order (one TCP
//     connection). The detector remembers, per socket, the last wave it had
//     a message in. A message from a socket that already had one in the
//     newest wave starts a new wave, gap or no gap: ticks whose waves
//     overlap are still told apart. A message from a socket that has not had
//     one in the newest wave belongs to the wave after its last one: a
//     straggler that arrives after a quiet spell, or after the next tick
//     began, is credited to its own tick with its full delay, instead of
//     making a wave of its own and hiding the delay.
//
// A wave's clock starts at its first message received here. For each wave
// the report gives the delay of every message from that start (p50, p99) and
// of the last one: "after a tick every socket has its new position within
// 1 s" is about that last one. Across waves it gives p50/p99/max of the
// last-message delays.
//
// Limits, stated in the report too:
//   - The clock starts at the first message received, not at the tick in
//     Redis: the tick script and the pub/sub hop before it (about a
//     millisecond on one host) are not included.
//   - A socket's first position message (on connect, or when the pre-queue
//     opens) is in no wave. A socket whose first message arrives within
//     connectGrace of a wave's start may or may not have that tick in it;
//     until it has had a message inside an open wave it only follows waves:
//     a message of it that comes while no wave is open, less than
//     2×connectGrace after the newest wave began, is not timed
//     ("unplaced"); one that comes later, but sooner than half the room's
//     interval (when -room-config gives it), is that wave's straggler.
//   - Rule 2 assumes every tick reaches every waiting socket, which holds
//     while nobody leaves the line from the middle: this tool never leaves,
//     but a visitor of ours whose socket failed is dropped after
//     abandon_after_s, and that tick moves only the sockets behind them.
//   - The time includes this tool reading and parsing the message: when it
//     shares the CPUs with the server, its own scheduling delays count too.

// connectGrace is how close to a wave's start a socket's first message may
// come before the detector stops trusting which ticks it reflects.
const connectGrace = 500 * time.Millisecond

// histRing is how many of the newest waves keep a histogram, for
// stragglers; older waves keep their percentiles only.
const histRing = 4

// msgKind is what a wave message told its socket.
type msgKind int

const (
	kindPosition msgKind = iota
	kindAdmitted
)

// sockWave is one socket's place in the waves: the index of the last wave it
// had a message in (-1 none yet; unknownWave not known). Guarded by the
// detector's lock.
type sockWave struct{ last int32 }

const unknownWave = -2

// wave is one tick's messages, as received so far.
type wave struct {
	idx        int
	start      time.Time
	last       time.Time
	positions  int
	admissions int
	stragglers int   // messages that came after a quiet spell or a newer wave's start
	waiting    int64 // sockets waiting when the wave began
	h          *hist // delays from start, µs; nil once the wave left the ring
	p50, p99   time.Duration
}

// waveStat is the summary of one wave.
type waveStat struct {
	Index      int           `json:"index"`
	At         time.Duration `json:"-"`
	AtS        float64       `json:"at_s"`
	Positions  int           `json:"positions"`
	Admissions int           `json:"admissions"`
	Stragglers int           `json:"stragglers"`
	// Waiting is how many sockets were waiting when the wave began: a tick
	// sends each one a message, so Coverage (messages / Waiting) is 1 for a
	// tick that reached every socket.
	Waiting  int64         `json:"waiting_sockets"`
	Coverage float64       `json:"coverage"`
	P50      time.Duration `json:"-"`
	P99      time.Duration `json:"-"`
	Last     time.Duration `json:"-"`
	P50MS    float64       `json:"p50_ms"`
	P99MS    float64       `json:"p99_ms"`
	LastMS   float64       `json:"last_ms"`
	// The wave's first and last message on the wall clock, so that the
	// waves of several loadgen processes line up with each other and with
	// the tick's time in Redis (scripts/load/sockets-many.sh).
	StartUnixMS float64 `json:"start_unix_ms"`
	LastUnixMS  float64 `json:"last_unix_ms"`
}

// recentFirst is a socket's first message, remembered for connectGrace.
type recentFirst struct {
	t time.Time
	s *sockWave
}

// waveDetector groups socket messages into waves. Safe for concurrent use:
// every socket's reader calls it.
type waveDetector struct {
	gap time.Duration
	// apart is how soon after a wave's start the next tick's wave can come:
	// half the room's interval (0: unknown).
	apart   time.Duration
	now     func() time.Time
	origin  time.Time
	waiting func() int64      // sockets waiting now
	onQuiet func(ws waveStat) // called when the newest wave goes quiet, outside the lock

	mu       sync.Mutex
	waves    []*wave
	open     bool // the newest wave has had a message within the gap
	recent   []recentFirst
	all      hist // every placed message's delay from its wave's start
	unplaced int
}

func newWaveDetector(gap time.Duration, now func() time.Time, waiting func() int64) *waveDetector {
	if now == nil {
		now = time.Now
	}
	if waiting == nil {
		waiting = func() int64 { return 0 }
	}
	return &waveDetector{gap: gap, now: now, origin: now(), waiting: waiting}
}

// First notes a socket's first message (sent on connect): it reflects every
// tick before it, and is in no wave.
func (d *waveDetector) First(s *sockWave) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.now()
	n := len(d.waves)
	s.last = int32(n - 1)
	if n > 0 && t.Sub(d.waves[n-1].start) < connectGrace {
		s.last = unknownWave
	}
	i := 0
	for i < len(d.recent) && t.Sub(d.recent[i].t) >= connectGrace {
		i++
	}
	d.recent = append(d.recent[i:], recentFirst{t, s})
}

// Record places a socket's message (after its first) in its wave and
// returns the wave's index, or -1 when the message could not be placed.
func (d *waveDetector) Record(kind msgKind, s *sockWave) int {
	d.mu.Lock()
	t := d.now()
	var quiet *waveStat
	n := len(d.waves)
	var cur *wave
	if n > 0 {
		cur = d.waves[n-1]
	}
	if cur != nil && d.open && t.Sub(cur.last) >= d.gap {
		d.open = false
		ws := d.statLocked(cur)
		quiet = &ws
	}
	wasOpen := d.open
	var w *wave
	switch {
	case cur == nil:
		w = d.startLocked(t)
	case s.last == unknownWave:
		switch since := t.Sub(cur.start); {
		case d.open:
			w = cur
		case since < 2*connectGrace:
			// Soon after the wave began: which ticks it reflects is unknown.
		case since < d.apart:
			// Too soon for the next tick: a straggler of this one. As a new
			// wave it would take the next tick's messages of every socket
			// that had this one, and every wave after would end a tick late.
			w = cur
			w.stragglers++
			d.open = true
		default:
			// Long after the newest wave began: a new tick. (Without this,
			// sockets that all connected around one wave would never start
			// another.)
			w = d.startLocked(t)
		}
	case int(s.last) >= cur.idx:
		w = d.startLocked(t) // it had the newest wave: this is a new tick
	default:
		w = d.waves[s.last+1]
		if w != cur || !wasOpen {
			w.stragglers++
		}
		if w == cur {
			d.open = true // a straggler after a quiet spell reopens the wave
		}
	}
	idx := -1
	if w == nil {
		d.unplaced++
	} else {
		us := t.Sub(w.start).Microseconds()
		if w.h != nil {
			w.h.record(us)
		}
		d.all.record(us)
		if t.After(w.last) {
			w.last = t
		}
		if kind == kindAdmitted {
			w.admissions++
		} else {
			w.positions++
		}
		s.last = int32(w.idx)
		idx = w.idx
	}
	d.mu.Unlock()
	if quiet != nil && d.onQuiet != nil {
		d.onQuiet(*quiet)
	}
	return idx
}

func (d *waveDetector) startLocked(t time.Time) *wave {
	n := len(d.waves)
	w := &wave{idx: n, start: t, last: t, waiting: d.waiting(), h: new(hist)}
	d.waves = append(d.waves, w)
	d.open = true
	if old := n - histRing; old >= 0 {
		o := d.waves[old]
		o.p50, o.p99 = usDur(o.h.quantile(0.50)), usDur(o.h.quantile(0.99))
		o.h = nil
	}
	// A socket whose first message came just before this wave began may
	// already reflect this tick, or not.
	for _, r := range d.recent {
		if t.Sub(r.t) < connectGrace {
			r.s.last = unknownWave
		}
	}
	return w
}

// Flush marks the newest wave quiet if it has had no message for the gap,
// or at once when force is set (at the end of the run).
func (d *waveDetector) Flush(force bool) {
	d.mu.Lock()
	n := len(d.waves)
	if !d.open || n == 0 || (!force && d.now().Sub(d.waves[n-1].last) < d.gap) {
		d.mu.Unlock()
		return
	}
	d.open = false
	ws := d.statLocked(d.waves[n-1])
	d.mu.Unlock()
	if d.onQuiet != nil {
		d.onQuiet(ws)
	}
}

func usDur(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

func (d *waveDetector) statLocked(w *wave) waveStat {
	ws := waveStat{
		Index:      w.idx,
		At:         w.start.Sub(d.origin),
		Positions:  w.positions,
		Admissions: w.admissions,
		Stragglers: w.stragglers,
		Waiting:    w.waiting,
		P50:        w.p50,
		P99:        w.p99,
		Last:       w.last.Sub(w.start),
	}
	if w.h != nil {
		ws.P50, ws.P99 = usDur(w.h.quantile(0.50)), usDur(w.h.quantile(0.99))
	}
	ws.AtS = float64(ws.At.Milliseconds()) / 1000
	ws.StartUnixMS, ws.LastUnixMS = float64(w.start.UnixMicro())/1000, float64(w.last.UnixMicro())/1000
	ws.P50MS, ws.P99MS, ws.LastMS = usToMS(ws.P50.Microseconds()), usToMS(ws.P99.Microseconds()), usToMS(ws.Last.Microseconds())
	if ws.Waiting > 0 {
		ws.Coverage = float64(ws.Positions+ws.Admissions) / float64(ws.Waiting)
	}
	return ws
}

// State reports how many waves have begun and whether the newest is under
// way (had a message within the gap).
func (d *waveDetector) State() (started int, open bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.waves), d.open
}

// Quiet reports how long no wave message has arrived (since the detector
// began when none has).
func (d *waveDetector) Quiet() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.waves) == 0 {
		return d.now().Sub(d.origin)
	}
	return d.now().Sub(d.waves[len(d.waves)-1].last)
}

// Waves returns every wave's summary, the distribution of every placed
// message's delay from its wave's start, and how many messages could not be
// placed.
func (d *waveDetector) Waves() ([]waveStat, Dist, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]waveStat, len(d.waves))
	for i, w := range d.waves {
		out[i] = d.statLocked(w)
	}
	return out, d.all.dist(), d.unplaced
}
