//go:build linux

package hub

import (
	"errors"
	"log/slog"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sockets' reads without a goroutine per socket: one epoll instance for
// the process, and one goroutine that waits on it and reads whatever a
// client sent (pongs, mostly) on its own turn, with one buffer for all.
// A goroutine parked in a Read would cost every socket a stack of its own.

// pollReadSize is the poller's read buffer: any client's frames at once.
const pollReadSize = 16 << 10

type poller struct {
	fd int // the epoll instance
	mu sync.Mutex
	// by holds the sockets being watched, by descriptor. A descriptor is
	// taken out before its connection is closed, so a number the kernel
	// hands out again never finds the socket that had it.
	by map[int32]*polled
}

type polled struct {
	s  *socket
	rc syscall.RawConn
}

var (
	pollOnce sync.Once
	thePoll  *poller // nil if epoll is unavailable: every socket then has a reading goroutine
)

func getPoller() *poller {
	pollOnce.Do(func() {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			slog.Warn("hub: no epoll; one reading goroutine per socket", "err", err)
			return
		}
		thePoll = &poller{fd: fd, by: map[int32]*polled{}}
		go thePoll.run()
	})
	return thePoll
}

// pollerOff makes watchRead use a goroutine per socket (for tests of it).
var pollerOff bool

// watchRead starts reading s's client frames: through the poller when the
// connection is a plain TCP one, else with a goroutine of its own.
func watchRead(s *socket) {
	sc, ok := s.conn.(syscall.Conn)
	p := getPoller()
	if !ok || p == nil || pollerOff {
		go readLoop(s)
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		go readLoop(s)
		return
	}
	fd := int32(-1)
	_ = rc.Control(func(d uintptr) { fd = int32(d) })
	if fd < 0 {
		go readLoop(s)
		return
	}
	// Under s.mu, so that end, which sets over under it first, either
	// sees pollFD or is seen here.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return
	}
	p.mu.Lock()
	p.by[fd] = &polled{s: s, rc: rc}
	p.mu.Unlock()
	// Level-triggered: a read that leaves bytes behind is woken again.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: fd}
	if err := unix.EpollCtl(p.fd, unix.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		p.mu.Lock()
		delete(p.by, fd)
		p.mu.Unlock()
		go readLoop(s)
		return
	}
	s.pollFD = fd
}

// unwatchRead stops the poller watching s; its connection is closed next.
func unwatchRead(s *socket) {
	p := thePoll
	if p == nil || s.pollFD < 0 {
		return
	}
	p.mu.Lock()
	e := p.by[s.pollFD]
	if e != nil && e.s == s {
		delete(p.by, s.pollFD)
	} else {
		e = nil
	}
	p.mu.Unlock()
	if e != nil {
		_ = e.rc.Control(func(d uintptr) { _ = unix.EpollCtl(p.fd, unix.EPOLL_CTL_DEL, int(d), nil) })
	}
}

func (p *poller) run() {
	events := make([]unix.EpollEvent, 128)
	buf := make([]byte, pollReadSize)
	for {
		n, err := unix.EpollWait(p.fd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			slog.Error("hub: epoll_wait failed; sockets are no longer read", "err", err)
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			e := p.by[ev.Fd]
			p.mu.Unlock()
			if e != nil {
				e.read(buf)
			}
		}
	}
}

// read takes what the client sent, without waiting: the kernel said there
// is something, or the connection ended.
func (e *polled) read(buf []byte) {
	var (
		n    int
		rerr error
	)
	err := e.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = unix.Read(int(fd), buf)
			if !errors.Is(rerr, unix.EINTR) {
				return true
			}
		}
	})
	switch {
	case err != nil: // closed meanwhile
		e.s.end()
	case errors.Is(rerr, unix.EAGAIN):
	case rerr != nil || n <= 0:
		e.s.end()
	default:
		e.s.consume(buf[:n])
	}
}
