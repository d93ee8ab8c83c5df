//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package hub

import "net"

// writable cannot ask the kernel here: a write that waits for
// WriteTimeout is taken to wait for the client.
func writable(net.Conn) bool { return false }
