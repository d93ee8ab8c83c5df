package queue

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// cutProxy relays TCP to a Redis server. Once armed, it forwards the first
// bytes of the next reply and then closes the client's side: the command
// ran in Redis, but its client sees a broken connection.
type cutProxy struct {
	ln    net.Listener
	to    string
	armed atomic.Bool
	cuts  atomic.Int64
	wg    sync.WaitGroup
}

func startCutProxy(t *testing.T, to string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, to: to}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() {
			defer c.Close()
			defer up.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					if p.armed.CompareAndSwap(true, false) {
						_, _ = c.Write(buf[:min(n, 3)])
						p.cuts.Add(1)
						return
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

func TestATickWhoseReplyIsLostIsRetriedAsANoOp(t *testing.T) {
	eachOf(t, backends[:1], ConfigPatch{Mode: new(ModeQueueAll), BatchSize: new(2), Capacity: new(0)}, func(t *testing.T, b *bundle) {
		addr := b.rdb.(*redis.Client).Options().Addr
		proxy := startCutProxy(t, addr)
		// go-redis's default: a command is resent up to 3 times after a
		// network error.
		rdb := redis.NewClient(&redis.Options{Addr: proxy.ln.Addr().String(), MaxRetries: 3, PoolSize: 1})
		t.Cleanup(func() { _ = rdb.Close() })
		cut := New(rdb, Options{})
		_, err := cut.Tick(b.ctx, b.room) // loads the script, opens the connection
		require.NoError(t, err)
		var tickets []string
		for range 5 {
			tickets = append(tickets, b.join(t).Ticket)
		}

		proxy.armed.Store(true)
		ev, err := cut.Tick(b.ctx, b.room)
		require.NoError(t, err, "go-redis retried the tick")
		require.Equal(t, int64(1), proxy.cuts.Load(), "the first reply was cut")
		require.Equal(t, tickets[:2], admittedTickets(ev), "the retry answers as the first run")

		st, err := b.store.Stats(b.ctx, b.room)
		require.NoError(t, err)
		require.Equal(t, int64(2), st.Admitted, "one batch admitted, not two")
		require.Equal(t, int64(3), st.Waiting)
		require.Equal(t, int64(1), b.status(t, tickets[2]).Position)
	})
}
