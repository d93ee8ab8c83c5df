//go:build !linux

package testproc

import "syscall"

// sysProcAttr has nothing to add where there is no parent-death signal: the
// started programs are killed by t.Cleanup only.
func sysProcAttr() *syscall.SysProcAttr { return nil }
