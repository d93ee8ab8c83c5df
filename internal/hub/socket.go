package hub

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/pkg/queue"
)

// socket is one visitor's connection. The Serve goroutine reads (and
// discards) client frames; the hub's writers (writers.go) write its
// messages, pings and close frame. Events reach it through pending, a
// bounded queue that never blocks the room's event loop: when it is full the
// client is dropped.
type socket struct {
	hub    *Hub
	room   string
	ticket string
	conn   *websocket.Conn
	done   chan struct{} // closed when the socket starts closing
	// ctxDone is the Done of Serve's context, nil if it never ends; set
	// before s is on the wheel.
	ctxDone <-chan struct{}

	mu sync.Mutex
	// pending are the messages not yet taken by a writer, at most
	// Options.SendBuffer; its array is reused from tick to tick.
	pending [][]byte
	// closeCode and closeText are set with closing; code 0 means drop the
	// connection without a close frame.
	closeCode int
	closeText string
	// queued: the socket is in the writers' ready queue or being written,
	// so whoever adds work need not queue it again. Only one writer at a
	// time handles a socket: gorilla/websocket allows one data writer.
	queued  bool
	ping    bool // a ping is due
	closing bool // set once, by close
	// finished: the close frame was written or the connection dropped:
	// nothing more is written.
	finished bool

	// The ping wheel's (writers.go), guarded by its mu.
	slot       int32
	prev, next *socket

	// Guarded by the room's mu once registered.
	state    queue.State
	position int64
	score    int64
	version  int64
}

func newSocket(h *Hub, room, ticket string, conn *websocket.Conn) *socket {
	return &socket{hub: h, room: room, ticket: ticket, conn: conn, done: make(chan struct{})}
}

// push queues msg without blocking. A socket whose queue is full is slow or
// dead; it is dropped so that it never holds up the room's other sockets.
func (s *socket) push(kind string, msg []byte) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if len(s.pending) >= s.hub.opt.SendBuffer {
		s.mu.Unlock()
		s.hub.log.Info("hub: dropping a socket whose send buffer is full", "room", s.room, "ticket", short(s.ticket))
		s.kill()
		return
	}
	s.pending = append(s.pending, msg)
	wake := s.wakeLocked()
	s.mu.Unlock()
	if wake {
		s.hub.writers.add(s)
	}
	if s.hub.opt.OnPush != nil {
		s.hub.opt.OnPush(kind)
	}
}

// pingSoon asks a writer to ping the socket.
func (s *socket) pingSoon() {
	s.mu.Lock()
	wake := false
	if !s.closing {
		s.ping = true
		wake = s.wakeLocked()
	}
	s.mu.Unlock()
	if wake {
		s.hub.writers.add(s)
	}
}

// wakeLocked marks s queued and reports whether the caller must hand it to
// the writers (it was not queued yet).
func (s *socket) wakeLocked() bool {
	if s.queued {
		return false
	}
	s.queued = true
	return true
}

// close starts closing the socket: a writer sends what is queued, then a
// close frame with code, and the reader gives the client closeGrace to
// answer it. Code 0 drops the connection at once, even in the middle of a
// write, and discards what is queued. Only the first call counts.
func (s *socket) close(code int, text string) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing, s.closeCode, s.closeText = true, code, text
	close(s.done)
	wake := code != 0 && s.wakeLocked()
	s.mu.Unlock()
	if code == 0 {
		_ = s.conn.Close()
	}
	if wake {
		s.hub.writers.add(s)
	}
}

// expire tells the visitor their place or admission is gone, and closes.
func (s *socket) expire(reason string) {
	s.push(kindExpired, expiredMsg(reason))
	s.close(websocket.CloseNormalClosure, "expired")
}

// kill drops the connection at once, even in the middle of a write.
func (s *socket) kill() {
	s.close(0, "")
	// A socket already closing with a code is dropped too.
	_ = s.conn.Close()
}

// refuse closes a socket that could not be attached.
func (s *socket) refuse(err error) {
	switch {
	case errors.Is(err, errClosed):
	case errors.Is(err, queue.ErrRoomNotFound):
		s.expire(queue.ReasonRoomDeleted)
	case errors.Is(err, queue.ErrTicketNotFound), errors.Is(err, queue.ErrInvalidRoom):
		s.close(closeTicketNotFound, "ticket not found")
	case errors.Is(err, errSign):
		s.close(websocket.CloseInternalServerErr, "internal error")
	default:
		s.hub.log.Warn("hub: attach failed", "room", s.room, "ticket", short(s.ticket), "err", err)
		s.close(websocket.CloseTryAgainLater, "try again later")
	}
}

// readWait is how long the reader waits for a client frame: a client that
// answers no ping for that long is dead.
func (o Options) readWait() time.Duration { return 2*o.PingInterval + o.WriteTimeout }

// prepareRead sets the read limit, the first read deadline and the pong
// handler that keeps the deadline ahead. It runs before s is shared: once a
// writer may have set the close grace, nothing must push the deadline back.
func (s *socket) prepareRead() {
	wait := s.hub.opt.readWait()
	s.conn.SetReadLimit(readLimit)
	_ = s.conn.SetReadDeadline(time.Now().Add(wait))
	s.conn.SetPongHandler(func(string) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closing {
			// The close grace, or the deadline as it is, bounds the rest.
			return nil
		}
		return s.conn.SetReadDeadline(time.Now().Add(wait))
	})
}

// readLoop discards client frames until the connection fails, closes, or
// the read deadline passes.
func (s *socket) readLoop() {
	for {
		if _, _, err := s.conn.NextReader(); err != nil {
			return
		}
	}
}

// flush is a writer's turn with s: it writes the pending messages, a due
// ping, and once the socket is closing, the close frame. msgs is scratch
// space, returned for reuse.
//
// The writes have no deadline: the watchdog (writers.go) drops the client
// if a write waits for long on a full send buffer.
func (s *socket) flush(msgs [][]byte) [][]byte {
	for {
		s.mu.Lock()
		if s.finished || (s.closing && s.closeCode == 0) {
			// Dropped: the connection is closed; nothing more is written.
			// queued stays set, so nobody queues s again.
			clear(s.pending)
			s.pending = s.pending[:0]
			s.mu.Unlock()
			return msgs
		}
		msgs = append(msgs[:0], s.pending...)
		clear(s.pending)
		s.pending = s.pending[:0]
		ping, closing := s.ping, s.closing
		s.ping = false
		if len(msgs) == 0 && !ping && !closing {
			s.queued = false
			s.mu.Unlock()
			return msgs
		}
		s.mu.Unlock()

		for i, m := range msgs {
			msgs[i] = nil
			if s.conn.WriteMessage(websocket.TextMessage, m) != nil {
				s.kill()
				return msgs
			}
		}
		if ping && !closing {
			if s.conn.WriteControl(websocket.PingMessage, nil, time.Time{}) != nil {
				s.kill()
				return msgs
			}
		}
		if closing {
			s.finish()
			return msgs
		}
	}
}

// finish writes the close frame, after the messages queued before the
// close (an "expired" message, say), and gives the client closeGrace to
// answer it, so that the frame is not lost to a reset: the reader returns on
// the answer or at the deadline, and Serve closes the connection.
func (s *socket) finish() {
	s.mu.Lock()
	s.finished = true
	code, text := s.closeCode, s.closeText
	s.mu.Unlock()
	frame := websocket.FormatCloseMessage(code, text)
	if s.conn.WriteControl(websocket.CloseMessage, frame, time.Time{}) != nil {
		_ = s.conn.Close()
		return
	}
	// The pong handler no longer moves the deadline once closing is set.
	// The net.Conn, unlike the websocket.Conn, may have its read deadline
	// set while another goroutine reads.
	_ = s.conn.NetConn().SetReadDeadline(time.Now().Add(closeGrace))
}

// goingAway closes a connection the hub will not serve.
func goingAway(conn *websocket.Conn, timeout time.Duration) {
	frame := websocket.FormatCloseMessage(websocket.CloseGoingAway, "going away")
	_ = conn.WriteControl(websocket.CloseMessage, frame, time.Now().Add(timeout))
	_ = conn.Close()
}

// ---- messages (docs/API.md, WebSocket) -------------------------------------------

// positionMsg is {"type":"position",...}. It is built by hand: it is the
// message sent to every waiting socket after every tick.
// The message types of docs/API.md, as OnPush names them.
const (
	kindPosition = "position"
	kindPrequeue = "prequeue"
	kindAdmitted = "admitted"
	kindExpired  = "expired"
)

func positionMsg(position, waiting int64, eta *time.Duration) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"type":"position","position":`...)
	b = strconv.AppendInt(b, position, 10)
	b = append(b, `,"ahead":`...)
	b = strconv.AppendInt(b, max(position-1, 0), 10)
	b = append(b, `,"waiting":`...)
	b = strconv.AppendInt(b, waiting, 10)
	b = append(b, `,"eta_seconds":`...)
	if eta == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(eta.Round(time.Second)/time.Second), 10)
	}
	return append(b, '}')
}

func prequeueMsg(waiting int64, opensAt *time.Time) []byte {
	m := struct {
		Type    string  `json:"type"`
		Waiting int64   `json:"waiting"`
		OpensAt *string `json:"opens_at"`
	}{Type: "prequeue", Waiting: waiting}
	if opensAt != nil {
		t := opensAt.UTC().Format(time.RFC3339)
		m.OpensAt = &t
	}
	return mustJSON(m)
}

func admittedMsg(token string, expires time.Time, targetURL string) []byte {
	return mustJSON(struct {
		Type       string `json:"type"`
		EntryToken string `json:"entry_token"`
		ExpiresAt  string `json:"expires_at"`
		TargetURL  string `json:"target_url"`
	}{"admitted", token, expires.UTC().Format(time.RFC3339), targetURL})
}

func expiredMsg(reason string) []byte {
	return mustJSON(struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}{"expired", reason})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only strings and numbers: cannot fail
	}
	return b
}
