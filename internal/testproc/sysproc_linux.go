package testproc

import "syscall"

// sysProcAttr has the kernel kill a started program if the test binary dies
// first (a panic, a -timeout), so that no service outlives the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
