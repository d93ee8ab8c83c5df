//go:build !linux

package main

import "syscall"

// bindWithoutPort does nothing where IP_BIND_ADDRESS_NO_PORT does not exist.
func bindWithoutPort(syscall.RawConn) error { return nil }
