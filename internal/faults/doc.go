// Package faults holds the fault-injection tests of waitroom: each breaks
// one thing that production will see break, under load, and checks what the
// product promises still holds. They build cmd/waitroom and cmd/admitter
// from this tree and run them as real processes wherever a process is
// killed, against a real redis-server (internal/redistest).
//
//   - Redis is SIGKILLed under a steady join load and started again from its
//     append-only file (appendfsync always): every join acknowledged with a
//     201 still holds exactly the place it was told, and waitroom recovers
//     with no restart.
//   - An admitter and a waitroom instance are SIGKILLed, several times each,
//     right after a tick (so in the middle of the next one, or of the pushes
//     that follow it) while a long line drains through both instances'
//     sockets: every visitor is admitted exactly once, in join order, and
//     Redis, the room's events, the HTTP status and every socket agree.
//   - Two waitroom hosts whose clocks are 5 s ahead and 5 s behind serve one
//     line: the order is the join order (Redis's clock orders the line) and
//     their entry tokens verify at the true time (30 s leeway), while a
//     token signed more than 30 s ahead is refused.
//   - The store fails over under a steady sale (two instances, two
//     admitters, joins, status reads, sockets, ticks): the primary of a
//     Sentinel set, or of the room's slot on a Cluster with replicas, is
//     SIGKILLed and comes back as a replica; the failure window, lost
//     acknowledged joins (none with WAITROOM_JOIN_WAIT_REPLICAS=1) and lost
//     admissions are measured, and nobody holds two admissions, the line
//     keeps its order, every process serves again within 15 s and the pace
//     never doubles (setup_test.go holds the sale and its checks).
//   - Behind WAITROOM_CHAOS_DURATION (scripts/chaos.sh): the same sale under
//     random faults, one after another, checked the same way at the end.
//   - Slow, behind WAITROOM_SLOW_FAULTS=1: the SQS emulator is stopped for
//     30 s and started again: the admitters back off and log, stay up, and
//     the loop resumes at the room's pace, never twice it.
//
// docs/RELIABILITY.md records every fault and attack the repository tests,
// what must hold, the command that runs it and its last result.
//
// The package has no code of its own, only tests:
//
//	go test ./internal/faults/
//	WAITROOM_SLOW_FAULTS=1 go test -count=1 -run Slow ./internal/faults/
package faults
