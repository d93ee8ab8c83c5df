// Package relay is the tests' TCP relay: it forwards connections from a
// port of 127.0.0.1 to a server and lets a test break the link between two
// live processes: cut every connection, stall the server's side of a
// connection, cut the next reply after its first bytes, or delay the
// server's stream.
package relay

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Relay forwards TCP connections to one server. What the client sends
// always goes through; what the server sends can be broken by the fields
// below, set at any time.
type Relay struct {
	ln  net.Listener
	to  string
	lag time.Duration

	// All stalls every connection from now on; Next the next connection
	// that gets a byte from the server. On a stalled connection the
	// server's bytes are read and dropped: the client hears nothing more,
	// and sees the connection close when the server goes.
	All, Next atomic.Bool
	// CutNext cuts the next reply: its first 3 bytes reach the client,
	// then both sides close (the command ran, its client sees a broken
	// connection).
	CutNext atomic.Bool
	// Stalled counts the connections stalled by Next, Dropped the bytes
	// held back from clients, Cuts the replies cut.
	Stalled, Dropped, Cuts atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// Start starts a relay to the address to; it stops, closing what it
// carries, when the test ends.
func Start(tb testing.TB, to string) *Relay { return StartSlow(tb, to, 0) }

// StartSlow is Start with every byte from the server delivered lag after
// it came: a slow link, which loopback never is.
func StartSlow(tb testing.TB, to string, lag time.Duration) *Relay {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("relay: %v", err)
	}
	r := &Relay{ln: ln, to: to, lag: lag, conns: map[net.Conn]bool{}}
	r.wg.Go(r.serve)
	tb.Cleanup(func() {
		_ = ln.Close()
		r.CutAll()
		r.wg.Wait()
	})
	return r
}

// Addr is where to connect instead of the server.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// CutAll closes every connection the relay carries now, and returns how
// many; new ones go through.
func (r *Relay) CutAll() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		_ = c.Close()
	}
	return len(r.conns) / 2
}

func (r *Relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		r.conns[c], r.conns[up] = true, true
		r.mu.Unlock()
		r.wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
		r.wg.Go(func() {
			defer r.forget(c, up)
			r.back(c, up)
		})
	}
}

func (r *Relay) forget(c, up net.Conn) {
	_ = c.Close()
	_ = up.Close()
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, up)
	r.mu.Unlock()
}

// back carries the server's bytes to the client, through the lag if any.
func (r *Relay) back(c, up net.Conn) {
	deliver := r.deliverTo(c)
	if r.lag == 0 {
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 && !deliver(buf[:n]) {
				return
			}
			if err != nil {
				return
			}
		}
	}
	type chunk struct {
		at time.Time
		b  []byte
	}
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(r.lag), bytes.Clone(buf[:n])}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		time.Sleep(time.Until(ch.at))
		if !deliver(ch.b) {
			_ = up.Close() // ends the reader, which closes q
			for range q {
			}
			return
		}
	}
}

// deliverTo returns what writes one chunk of the server's bytes to c, as
// the stall and cut settings say; false ends the connection.
func (r *Relay) deliverTo(c net.Conn) func(b []byte) bool {
	stalled := false
	return func(b []byte) bool {
		if !stalled && r.All.Load() {
			stalled = true
		}
		if !stalled && r.Next.CompareAndSwap(true, false) {
			stalled = true
			r.Stalled.Add(1)
		}
		if stalled {
			r.Dropped.Add(int64(len(b)))
			return true
		}
		if r.CutNext.CompareAndSwap(true, false) {
			_, _ = c.Write(b[:min(len(b), 3)])
			r.Cuts.Add(1)
			return false
		}
		_, err := c.Write(b)
		return err == nil
	}
}
