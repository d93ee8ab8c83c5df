package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// seq returns join records for joins that each completed before the next
// was sent, admitted in the given waves.
func seq(waves ...int) []joinRec {
	recs := make([]joinRec, len(waves))
	for i, w := range waves {
		recs[i] = joinRec{sent: time.Duration(10*i) * time.Millisecond, done: time.Duration(10*i+5) * time.Millisecond, wave: w}
	}
	return recs
}

func TestAdmissionsInJoinOrderPass(t *testing.T) {
	res := checkOrder(seq(0, 0, 1, 1, 2, stillWaiting, stillWaiting))
	require.Equal(t, orderResult{Compared: 4}, res, "the first admission has no earlier join")
}

func TestALaterJoinerAdmittedByAnEarlierTickIsAnInversion(t *testing.T) {
	res := checkOrder(seq(0, 2, 1, 3))
	require.Equal(t, orderResult{Compared: 3, Inversions: 1}, res)
}

func TestOvertakingAVisitorStillWaitingIsCounted(t *testing.T) {
	res := checkOrder(seq(0, stillWaiting, 1, 1))
	require.Equal(t, orderResult{Compared: 2, OvertookWaiting: 2}, res)
}

func TestOverlappingJoinsAreNotCompared(t *testing.T) {
	// Both in flight at once: the server may have put either first.
	recs := []joinRec{
		{sent: 0, done: 10 * time.Millisecond, wave: 1},
		{sent: 5 * time.Millisecond, done: 8 * time.Millisecond, wave: 0},
	}
	require.Equal(t, orderResult{}, checkOrder(recs))
	// Sent after the first one completed: compared, and out of order.
	recs = append(recs, joinRec{sent: 11 * time.Millisecond, done: 12 * time.Millisecond, wave: 0})
	require.Equal(t, orderResult{Compared: 1, Inversions: 1}, checkOrder(recs))
}

func TestSameWaveIsNoInversion(t *testing.T) {
	require.Equal(t, orderResult{Compared: 2}, checkOrder(seq(4, 4, 4)))
}

func TestPrequeueJoinersAreNotCheckedAgainstEachOther(t *testing.T) {
	recs := seq(1, 0, 2, 3) // the first two waited in the pre-queue: random order
	recs[0].pre, recs[1].pre = true, true
	require.Equal(t, orderResult{Compared: 2}, checkOrder(recs))
	recs[3].wave = 0 // a later joiner must not go before the pre-queue
	require.Equal(t, orderResult{Compared: 2, Inversions: 1}, checkOrder(recs))
}
