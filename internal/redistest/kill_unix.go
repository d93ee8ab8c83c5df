//go:build unix

package redistest

import (
	"errors"
	"os"
	"syscall"
)

// killGroup kills the whole process group, not only the server: an AOF
// rewrite child would otherwise outlive it and keep writing into the dir.
func killGroup(p *os.Process) error {
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone
	}
	return err
}
