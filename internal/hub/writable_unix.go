//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package hub

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// writable reports whether the kernel would take more bytes for conn now,
// that is whether a write to it is not waiting for the client.
func writable(conn net.Conn) bool {
	if c, ok := conn.(interface{ NetConn() net.Conn }); ok {
		conn = c.NetConn() // a *tls.Conn: the TCP connection under it
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var out bool
	err = rc.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		n, err := unix.Poll(p, 0)
		for errors.Is(err, unix.EINTR) {
			n, err = unix.Poll(p, 0)
		}
		out = err == nil && n == 1 && p[0].Revents&unix.POLLOUT != 0
	})
	return err == nil && out
}
