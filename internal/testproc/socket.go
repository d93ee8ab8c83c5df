package testproc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Message is one frame a visitor's socket received: any server message of
// docs/API.md's WebSocket section.
type Message struct {
	Type       string  `json:"type"`
	Position   int64   `json:"position"`
	Ahead      int64   `json:"ahead"`
	Waiting    int64   `json:"waiting"`
	ETASeconds *int64  `json:"eta_seconds"`
	OpensAt    *string `json:"opens_at"`
	EntryToken string  `json:"entry_token"`
	ExpiresAt  string  `json:"expires_at"`
	TargetURL  string  `json:"target_url"`
	Reason     string  `json:"reason"`
	// At is when it arrived; Raw is the frame as sent.
	At  time.Time `json:"-"`
	Raw string    `json:"-"`
}

// Dialer opens the sockets of Dial: small buffers, so that a test can hold
// thousands of them.
var Dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256}

// Socket records every message of a WebSocket, from a goroutine of its own,
// until the socket closes. It is safe for concurrent use.
type Socket struct {
	conn *websocket.Conn
	done chan struct{} // closed when reading stopped
	got  chan struct{} // signalled after each message

	mu   sync.Mutex
	msgs []Message
	err  error // why reading stopped
}

// Dial opens the WebSocket at url (ws://…) and records it. The caller
// closes it.
func Dial(ctx context.Context, url string, header http.Header) (*Socket, error) {
	conn, resp, err := Dialer.DialContext(ctx, url, header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return Record(conn), nil
}

// Record starts recording conn's messages; nothing else may read conn.
func Record(conn *websocket.Conn) *Socket {
	s := &Socket{conn: conn, done: make(chan struct{}), got: make(chan struct{}, 1)}
	go s.read()
	return s
}

func (s *Socket) read() {
	defer close(s.done)
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		m := Message{At: time.Now(), Raw: string(data)}
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

// Conn is the recorded connection, for writing to it.
func (s *Socket) Conn() *websocket.Conn { return s.conn }

// Messages are the messages so far, oldest first.
func (s *Socket) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Count is how many messages came so far.
func (s *Socket) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Last returns the newest message; ok is false before the first.
func (s *Socket) Last() (m Message, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return Message{}, false
	}
	return s.msgs[len(s.msgs)-1], true
}

// WaitFor waits until a message of type typ has come (true) or the socket
// has closed without one (false).
func (s *Socket) WaitFor(typ string) bool {
	has := func() bool {
		return slices.ContainsFunc(s.Messages(), func(m Message) bool { return m.Type == typ })
	}
	for {
		if has() {
			return true
		}
		select {
		case <-s.got:
		case <-s.done:
			return has()
		}
	}
}

// Open reports whether the socket still reads: no close frame, no error.
func (s *Socket) Open() bool { return !isClosed(s.done) }

// Done is closed when reading has stopped.
func (s *Socket) Done() <-chan struct{} { return s.done }

// Err is why reading stopped (a *websocket.CloseError for a close frame);
// nil while the socket is open.
func (s *Socket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// CloseCode is the code of the close frame that ended the socket, or 1006
// (abnormal closure) when it ended without one or is still open.
func (s *Socket) CloseCode() int {
	var ce *websocket.CloseError
	if errors.As(s.Err(), &ce) {
		return ce.Code
	}
	return websocket.CloseAbnormalClosure
}

// Close closes the connection and waits for the reader to stop.
func (s *Socket) Close() {
	_ = s.conn.Close()
	<-s.done
}

// ServeSocket upgrades the request to a WebSocket, hands it to serve and
// closes it once serve returns: the socket end of a test's fake server. A
// request that is no upgrade has been answered by the upgrader.
func ServeSocket(w http.ResponseWriter, r *http.Request, serve func(conn *websocket.Conn)) {
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	serve(conn)
}
