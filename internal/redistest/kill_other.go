//go:build !unix

package redistest

import (
	"errors"
	"os"
	"syscall"
)

// sysProcAttr has nothing to add where there are no process groups.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup falls back to killing the server alone.
func killGroup(p *os.Process) error {
	err := p.Kill()
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}
