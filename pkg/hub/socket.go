package hub

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/pkg/queue"
)

// socket is one visitor's connection. The Serve goroutine reads (and
// discards) client frames; one writer goroutine writes messages and pings.
// Events reach it through send, a bounded buffer that never blocks the
// room's event loop: when it is full the client is dropped.
type socket struct {
	hub    *Hub
	room   string
	ticket string
	conn   *websocket.Conn

	send       chan []byte
	done       chan struct{} // closed when the socket starts closing
	readerDone chan struct{}
	writerDone chan struct{}
	closing    atomic.Bool
	// closeCode and closeText are set once, before done is closed; code 0
	// means drop the connection without a close frame.
	closeCode int
	closeText string

	// Guarded by the room's mu once registered.
	user     string
	state    queue.State
	position int64
	score    int64
	version  int64
}

func newSocket(h *Hub, room, ticket string, conn *websocket.Conn) *socket {
	return &socket{
		hub:        h,
		room:       room,
		ticket:     ticket,
		conn:       conn,
		send:       make(chan []byte, h.opt.SendBuffer),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
}

// push queues msg without blocking. A socket whose buffer is full is slow or
// dead; it is dropped so that it never holds up the room's other sockets.
func (s *socket) push(kind string, msg []byte) {
	if s.closing.Load() {
		return
	}
	select {
	case s.send <- msg:
		if s.hub.opt.OnPush != nil {
			s.hub.opt.OnPush(kind)
		}
	default:
		s.hub.log.Info("hub: dropping a socket whose send buffer is full", "room", s.room, "ticket", short(s.ticket))
		s.kill()
	}
}

// close starts closing the socket: the writer sends what is queued, then a
// close frame with code (none when code is 0), then closes the connection.
// Only the first call counts.
func (s *socket) close(code int, text string) {
	if s.closing.CompareAndSwap(false, true) {
		s.closeCode, s.closeText = code, text
		close(s.done)
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

// readLoop discards client frames until the connection fails or closes. The
// pong handler keeps the read deadline ahead, so a client that stops
// answering pings is noticed.
func (s *socket) readLoop() {
	o := s.hub.opt
	wait := 2*o.PingInterval + o.WriteTimeout
	s.conn.SetReadLimit(readLimit)
	_ = s.conn.SetReadDeadline(time.Now().Add(wait))
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(wait))
	})
	for {
		if _, _, err := s.conn.NextReader(); err != nil {
			return
		}
	}
}

// writeLoop is the only writer of messages and pings. It ends once the
// socket has closed, having closed the connection.
func (s *socket) writeLoop(ctx context.Context) {
	defer close(s.writerDone)
	o := s.hub.opt
	ping := time.NewTicker(o.PingInterval)
	defer ping.Stop()
	ctxDone, hubDone := ctx.Done(), s.hub.ctx.Done()
	for {
		select {
		case msg := <-s.send:
			if err := s.write(msg); err != nil {
				s.kill()
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(o.WriteTimeout)); err != nil {
				s.kill()
			}
		case <-ctxDone:
			ctxDone = nil
			s.close(websocket.CloseGoingAway, "going away")
		case <-hubDone:
			hubDone = nil
			s.close(websocket.CloseGoingAway, "going away")
		case <-s.done:
			s.finish()
			return
		}
	}
}

func (s *socket) write(msg []byte) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.hub.opt.WriteTimeout))
	return s.conn.WriteMessage(websocket.TextMessage, msg)
}

// finish sends what was queued before the close (an "expired" message, say)
// and the close frame, gives the client a moment to answer it so the frame is
// not lost to a reset, and closes the connection.
func (s *socket) finish() {
	defer s.conn.Close()
	if s.closeCode == 0 {
		return
	}
	for drained := false; !drained; {
		select {
		case msg := <-s.send:
			if s.write(msg) != nil {
				return
			}
		default:
			drained = true
		}
	}
	frame := websocket.FormatCloseMessage(s.closeCode, s.closeText)
	if s.conn.WriteControl(websocket.CloseMessage, frame, time.Now().Add(s.hub.opt.WriteTimeout)) != nil {
		return
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-s.readerDone:
	case <-t.C:
	}
}

// goingAway closes a connection the hub will not serve.
func goingAway(conn *websocket.Conn, timeout time.Duration) {
	frame := websocket.FormatCloseMessage(websocket.CloseGoingAway, "going away")
	_ = conn.WriteControl(websocket.CloseMessage, frame, time.Now().Add(timeout))
	_ = conn.Close()
}

// ---- messages (API.md, WebSocket) -------------------------------------------

// positionMsg is {"type":"position",...}. It is built by hand: it is the
// message sent to every waiting socket after every tick.
// The message types of API.md, as OnPush names them.
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
