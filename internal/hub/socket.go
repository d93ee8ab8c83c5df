package hub

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/waitroom/waitroom/pkg/queue"
)

// socket is one visitor's connection. Nothing waits on it: the poller
// (poller_linux.go) reads its client frames when the kernel has some, the
// hub's writers (writers.go) write its frames, and the ping loop checks that
// the client still answers. Events reach it through pending, a bounded queue
// that never blocks the room's event loop: when it is full the client is
// dropped.
type socket struct {
	hub    *Hub
	room   string
	ticket string
	// conn is the TCP (or TLS) connection under the upgraded WebSocket:
	// gorilla/websocket did the handshake, the hub reads and writes the
	// frames itself, so gorilla's Conn and its buffers are not kept.
	conn  net.Conn
	done  chan struct{} // closed when the socket starts closing
	ended func()        // Handoff's, called once everything is released
	// ctxDone is the Done of Serve's context, nil if it never ends; set
	// before s is on the wheel.
	ctxDone <-chan struct{}
	// lastPong is when the client last answered a ping (unix ns), or when
	// the socket was taken over.
	lastPong atomic.Int64

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
	// time handles a socket, so its frames never interleave.
	queued  bool
	ping    bool   // a ping is due
	pong    []byte // the payload of a pong owed to the client's ping; nil: none
	closing bool   // set once, by close
	// peerClosed: the client sent its close frame; ours ends the socket.
	peerClosed bool
	// finished: the close frame was written or the connection dropped:
	// nothing more is written.
	finished bool
	// attached: the attach is over, and r is the room it put s in (nil if
	// none); over: the connection is closed. Whichever comes second
	// releases what the socket holds.
	attached, over bool
	r              *room

	// Owned by the reader: the start of a client frame cut between reads.
	partial []byte
	// unread: the client broke the protocol; what it sends is ignored.
	unread bool
	// msgLen is the length so far of a fragmented client message, -1
	// between messages.
	msgLen int32
	// pollFD is the descriptor the poller watches, -1 for none; set
	// under mu before over.
	pollFD int32

	// The ping wheel's (writers.go), guarded by its mu.
	slot       int32
	prev, next *socket

	// Guarded by the room's mu once registered.
	state    queue.State
	position int64
	score    int64
	version  int64
	// admission is the admission id of the entry token sent, while
	// admitted: after a failover the store may admit it again under
	// another id.
	admission string
}

func newSocket(h *Hub, room, ticket string, conn net.Conn, ended func()) *socket {
	s := &socket{hub: h, room: room, ticket: ticket, conn: conn, ended: ended,
		done: make(chan struct{}), pollFD: -1, msgLen: -1}
	s.lastPong.Store(time.Now().UnixNano())
	return s
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

// pongSoon asks a writer to answer the client's ping.
func (s *socket) pongSoon(payload []byte) {
	s.mu.Lock()
	wake := false
	if !s.closing {
		s.pong = append(make([]byte, 0, len(payload)), payload...)
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
// close frame with code, and the client has closeGrace to answer it. Code 0
// drops the connection at once, even in the middle of a write, and discards
// what is queued. Only the first call counts.
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
		s.end()
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
	s.end()
}

// end closes the connection (once) and, if the attach is over, releases the
// socket's room, wheel slot and count.
func (s *socket) end() {
	s.mu.Lock()
	if s.over {
		s.mu.Unlock()
		return
	}
	s.over, s.finished = true, true
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	attached := s.attached
	s.mu.Unlock()
	unwatchRead(s)
	_ = s.conn.Close()
	if attached {
		// Not here: end may run under the room's lock (push drops a slow
		// socket from the room's event loop), and release takes it.
		go s.release()
	}
}

// attachDone records the attach's room; if the connection already ended, it
// releases the socket now.
func (s *socket) attachDone(r *room) {
	s.mu.Lock()
	s.attached, s.r = true, r
	over := s.over
	s.mu.Unlock()
	if over {
		s.release()
	}
}

// release undoes what Handoff took, once the connection is closed and the
// attach over.
func (s *socket) release() {
	h := s.hub
	if s.r != nil {
		s.r.remove(s)
		h.release(s.r)
	}
	if s.ctxDone != nil {
		h.unwatch(s.ctxDone)
	}
	h.wheel.remove(s)
	h.sockets.Add(-1)
	h.serving.Done()
	if s.ended != nil {
		s.ended()
	}
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

// readWait is how long a client may leave pings unanswered before it is
// dropped as dead.
func (o Options) readWait() time.Duration { return 2*o.PingInterval + o.WriteTimeout }

// silent reports whether the client has answered no ping for readWait.
func (s *socket) silent(now time.Time) bool {
	return now.UnixNano()-s.lastPong.Load() > int64(s.hub.opt.readWait())
}

// readLoop reads the client frames of a socket the poller does not watch.
func readLoop(s *socket) {
	buf := make([]byte, 1024)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			s.consume(buf[:n])
		}
		if err != nil {
			s.end()
			return
		}
	}
}

// ---- client frames (RFC 6455 §5.2) -----------------------------------------

// WebSocket opcodes and header bits.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
	finBit         = 0x80
	maskBit        = 0x80
)

// consume parses the client frames in data, as read from the connection,
// keeping a frame cut short for the next read. The hub reads no messages:
// it answers pings, notes pongs and answers a close.
func (s *socket) consume(data []byte) {
	if s.unread {
		return
	}
	if len(s.partial) > 0 {
		data = append(s.partial, data...)
		s.partial = nil
	}
	for len(data) > 0 {
		n, ok := s.frame(data)
		if !ok {
			return
		}
		if n == 0 {
			// Cut short: keep it (a few hundred bytes at most, see frame).
			s.partial = append([]byte(nil), data...)
			return
		}
		data = data[n:]
	}
}

// frame handles the client frame at the start of data and returns its
// length; 0 if data holds only part of it. ok is false when the client broke
// the protocol and the socket is closing.
func (s *socket) frame(data []byte) (n int, ok bool) {
	if len(data) < 2 {
		return 0, true
	}
	b0, b1 := data[0], data[1]
	op := int(b0 & 0x0f)
	size := int64(b1 & 0x7f)
	head := 2
	switch size {
	case 126:
		if len(data) < 4 {
			return 0, true
		}
		size, head = int64(binary.BigEndian.Uint16(data[2:])), 4
	case 127:
		if len(data) < 10 {
			return 0, true
		}
		size, head = int64(binary.BigEndian.Uint64(data[2:])), 10
	}
	control := op >= opClose
	switch {
	case b0&0x70 != 0, b1&maskBit == 0, // no extension is agreed; clients mask
		op > opBinary && !control, op > opPong,
		control && (size > 125 || b0&finBit == 0):
		return s.broken(websocket.CloseProtocolError)
	case !control && (op == opContinuation) != (s.msgLen >= 0):
		// A continuation outside a message, or a new message inside one.
		return s.broken(websocket.CloseProtocolError)
	case size > readLimit || size < 0 || !control && int64(max(s.msgLen, 0))+size > readLimit:
		return s.broken(websocket.CloseMessageTooBig)
	}
	end := head + 4 + int(size)
	if len(data) < end {
		return 0, true
	}
	if !control {
		// A message, or part of one: the hub reads none.
		if b0&finBit != 0 {
			s.msgLen = -1
		} else {
			s.msgLen = int32(max(s.msgLen, 0) + int32(size))
		}
		return end, true
	}
	payload := data[head+4 : end]
	mask := data[head : head+4]
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
	switch op {
	case opPong:
		s.lastPong.Store(time.Now().UnixNano())
	case opPing:
		s.pongSoon(payload)
	case opClose:
		s.peerClose(payload)
		s.unread = true
		return end, false
	}
	return end, true
}

// broken closes a socket whose client broke the protocol with code, as
// gorilla/websocket does, and ignores what it sends next.
func (s *socket) broken(code int) (int, bool) {
	s.unread = true
	s.close(code, "")
	return 0, false
}

// peerClose answers the client's close frame with its code, or ends the
// socket if ours was sent already.
func (s *socket) peerClose(payload []byte) {
	code := websocket.CloseNoStatusReceived
	if len(payload) >= 2 {
		code = int(binary.BigEndian.Uint16(payload))
	}
	s.mu.Lock()
	s.peerClosed = true
	finished := s.finished
	s.mu.Unlock()
	if finished {
		s.end()
		return
	}
	s.close(code, "")
	// Already closing for another reason: our close frame is on its way.
}

// ---- server frames ---------------------------------------------------------

// appendFrame appends a server frame (unmasked, final) of opcode op.
func appendFrame(b []byte, op byte, payload []byte) []byte {
	b = append(b, finBit|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// flush is a writer's turn with s: it writes the pending messages, a due
// ping or pong, and once the socket is closing, the close frame, as one
// write per turn. buf and msgs are scratch space, returned for reuse.
//
// The writes have no deadline: the watchdog (writers.go) drops the client
// if a write waits for long on a full send buffer.
func (s *socket) flush(buf []byte, msgs [][]byte) ([]byte, [][]byte) {
	for {
		s.mu.Lock()
		if s.finished || (s.closing && s.closeCode == 0) {
			// Dropped: the connection is closed; nothing more is written.
			// queued stays set, so nobody queues s again.
			clear(s.pending)
			s.pending = s.pending[:0]
			s.mu.Unlock()
			return buf, msgs
		}
		msgs = append(msgs[:0], s.pending...)
		clear(s.pending)
		s.pending = s.pending[:0]
		ping, pong, closing := s.ping, s.pong, s.closing
		s.ping, s.pong = false, nil
		if len(msgs) == 0 && !ping && pong == nil && !closing {
			s.queued = false
			s.mu.Unlock()
			return buf, msgs
		}
		var code int
		var text string
		if closing {
			s.finished = true
			code, text = s.closeCode, s.closeText
		}
		peerClosed := s.peerClosed
		s.mu.Unlock()

		buf = buf[:0]
		for i, m := range msgs {
			buf = appendFrame(buf, opText, m)
			msgs[i] = nil
		}
		if pong != nil {
			buf = appendFrame(buf, opPong, pong)
		}
		if ping && !closing {
			buf = appendFrame(buf, opPing, nil)
		}
		if closing {
			buf = appendFrame(buf, opClose, websocket.FormatCloseMessage(code, text))
		}
		if _, err := s.conn.Write(buf); err != nil {
			s.kill()
			return buf, msgs
		}
		if closing {
			s.afterClose(peerClosed)
			return buf, msgs
		}
	}
}

// afterClose follows our close frame: the client has closeGrace to answer
// it, so that the frame is not lost to a reset; the reader ends the socket
// on the answer, or the timer does.
func (s *socket) afterClose(peerClosed bool) {
	if peerClosed {
		s.end()
		return
	}
	time.AfterFunc(closeGrace, s.end)
}

// goingAway closes a connection the hub will not serve.
func goingAway(conn net.Conn, timeout time.Duration) {
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	_, _ = conn.Write(appendFrame(nil, opClose, websocket.FormatCloseMessage(websocket.CloseGoingAway, "going away")))
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
