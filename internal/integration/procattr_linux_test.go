package integration_test

import "syscall"

// procAttr has the kernel kill a started binary if this test binary dies
// first (a panic, a -timeout), so that no service outlives the run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
