//go:build unix && !linux

package redistest

import "syscall"

// sysProcAttr puts redis-server in its own process group, so Kill can reach
// the children it forks for AOF rewrites too. Only Linux has Pdeathsig.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
