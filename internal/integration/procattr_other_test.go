//go:build !linux

package integration_test

import "syscall"

// procAttr has nothing to add where there is no parent-death signal: the
// started binaries are killed by t.Cleanup only.
func procAttr() *syscall.SysProcAttr { return nil }
