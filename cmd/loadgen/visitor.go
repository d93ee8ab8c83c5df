package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// visitor is one simulated browser. It is kept small: a run holds 100 000.
// The join fields are written once by the join worker before the socket and
// polls start; the rest are atomics shared with the samplers and the end of
// the run.
type visitor struct {
	ticket string
	sent   time.Duration // join request sent (the last attempt), since start
	done   time.Duration // join response received; 0: the join failed

	conn          atomic.Pointer[websocket.Conn]
	ended         atomic.Bool  // the socket ended before the run closed it
	lastPos       atomic.Int64 // last position heard by socket; 0 admitted; -1 none
	admittedCount atomic.Int32 // admitted messages received
	admitWave     atomic.Int32 // wave of the first admitted message; -1: none
	settled       atomic.Bool
	pre           atomic.Bool // was in the pre-queue
	wave          sockWave    // guarded by the wave detector
}

// ticketStatus is the ticket status of docs/API.md (join and status answers).
type ticketStatus struct {
	Ticket     string `json:"ticket"`
	State      string `json:"state"`
	Position   *int64 `json:"position"`
	EntryToken string `json:"entry_token"`
}

func (r *runner) source(i int) *source { return r.sources[i%len(r.sources)] }

// settle marks v's work done (once).
func (r *runner) settle(v *visitor) {
	if v.settled.CompareAndSwap(false, true) {
		r.settled.Add(1)
	}
}

// visit joins visitor i and starts what follows: its socket, its polls.
func (r *runner) visit(ctx context.Context, i int) {
	v := &r.visitors[i]
	st, err := r.join(ctx, i)
	if err != nil {
		r.joinsFailed.Add(1)
		return
	}
	r.joinsOK.Add(1)
	switch st.State {
	case "admitted":
		r.admittedAtJoin.Add(1)
	case "prequeue":
		v.pre.Store(true)
	}
	if r.cfg.Sockets {
		r.readers.Add(1)
		go r.socket(ctx, i)
	}
	if r.cfg.StatusPolls > 0 {
		r.schedulePoll(ctx, v, r.cfg.StatusPolls)
	} else if !r.cfg.Sockets {
		r.settle(v)
	}
}

// join POSTs a join for visitor i, waiting out 429s, and records its times.
func (r *runner) join(ctx context.Context, i int) (ticketStatus, error) {
	v := &r.visitors[i]
	u := *r.cfg.URL
	u.Path += "/api/rooms/" + r.cfg.Room + "/tickets"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader([]byte("{}")))
		if err != nil {
			return ticketStatus{}, err
		}
		req.Header.Set("Content-Type", "application/json")
		sent := r.since()
		r.firstSent.CompareAndSwap(0, int64(sent))
		t0 := time.Now()
		resp, err := r.source(i).http.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				r.errs.Add("join: " + errKind(err))
			}
			return ticketStatus{}, err
		}
		lat := time.Since(t0)
		switch resp.StatusCode {
		case http.StatusOK, http.StatusCreated:
			var st ticketStatus
			err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st)
			drain(resp)
			if err != nil || st.Ticket == "" {
				r.errs.Add("join: unreadable answer")
				return st, errors.New("join: unreadable answer")
			}
			if resp.StatusCode == http.StatusOK {
				r.errs.Add("join: 200 (an existing ticket) for a new visitor")
			}
			r.joinLat.Record(lat)
			done := r.since()
			v.ticket, v.sent, v.done = st.Ticket, sent, done
			for last := r.lastDone.Load(); int64(done) > last && !r.lastDone.CompareAndSwap(last, int64(done)); last = r.lastDone.Load() {
			}
			return st, nil
		case http.StatusTooManyRequests:
			wait := retryAfter(resp)
			drain(resp)
			r.retries.Add("join: 429 rate_limited, retried after Retry-After")
			select {
			case <-ctx.Done():
				return ticketStatus{}, ctx.Err()
			case <-time.After(wait):
			}
		default:
			r.errs.Add(fmt.Sprintf("join: %d %s", resp.StatusCode, apiErrorCode(resp)))
			drain(resp)
			return ticketStatus{}, fmt.Errorf("join: %s", resp.Status)
		}
	}
}

// statusError is a status answer other than 200.
type statusError struct {
	status int
	code   string
}

func (e *statusError) Error() string { return fmt.Sprintf("status: %d %s", e.status, e.code) }

// status GETs visitor v's ticket status and records its latency. Transport
// failures are counted here; an answer other than 200 is returned as a
// *statusError for the caller to judge (a ticket is gone once its admission
// ended).
func (r *runner) status(ctx context.Context, v *visitor) (ticketStatus, error) {
	u := *r.cfg.URL
	u.Path += "/api/rooms/" + r.cfg.Room + "/tickets/" + v.ticket
	var st ticketStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return st, err
	}
	select {
	case r.httpSem <- struct{}{}:
	case <-ctx.Done():
		return st, ctx.Err()
	}
	defer func() { <-r.httpSem }()
	t0 := time.Now()
	resp, err := r.source(int(r.statusReqs.Add(1))).http.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			r.errs.Add("status: " + errKind(err))
		}
		return st, err
	}
	lat := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		code := apiErrorCode(resp)
		drain(resp)
		return st, &statusError{resp.StatusCode, code}
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st)
	drain(resp)
	if err != nil {
		r.errs.Add("status: unreadable answer")
		return st, err
	}
	r.statusLat.Record(lat)
	return st, nil
}

// schedulePoll runs v's next status poll after StatusEvery, on a timer
// rather than a sleeping goroutine per visitor. Polling stops once the
// visitor is admitted, as a browser's would.
func (r *runner) schedulePoll(ctx context.Context, v *visitor, left int) {
	r.bg.Add(1)
	time.AfterFunc(r.cfg.StatusEvery, func() {
		defer r.bg.Done()
		if ctx.Err() != nil || v.admittedCount.Load() > 0 {
			return
		}
		st, err := r.status(ctx, v)
		var se *statusError
		if errors.As(err, &se) && v.admittedCount.Load() == 0 {
			r.errs.Add(se.Error())
		}
		if left > 1 && err == nil && st.State != "admitted" {
			r.schedulePoll(ctx, v, left-1)
		} else if !r.cfg.Sockets {
			r.settle(v)
		}
	})
}

// socket opens visitor i's WebSocket and reads it until it ends.
func (r *runner) socket(ctx context.Context, i int) {
	defer r.readers.Done()
	v := &r.visitors[i]
	select {
	case r.dialSem <- struct{}{}:
	case <-ctx.Done():
		r.settle(v)
		return
	}
	t0 := time.Now()
	conn, resp, err := r.source(i).ws.DialContext(ctx, wsURL(r.cfg.URL, r.cfg.Room, v.ticket), nil)
	<-r.dialSem
	if err != nil {
		switch {
		case resp != nil:
			r.errs.Add(fmt.Sprintf("socket: handshake %d %s", resp.StatusCode, apiErrorCode(resp)))
			drain(resp)
		case ctx.Err() == nil:
			r.errs.Add("socket: " + errKind(err))
		}
		v.ended.Store(true)
		r.settle(v)
		return
	}
	r.dialLat.Record(time.Since(t0))
	v.conn.Store(conn)
	if r.closing.Load() { // the end of the run went by meanwhile
		closeConn(conn)
	}
	r.socketsOpened.Add(1)
	for n, peak := r.socketsOpen.Add(1), r.socketsPeak.Load(); n > peak && !r.socketsPeak.CompareAndSwap(peak, n); peak = r.socketsPeak.Load() {
	}
	conn.SetReadLimit(64 << 10)
	// Read in a fresh goroutine: the handshake grew this one's stack to
	// 8 KiB or more, and a goroutine keeps its stack; the reader's stays at
	// the minimum, which matters times 100 000.
	r.readers.Add(1)
	go func() {
		defer r.readers.Done()
		defer r.socketsOpen.Add(-1)
		r.read(ctx, v, conn)
	}()
}

// msgBufs are the read buffers of socket messages, shared: a socket holds
// one only while it reads a message.
var msgBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// read handles v's socket messages until the socket ends. Nothing per
// message is kept but v's last position and the wave aggregates.
func (r *runner) read(ctx context.Context, v *visitor, conn *websocket.Conn) {
	// first: no position or admitted message yet. The first one reflects
	// the ticks before it and belongs to no wave; it comes on connect, or
	// when the pre-queue opens.
	first := true
	waiting := false // counted in r.waiting
	expired := ""
	defer func() {
		if waiting {
			r.waiting.Add(-1)
		}
		if !r.closing.Load() {
			v.ended.Store(true)
		}
		r.settle(v)
	}()
	for {
		_, rd, err := conn.NextReader()
		if err != nil {
			if !r.closing.Load() {
				r.socketEnded(err, expired)
			}
			return
		}
		bp := msgBufs.Get().(*[]byte)
		b, err := readInto((*bp)[:0], rd)
		if err != nil {
			*bp = b[:0]
			msgBufs.Put(bp)
			continue // the next NextReader reports the failure
		}
		m := parseMessage(b)
		*bp = b[:0]
		msgBufs.Put(bp)

		switch m.kind {
		case "position":
			if m.position <= 0 {
				r.errs.Add("socket: position message without a position")
				break
			}
			r.positionMsgs.Add(1)
			old := v.lastPos.Swap(m.position)
			if first {
				r.waves.First(&v.wave)
			} else {
				r.waves.Record(kindPosition, &v.wave)
				if old > 0 && m.position >= old {
					r.errs.Add("socket: position did not go down")
				}
			}
			if !waiting {
				waiting = true
				r.waiting.Add(1)
			}
		case "admitted":
			n := v.admittedCount.Add(1)
			if n > 1 {
				r.dupMsgs.Add(1)
				if n == 2 {
					r.dupVisitors.Add(1)
				}
				break
			}
			r.admitted.Add(1)
			v.lastPos.Store(0)
			if first {
				r.admittedOnConnect.Add(1)
			} else {
				v.admitWave.Store(int32(r.waves.Record(kindAdmitted, &v.wave)))
			}
			if waiting {
				waiting = false
				r.waiting.Add(-1)
			}
			if r.cfg.Book && m.token != "" {
				r.bg.Add(1)
				go r.book(ctx, v, m.token)
			} else {
				r.settle(v)
			}
		case "prequeue":
			v.pre.Store(true)
			r.notes.Add("prequeue messages (room before opens_at)")
			continue // still first
		case "expired":
			expired = m.reason
			if m.reason != "admission_ended" || v.admittedCount.Load() == 0 {
				r.errs.Add("socket: expired " + m.reason)
			}
		default:
			r.errs.Add("socket: unknown message")
		}
		first = false
	}
}

// socketEnded counts a socket that ended before the run closed it. After an
// "expired" message the server closes normally: no error of its own.
func (r *runner) socketEnded(err error, expired string) {
	var ce *websocket.CloseError
	switch {
	case expired != "":
	case errors.As(err, &ce):
		r.errs.Add(fmt.Sprintf("socket: closed by server %d %s", ce.Code, ce.Text))
	default:
		r.errs.Add("socket: " + errKind(err))
	}
}

// readInto appends the rest of rd to b.
func readInto(b []byte, rd io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// message is what the tool keeps of a socket message.
type message struct {
	kind     string
	position int64
	token    string
	reason   string
}

var (
	positionPrefix = []byte(`{"type":"position","position":`)
	admittedPrefix = []byte(`{"type":"admitted","entry_token":"`)
)

// parseMessage reads a socket message. The position and admitted messages,
// which every socket gets, are read by hand when they have the server's
// usual shape: no allocation for a position, and no encoding/json, whose
// deep call stack would double the stack each reader goroutine keeps.
// Anything else goes through encoding/json.
func parseMessage(b []byte) message {
	if rest, ok := bytes.CutPrefix(b, admittedPrefix); ok {
		if tok, _, ok := bytes.Cut(rest, []byte{'"'}); ok && len(tok) > 0 && bytes.IndexByte(tok, '\\') < 0 {
			return message{kind: "admitted", token: string(tok)}
		}
	}
	if rest, ok := bytes.CutPrefix(b, positionPrefix); ok {
		var n int64
		i := 0
		for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9' && i < 18; i++ {
			n = n*10 + int64(rest[i]-'0')
		}
		if i > 0 && i < len(rest) && (rest[i] == ',' || rest[i] == '}') {
			return message{kind: "position", position: n}
		}
	}
	var m struct {
		Type       string `json:"type"`
		Position   *int64 `json:"position"`
		EntryToken string `json:"entry_token"`
		Reason     string `json:"reason"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return message{kind: "unreadable"}
	}
	out := message{kind: m.Type, token: m.EntryToken, reason: m.Reason}
	if m.Position != nil {
		out.position = *m.Position
	}
	return out
}

// book is the visitor's visit to the booking API after admission: list the
// seats, hold a free one (another if it was taken meanwhile), book it, and
// with -checkout check out.
func (r *runner) book(ctx context.Context, v *visitor, token string) {
	defer r.bg.Done()
	defer r.settle(v)
	base := *r.cfg.BookingURL
	base.Path += "/api/events/" + r.cfg.Room
	call := func(method, path string, body any, h *syncHist, want int, out any) (int, string, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base.String()+path, rd)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		select {
		case r.httpSem <- struct{}{}:
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
		defer func() { <-r.httpSem }()
		t0 := time.Now()
		resp, err := r.source(rand.IntN(len(r.sources))).http.Do(req)
		if err != nil {
			return 0, errKind(err), err
		}
		defer drain(resp)
		if resp.StatusCode != want {
			return resp.StatusCode, apiErrorCode(resp), fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		h.Record(time.Since(t0))
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				return resp.StatusCode, "unreadable answer", err
			}
		}
		return resp.StatusCode, "", nil
	}
	fail := func(step string, status int, code string) {
		if ctx.Err() != nil {
			return
		}
		r.bookFailed.Add(1)
		if status > 0 {
			r.errs.Add(fmt.Sprintf("booking: %s %d %s", step, status, code))
		} else {
			r.errs.Add(fmt.Sprintf("booking: %s %s", step, code))
		}
	}

	var seats []struct {
		Seat  string `json:"seat"`
		State string `json:"state"`
	}
	if st, code, err := call(http.MethodGet, "/seats", nil, &r.seatsLat, http.StatusOK, &seats); err != nil {
		fail("seats", st, code)
		return
	}
	var free []string
	for _, s := range seats {
		if s.State == "available" {
			free = append(free, s.Seat)
		}
	}
	rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	held := ""
	for _, seat := range free[:min(len(free), 5)] {
		st, code, err := call(http.MethodPost, "/holds", map[string]string{"seat": seat}, &r.holdLat, http.StatusCreated, nil)
		if err == nil {
			held = seat
			break
		}
		if st != http.StatusConflict || code != "seat_unavailable" {
			fail("hold", st, code)
			return
		}
		r.retries.Add("booking: seat taken meanwhile (409 seat_unavailable), tried another")
	}
	if held == "" {
		r.notes.Add("booking: no free seat to hold")
	} else {
		if st, code, err := call(http.MethodPost, "/bookings", map[string]string{"seat": held}, &r.bookLat, http.StatusCreated, nil); err != nil {
			fail("book", st, code)
			return
		}
		r.booked.Add(1)
	}
	if r.cfg.Checkout {
		if st, code, err := call(http.MethodPost, "/checkout", nil, &r.checkLat, http.StatusNoContent, nil); err != nil {
			fail("checkout", st, code)
		}
	}
}

// apiErrorCode reads the code of a docs/API.md error body, or "" if none.
func apiErrorCode(resp *http.Response) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 8<<10)).Decode(&e)
	return e.Error.Code
}

// drain reads what is left of a body so the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// retryAfter is how long a 429 asks to wait (1 s when unsaid).
func retryAfter(resp *http.Response) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return time.Second
}
