//go:build !linux

package hub

// Elsewhere than Linux every socket has a reading goroutine (readLoop).

var pollerOff = true

func watchRead(s *socket) { go readLoop(s) }

func unwatchRead(*socket) {}
