package hub

import (
	"sync"
	"time"
)

// A few writer goroutines (Options.Writers) write for all sockets, taking
// them from one ready queue in the order they got something to send; a
// socket is queued at most once, so one writer at a time writes to it. A
// writer stuck on a client that does not read is freed by the watchdog, not
// by a write deadline (docs/BENCHMARKS.md, "Sockets", says why).

// maxTake bounds the sockets a writer takes from the queue at once: enough
// to spare the queue's lock, few enough that the other writers share a
// burst.
const maxTake = 32

// writers is the ready queue of sockets with something to write.
type writers struct {
	mu      sync.Mutex
	cond    sync.Cond // signalled when the queue gets a socket, or at stop
	ready   []*socket // ready[head:] wait, oldest first
	head    int
	idle    int // writers waiting on cond
	stopped bool
	done    chan struct{} // closed at stop
	all     []*writer
}

// writer is one writer goroutine; the watchdog reads what it is writing.
type writer struct {
	mu    sync.Mutex
	s     *socket   // the socket being written, nil between sockets
	since time.Time // when the writer began writing s
}

func (w *writers) init(n int) {
	w.cond.L = &w.mu
	w.done = make(chan struct{})
	w.all = make([]*writer, n)
	for i := range w.all {
		w.all[i] = &writer{}
	}
}

// add queues s, whose queued flag the caller has just set.
func (w *writers) add(s *socket) {
	w.mu.Lock()
	if len(w.ready) == cap(w.ready) && w.head > 0 {
		// Reuse the room the writers have taken from the front.
		n := copy(w.ready, w.ready[w.head:])
		clear(w.ready[n:])
		w.ready, w.head = w.ready[:n], 0
	}
	w.ready = append(w.ready, s)
	if w.idle > 0 {
		w.cond.Signal()
	}
	w.mu.Unlock()
}

// take waits for sockets to write and appends a share of them to batch. It
// returns nil once the writers are stopped.
func (w *writers) take(batch []*socket) []*socket {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.head == len(w.ready) {
		if w.stopped {
			return nil
		}
		w.idle++
		w.cond.Wait()
		w.idle--
	}
	waiting := len(w.ready) - w.head
	n := min(maxTake, max(1, waiting/len(w.all)))
	batch = append(batch, w.ready[w.head:w.head+n]...)
	clear(w.ready[w.head : w.head+n])
	w.head += n
	if w.head == len(w.ready) {
		w.ready, w.head = w.ready[:0], 0
	}
	if n < waiting && w.idle > 0 {
		// More than this writer's share: wake another.
		w.cond.Signal()
	}
	return batch
}

// stop ends the writers once every socket has closed.
func (w *writers) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped = true
		close(w.done)
		w.cond.Broadcast()
	}
}

// writeLoop is the writer w.
func (h *Hub) writeLoop(w *writer) {
	defer h.loops.Done()
	var (
		batch []*socket
		buf   []byte
		msgs  [][]byte
	)
	for {
		batch = h.writers.take(batch[:0])
		if batch == nil {
			return
		}
		for i, s := range batch {
			w.mu.Lock()
			w.s, w.since = s, time.Now()
			w.mu.Unlock()
			buf, msgs = s.flush(buf, msgs)
			w.mu.Lock()
			w.s = nil
			w.mu.Unlock()
			batch[i] = nil
		}
	}
}

// watchLoop drops the clients whose writes wait on a full send buffer for
// longer than WriteTimeout, checking every half of it, until the writers
// stop.
func (h *Hub) watchLoop() {
	defer h.loops.Done()
	t := time.NewTicker(h.opt.WriteTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-h.writers.done:
			return
		case <-t.C:
		}
		for _, w := range h.writers.all {
			w.mu.Lock()
			s, since := w.s, w.since
			w.mu.Unlock()
			if s == nil || time.Since(since) < h.opt.WriteTimeout || writable(s.conn) {
				continue
			}
			h.log.Info("hub: dropping a socket that does not read", "room", s.room, "ticket", short(s.ticket))
			// Closing the connection ends the write at once.
			s.kill()
		}
	}
}

// The ping wheel: every socket sits in one slot, round robin; the ping loop
// visits one slot per step and all of them once per PingInterval, so pings
// are spread over the interval, and a silent client is found without a timer.

// pingStep is about the time between two slots of the wheel.
const pingStep = 100 * time.Millisecond

// wheel holds every socket being served, in slots of doubly linked lists.
type wheel struct {
	mu    sync.Mutex
	slots []*socket // the first socket of each slot
	next  int32     // the slot of the next socket added
	step  time.Duration
}

func (w *wheel) init(interval time.Duration) {
	n := max(1, min(int(interval/pingStep), 1000))
	w.slots = make([]*socket, n)
	w.step = interval / time.Duration(n)
}

func (w *wheel) add(s *socket) {
	w.mu.Lock()
	s.slot = w.next
	w.next = (w.next + 1) % int32(len(w.slots))
	s.next = w.slots[s.slot]
	if s.next != nil {
		s.next.prev = s
	}
	w.slots[s.slot] = s
	w.mu.Unlock()
}

func (w *wheel) remove(s *socket) {
	w.mu.Lock()
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		w.slots[s.slot] = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	w.mu.Unlock()
}

// sockets appends the sockets of slot i to buf; all of them when i < 0.
func (w *wheel) sockets(i int, buf []*socket) []*socket {
	w.mu.Lock()
	defer w.mu.Unlock()
	for j, head := range w.slots {
		if i >= 0 && j != i {
			continue
		}
		for s := head; s != nil; s = s.next {
			buf = append(buf, s)
		}
	}
	return buf
}

// each calls f for every socket, outside the wheel's lock.
func (w *wheel) each(f func(*socket)) {
	for _, s := range w.sockets(-1, nil) {
		f(s)
	}
}

// pingLoop pings one slot of the wheel per step until Shutdown.
func (h *Hub) pingLoop() {
	defer h.loops.Done()
	w := &h.wheel
	t := time.NewTicker(w.step)
	defer t.Stop()
	var buf []*socket
	for slot := 0; ; slot = (slot + 1) % len(w.slots) {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		buf = w.sockets(slot, buf[:0])
		now := time.Now()
		for i, s := range buf {
			if s.silent(now) {
				// No reader waits with a deadline: the wheel's visit is it.
				h.log.Info("hub: dropping a socket that answers no pings", "room", s.room, "ticket", short(s.ticket))
				s.kill()
			} else {
				s.pingSoon()
			}
			buf[i] = nil
		}
	}
}
