//go:build linux

package redistest

import "syscall"

// sysProcAttr puts redis-server in its own process group, so Kill can reach
// the children it forks for AOF rewrites too, and asks the kernel to SIGKILL
// it when the test binary dies, so a crashed or timed-out test leaves no
// orphan listening on a port.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
