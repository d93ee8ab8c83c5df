package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// bindWithoutPort sets IP_BIND_ADDRESS_NO_PORT on a socket about to be bound
// to a source address, so that the kernel picks its port at connect, per
// destination, instead of at bind among every port of the address. Without
// it, the loadgens of scripts/load/sockets-many.sh spent a third of the
// machine's CPU in bind's port search once 14 000 ports were taken.
func bindWithoutPort(c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}
