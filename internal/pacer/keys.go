package pacer

import "github.com/waitroom/waitroom/pkg/queue"

// loopKey is the fence of a room's SQS loop (see lua/claim.lua). It carries
// the room's hash tag, so it lives on the room's Cluster slot.
func loopKey(room string) string { return queue.KeyPrefix(room) + "loop" }

// timerKey is the in-process pacer's timer of a room (see lua/due.lua).
func timerKey(room string) string { return queue.KeyPrefix(room) + "timer" }
