package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"time"
)

// waveMethod is the measurement method, printed with the figures.
const waveMethod = "one wave per tick: a wave starts with the first message after a quiet spell of -wave-gap, or with a message " +
	"to a socket that already had one in the newest wave (each socket gets one message per tick, in order); a socket's message " +
	"belongs to the wave after its last one, so a late message counts for its own tick (a 'straggler'). Time runs at this client " +
	"from the wave's first message to each socket's; 'last' is the wave's last socket. The tick's Redis script and pub/sub hop " +
	"before the first message are not included; this tool's own scheduling delays are"

// Summary is the result of a run (the -json output).
type Summary struct {
	Target     string    `json:"target"`
	Room       string    `json:"room"`
	Visitors   int       `json:"visitors"`
	Sockets    bool      `json:"sockets"`
	SourceIPs  int       `json:"source_ips"`
	NoFile     uint64    `json:"rlimit_nofile"`
	Stopped    string    `json:"stopped"`
	ElapsedS   float64   `json:"elapsed_s"`
	JoiningS   float64   `json:"joining_s"`
	HoldingS   float64   `json:"holding_s"`
	RoomBefore *RoomInfo `json:"room_before,omitempty"`
	RoomAfter  *RoomInfo `json:"room_after,omitempty"`

	Joins struct {
		OK        int64   `json:"ok"`
		Failed    int64   `json:"failed"`
		PerSecond float64 `json:"per_second"`
		Latency   Dist    `json:"latency"`
	} `json:"joins"`
	Status Dist `json:"status_latency"`

	Socket struct {
		Opened      int64 `json:"opened"`
		Peak        int64 `json:"peak_held"`
		HeldAtEnd   int64 `json:"held_at_end"`
		EndedEarly  int64 `json:"ended_before_admission"`
		Handshake   Dist  `json:"handshake_latency"`
		PositionMsg int64 `json:"position_messages"`
	} `json:"sockets_stats"`

	Ticks struct {
		Method    string     `json:"method"`
		Waves     int        `json:"waves"`
		ToLast    Dist       `json:"time_to_last_socket"` // over waves
		PerSocket Dist       `json:"per_socket"`          // every wave message
		Coverage  [2]float64 `json:"coverage_min_max"`
		List      []waveStat `json:"waves_list"`
		Unplaced  int        `json:"unplaced_messages"`
	} `json:"ticks"`

	Exactness struct {
		Checked      int64    `json:"checked"`
		Late         int64    `json:"late"`
		LateCatchUp  Dist     `json:"late_catch_up"`
		Mismatched   int64    `json:"mismatched"`
		Inconclusive int64    `json:"inconclusive"`
		Examples     []string `json:"examples,omitempty"`
	} `json:"exactness"`

	Admissions struct {
		Admitted        int64       `json:"admitted"`
		AtJoin          int64       `json:"at_join"`
		OnConnect       int64       `json:"on_connect"`
		DupVisitors     int64       `json:"duplicated_visitors"`
		DupMessages     int64       `json:"duplicate_messages"`
		Order           orderResult `json:"order"`
		StillWaitingEnd int64       `json:"still_waiting_at_end"`
	} `json:"admissions"`

	Booking *BookingStats `json:"booking,omitempty"`

	Errors      map[string]int64 `json:"errors"`
	ErrorsTotal int64            `json:"errors_total"`
	Retries     map[string]int64 `json:"retries,omitempty"`
	Notes       map[string]int64 `json:"notes,omitempty"`
	Server      ServerRSS        `json:"server_memory"`
	Loadgen     SelfMem          `json:"loadgen_memory"`
	Failures    []string         `json:"failures"`
}

// BookingStats is the booking part of the summary (-book).
type BookingStats struct {
	Booked   int64 `json:"booked"`
	Failed   int64 `json:"failed"`
	Seats    Dist  `json:"seats_latency"`
	Hold     Dist  `json:"hold_latency"`
	Book     Dist  `json:"book_latency"`
	Checkout Dist  `json:"checkout_latency"`
}

// maxListedWaves bounds the waves kept in the JSON output.
const maxListedWaves = 10000

func (r *runner) summary(stopped string, joinEnd, holdEnd time.Duration, held int64, order orderResult, before, after *RoomInfo) *Summary {
	s := &Summary{Target: r.cfg.URL.String(), Room: r.cfg.Room, Visitors: r.cfg.Visitors, Sockets: r.cfg.Sockets,
		SourceIPs: len(r.sources), NoFile: r.nofile, Stopped: stopped, RoomBefore: before, RoomAfter: after}
	s.ElapsedS = secs(r.since())
	s.JoiningS = secs(joinEnd)
	s.HoldingS = secs(holdEnd - joinEnd)

	s.Joins.OK, s.Joins.Failed = r.joinsOK.Load(), r.joinsFailed.Load()
	if span := time.Duration(r.lastDone.Load() - r.firstSent.Load()); span > 0 && s.Joins.OK > 0 {
		s.Joins.PerSecond = math.Round(float64(s.Joins.OK)/span.Seconds()*10) / 10
	}
	s.Joins.Latency = r.joinLat.Dist()
	s.Status = r.statusLat.Dist()

	s.Socket.Opened, s.Socket.Peak, s.Socket.HeldAtEnd = r.socketsOpened.Load(), r.socketsPeak.Load(), held
	for i := range r.visitors {
		v := &r.visitors[i]
		if v.conn.Load() != nil && v.ended.Load() && v.admittedCount.Load() == 0 {
			s.Socket.EndedEarly++
		}
		if v.conn.Load() != nil && !v.ended.Load() && v.admittedCount.Load() == 0 {
			s.Admissions.StillWaitingEnd++
		}
	}
	s.Socket.Handshake = r.dialLat.Dist()
	s.Socket.PositionMsg = r.positionMsgs.Load()

	waves, per, unplaced := r.waves.Waves()
	s.Ticks.Method = waveMethod
	s.Ticks.Waves = len(waves)
	s.Ticks.PerSocket = per
	s.Ticks.Unplaced = unplaced
	lasts := make([]time.Duration, len(waves))
	s.Ticks.Coverage = [2]float64{math.Inf(1), 0}
	for i, w := range waves {
		lasts[i] = w.Last
		if w.Waiting > 0 {
			s.Ticks.Coverage[0] = math.Min(s.Ticks.Coverage[0], w.Coverage)
			s.Ticks.Coverage[1] = math.Max(s.Ticks.Coverage[1], w.Coverage)
		}
	}
	if math.IsInf(s.Ticks.Coverage[0], 1) {
		s.Ticks.Coverage[0] = 0
	}
	s.Ticks.ToLast = distOf(lasts)
	s.Ticks.List = waves[:min(len(waves), maxListedWaves)]

	s.Exactness.Checked, s.Exactness.Mismatched, s.Exactness.Inconclusive =
		r.exactChecked.Load(), r.exactMismatch.Load(), r.exactInconclusive.Load()
	s.Exactness.Late, s.Exactness.LateCatchUp = r.exactLate.Load(), r.lateHist.Dist()
	ex, _ := r.mismatchExamples.Snapshot()
	for k := range ex {
		s.Exactness.Examples = append(s.Exactness.Examples, k)
	}
	sort.Strings(s.Exactness.Examples)
	s.Exactness.Examples = s.Exactness.Examples[:min(len(s.Exactness.Examples), 5)]

	a := &s.Admissions
	a.Admitted, a.AtJoin, a.OnConnect = r.admitted.Load(), r.admittedAtJoin.Load(), r.admittedOnConnect.Load()
	a.DupVisitors, a.DupMessages, a.Order = r.dupVisitors.Load(), r.dupMsgs.Load(), order

	if r.cfg.Book {
		s.Booking = &BookingStats{r.booked.Load(), r.bookFailed.Load(), r.seatsLat.Dist(), r.holdLat.Dist(), r.bookLat.Dist(), r.checkLat.Dist()}
	}

	s.Errors, s.ErrorsTotal = r.errs.Snapshot()
	s.Retries, _ = r.retries.Snapshot()
	s.Notes, _ = r.notes.Snapshot()
	s.Server = r.rss.report()
	s.Loadgen = r.self
	s.Loadgen.RSSPeakMiB = s.Server.LoadgenPeak

	fail := func(f string, args ...any) { s.Failures = append(s.Failures, fmt.Sprintf(f, args...)) }
	if a.DupVisitors > 0 {
		fail("%d visitors got more than one admitted message", a.DupVisitors)
	}
	if a.Order.Inversions > 0 {
		fail("%d admissions out of join order (admitted by an earlier tick than someone who joined before them)", a.Order.Inversions)
	}
	if a.Order.OvertookWaiting > 0 {
		fail("%d admissions overtook a visitor who joined earlier and still waited at the end", a.Order.OvertookWaiting)
	}
	if s.ErrorsTotal > r.cfg.MaxErrors {
		fail("%d errors, more than -max-errors %d", s.ErrorsTotal, r.cfg.MaxErrors)
	}
	if r.cfg.MaxTickP99 > 0 && s.Ticks.ToLast.P99 > float64(r.cfg.MaxTickP99.Microseconds())/1000 {
		fail("tick propagation p99 %s over -max-tick-p99 %s", fmtMS(s.Ticks.ToLast.P99), r.cfg.MaxTickP99)
	}
	if r.cfg.MaxServerRSSMiB > 0 {
		switch {
		case s.Server.Samples == 0:
			fail("-max-server-rss-mib given but the server's memory could not be read")
		case s.Server.PeakMiB > r.cfg.MaxServerRSSMiB:
			fail("server RSS peak %.1f MiB over -max-server-rss-mib %.0f", s.Server.PeakMiB, r.cfg.MaxServerRSSMiB)
		}
	}
	if s.Failures == nil {
		s.Failures = []string{}
	}
	return s
}

func secs(d time.Duration) float64 { return math.Round(d.Seconds()*100) / 100 }

func fmtMS(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.1fms", ms)
}

func fmtDist(d Dist) string {
	if d.N == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %s  p99 %s  max %s  (n=%d)", fmtMS(d.P50), fmtMS(d.P99), fmtMS(d.Max), d.N)
}

// WriteText prints the summary for a person.
func (s *Summary) WriteText(w io.Writer) {
	p := func(f string, args ...any) { fmt.Fprintf(w, f+"\n", args...) }
	sock := "off"
	if s.Sockets {
		sock = "on"
	}
	p("== loadgen summary: %d visitors → %s room %q (sockets %s, %d source address(es), RLIMIT_NOFILE %d)",
		s.Visitors, s.Target, s.Room, sock, s.SourceIPs, s.NoFile)
	p("stopped      %s, after %.1fs (joining %.1fs, then %.1fs)", s.Stopped, s.ElapsedS, s.JoiningS, s.HoldingS)
	for _, ri := range []struct {
		name string
		info *RoomInfo
	}{{"room before", s.RoomBefore}, {"room after", s.RoomAfter}} {
		switch {
		case ri.info == nil:
		case ri.info.Error != "":
			p("%-12s %s", ri.name, ri.info.Error)
		default:
			p("%-12s %s, %d waiting, %d admitted, capacity %d, %.0f admitted/min", ri.name, ri.info.State,
				ri.info.Waiting, ri.info.Admitted, ri.info.Capacity, ri.info.AdmittedPerMinute)
		}
	}
	p("joins        %d ok, %d failed, %.1f/s; latency %s", s.Joins.OK, s.Joins.Failed, s.Joins.PerSecond, fmtDist(s.Joins.Latency))
	p("status       latency %s (status polls and exactness checks)", fmtDist(s.Status))
	if s.Sockets {
		p("sockets      %d opened, %d held at peak, %d held at the end, %d ended before admission; handshake %s",
			s.Socket.Opened, s.Socket.Peak, s.Socket.HeldAtEnd, s.Socket.EndedEarly, fmtDist(s.Socket.Handshake))
		p("ticks        %d waves, %d position messages; time from a wave's first message to its last socket:", s.Ticks.Waves, s.Socket.PositionMsg)
		p("               over waves  %s", fmtDist(s.Ticks.ToLast))
		p("               per socket  %s", fmtDist(s.Ticks.PerSocket))
		var strag int
		for _, w := range s.Ticks.List {
			strag += w.Stragglers
		}
		p("               stragglers (messages after their wave went quiet or the next began) %d; unplaced (socket too new to tell its tick) %d",
			strag, s.Ticks.Unplaced)
		if s.Ticks.Coverage[1] > 0 {
			p("               coverage (messages / sockets waiting at the wave's start) %.1f%%–%.1f%%",
				100*s.Ticks.Coverage[0], 100*s.Ticks.Coverage[1])
		}
		p("               method: %s", s.Ticks.Method)
		writeWaves(w, s.Ticks.List)
		p("exactness    %d sockets compared with a status request after their wave went quiet: %d late (caught up within 1 s: %s), %d missed their update, %d inconclusive (a wave came meanwhile)",
			s.Exactness.Checked, s.Exactness.Late, fmtDist(s.Exactness.LateCatchUp), s.Exactness.Mismatched, s.Exactness.Inconclusive)
		for _, e := range s.Exactness.Examples {
			p("               %s", e)
		}
		a := s.Admissions
		p("admissions   %d admitted (%d at join, %d on connect), %d still waiting at the end; duplicated: %d visitors (%d extra messages)",
			a.Admitted, a.AtJoin, a.OnConnect, a.StillWaitingEnd, a.DupVisitors, a.DupMessages)
		p("order        %d admissions compared with every join that completed before theirs was sent: %d inversions, %d overtook a still-waiting visitor",
			a.Order.Compared, a.Order.Inversions, a.Order.OvertookWaiting)
	}
	if b := s.Booking; b != nil {
		p("booking      %d booked, %d failed; seats %s", b.Booked, b.Failed, fmtDist(b.Seats))
		p("               hold %s; book %s; checkout %s", fmtDist(b.Hold), fmtDist(b.Book), fmtDist(b.Checkout))
	}
	writeCounts(w, "errors", s.Errors, "none")
	writeCounts(w, "retries", s.Retries, "")
	writeCounts(w, "notes", s.Notes, "")
	m := s.Server
	switch {
	case m.PID == 0:
		p("server       memory not watched (pass -server-pid)")
	case m.Samples == 0:
		p("server       pid %d: memory not readable: %s", m.PID, m.Error)
	default:
		p("server       pid %d: RSS peak %.1f MiB (sampled every second, %d samples), %.1f MiB at the end of holding; VmHWM %.1f MiB (the process's lifetime peak)",
			m.PID, m.PeakMiB, m.Samples, m.LastMiB, m.HWMMiB)
	}
	p("loadgen      RSS peak %.1f MiB; at the end of holding: heap %.1f MiB, stacks %.1f MiB, %d goroutines",
		s.Loadgen.RSSPeakMiB, s.Loadgen.HeapMiB, s.Loadgen.StacksMiB, s.Loadgen.Goroutines)
	if len(s.Failures) == 0 {
		p("result       OK")
		return
	}
	for _, f := range s.Failures {
		p("result       FAIL: %s", f)
	}
}

// writeWaves lists the waves: all of them when few, else the slowest.
func writeWaves(w io.Writer, waves []waveStat) {
	if len(waves) == 0 {
		return
	}
	list := waves
	title := "every wave"
	if len(waves) > 20 {
		list = append([]waveStat(nil), waves...)
		sort.SliceStable(list, func(i, j int) bool { return list[i].Last > list[j].Last })
		list = list[:10]
		title = "the 10 slowest waves"
	}
	fmt.Fprintf(w, "               %s:\n", title)
	fmt.Fprintf(w, "               %5s %8s %9s %9s %10s %8s %8s %8s %8s\n", "wave", "at", "positions", "admitted", "stragglers", "coverage", "p50", "p99", "last")
	for _, ws := range list {
		cov := "-"
		if ws.Waiting > 0 {
			cov = fmt.Sprintf("%.1f%%", 100*ws.Coverage)
		}
		fmt.Fprintf(w, "               %5d %7.1fs %9d %9d %10d %8s %8s %8s %8s\n", ws.Index, ws.AtS, ws.Positions, ws.Admissions,
			ws.Stragglers, cov, fmtMS(ws.P50MS), fmtMS(ws.P99MS), fmtMS(ws.LastMS))
	}
}

func writeCounts(w io.Writer, name string, m map[string]int64, none string) {
	if len(m) == 0 {
		if none != "" {
			fmt.Fprintf(w, "%-12s %s\n", name, none)
		}
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, name)
	for _, k := range keys {
		fmt.Fprintf(w, "  %8d  %s\n", m[k], k)
	}
}
