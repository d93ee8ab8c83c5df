package hub_test

// How the hub reads its sockets: no goroutine waits on one, yet a client
// that goes away, closes, pings or breaks the protocol is answered as
// RFC 6455 asks.

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/hub"
)

func TestClosedClientsAreNoticedWithoutAGoroutinePerSocket(t *testing.T) {
	// Not parallel: the other tests' goroutines would be counted.
	closedClientsAreNoticed(t, 0)
}

func TestClosedClientsAreNoticedByReadingGoroutinesWhereThereIsNoPoller(t *testing.T) {
	hub.ReadWithGoroutines(t)
	closedClientsAreNoticed(t, 1)
}

// closedClientsAreNoticed connects n clients, each read by nothing in the
// test, checks the server's goroutines per socket, then has half of them
// drop the connection and half send a close frame, which the server must
// answer with the same code.
func closedClientsAreNoticed(t *testing.T, perSocket int) {
	b := setup(t)
	const room, n = "leaving", 200
	tickets := b.queueAll(t, room, n)
	before := runtime.NumGoroutine()
	conns := make([]*websocket.Conn, n)
	for i, tk := range tickets {
		c, err := b.connect(t, room, tk, websocket.DefaultDialer)
		require.NoError(t, err)
		_, msg, err := c.ReadMessage()
		require.NoError(t, err)
		require.Contains(t, string(msg), `"type":"position"`)
		conns[i] = c
	}
	require.Equal(t, n, b.hub.Sockets())
	// The attaches' goroutines end; none is left per socket (the test
	// reads nothing, so it has none either).
	require.Eventually(t, func() bool { return runtime.NumGoroutine()-before <= perSocket*n+n/20 }, settle, 10*time.Millisecond,
		"goroutines: %d before %d sockets, %d after", before, n, runtime.NumGoroutine())

	for i, c := range conns {
		if i%2 == 0 {
			require.NoError(t, c.NetConn().Close())
			continue
		}
		require.NoError(t, c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4100, "bye"), time.Now().Add(time.Second)))
	}
	for i, c := range conns {
		if i%2 == 1 {
			_ = c.SetReadDeadline(time.Now().Add(settle))
			_, _, err := c.ReadMessage()
			require.True(t, websocket.IsCloseError(err, 4100), "client %d: %v", i, err)
		}
	}
	require.Eventually(t, func() bool { return b.hub.Sockets() == 0 }, settle, 5*time.Millisecond)

	// The room forgot them: a tick moves nobody and nothing breaks.
	b.tick(t, room)
}

func TestAClientsPingIsAnsweredWithItsPayload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const room = "echo"
	tickets := b.queueAll(t, room, 1)
	c, err := b.connect(t, room, tickets[0], websocket.DefaultDialer)
	require.NoError(t, err)
	pongs := make(chan string, 1)
	c.SetPongHandler(func(data string) error {
		pongs <- data
		return nil
	})
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	require.NoError(t, c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)))
	select {
	case got := <-pongs:
		require.Equal(t, "are you there", got)
	case <-time.After(settle):
		t.Fatal("no pong")
	}
}

func TestAClientThatBreaksTheProtocolIsClosedWithItsCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const room = "rude"
	tickets := b.queueAll(t, room, 3)
	for i, tc := range []struct {
		send func(c *websocket.Conn) error
		code int
	}{
		// Clients must mask their frames.
		{func(c *websocket.Conn) error { _, err := c.NetConn().Write([]byte{0x81, 2, 'h', 'i'}); return err }, websocket.CloseProtocolError},
		// The hub reads no message longer than 512 bytes.
		{func(c *websocket.Conn) error { return c.WriteMessage(websocket.TextMessage, make([]byte, 4096)) }, websocket.CloseMessageTooBig},
		// A message of the right size is read and ignored.
		{func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello"}`))
		}, 0},
	} {
		c, err := b.connect(t, room, tickets[i], websocket.DefaultDialer)
		require.NoError(t, err)
		_, _, err = c.ReadMessage()
		require.NoError(t, err)
		require.NoError(t, tc.send(c))
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _, err = c.ReadMessage()
		if tc.code == 0 {
			var ne interface{ Timeout() bool }
			require.ErrorAs(t, err, &ne, "case %d", i)
			require.True(t, ne.Timeout(), "case %d: %v", i, err)
			continue
		}
		require.True(t, websocket.IsCloseError(err, tc.code), "case %d: %v", i, err)
	}
}

func TestFragmentedClientMessagesAreReadAsOneAgainstTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const room = "pieces"
	tickets := b.queueAll(t, room, 2)
	masked := func(b0 byte, payload string) []byte {
		return append([]byte{b0, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	}
	piece := strings.Repeat("x", 100)
	for i, tc := range []struct {
		frames [][]byte
		code   int
	}{
		// Three pieces of 100 bytes: one message of 300, read and ignored.
		{[][]byte{masked(0x01, piece), masked(0x00, piece), masked(0x80, piece)}, 0},
		// Six pieces: 600 bytes, over the 512 a message may have.
		{[][]byte{masked(0x01, piece), masked(0x00, piece), masked(0x00, piece), masked(0x00, piece), masked(0x00, piece), masked(0x80, piece)}, websocket.CloseMessageTooBig},
	} {
		c, err := b.connect(t, room, tickets[i], websocket.DefaultDialer)
		require.NoError(t, err)
		_, _, err = c.ReadMessage()
		require.NoError(t, err)
		for _, f := range tc.frames {
			_, _ = c.NetConn().Write(f)
		}
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _, err = c.ReadMessage()
		if tc.code == 0 {
			var ne interface{ Timeout() bool }
			require.ErrorAs(t, err, &ne, "case %d", i)
			continue
		}
		require.True(t, websocket.IsCloseError(err, tc.code), "case %d: %v", i, err)
	}
}
