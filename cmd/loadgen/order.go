package main

import (
	"math"
	"sort"
	"time"
)

// The admission-order check.
//
// The line is in arrival order, so a visitor must never be admitted by an
// earlier tick than someone who joined before them. "Joined before" has to
// be something the client knows for sure. The position in the join response
// is not it: once ticks run while visitors join, a later joiner gets a
// smaller position than an earlier one (the head moved). What the client does
// know: if A's join response had arrived before B's join request was sent,
// the server put A in line before B. Joins that overlap in time are not
// compared; with a few dozen joins in flight and millisecond latencies that
// leaves almost every pair comparable.
//
// Ticks are told apart by wave (see waves.go), so "admitted by an earlier
// tick" is "admitted message in an earlier wave". Two findings:
//   - inversion: B was admitted in an earlier wave than A, though A had
//     joined before B;
//   - overtook a waiting visitor: B was admitted while A, who joined before
//     B, still waited at the end with an open socket.
//
// Visitors whose admission cannot be placed in a wave (admitted at join or
// on connect), whose socket ended early, or who have no socket, are left out.
// Visitors who waited in the pre-queue enter the line in a random order when
// it opens (docs/API.md), so they are not checked against earlier joiners; later
// joiners are still checked against them, who must go first.

// stillWaiting is the wave of a visitor still waiting at the end.
const stillWaiting = math.MaxInt

// joinRec is what the order check needs of one visitor.
type joinRec struct {
	sent time.Duration // join request sent (since the run began)
	done time.Duration // join response received
	wave int           // wave of the admitted message, or stillWaiting
	pre  bool          // joined into the pre-queue
}

// orderResult counts what checkOrder found.
type orderResult struct {
	Compared        int `json:"compared"`
	Inversions      int `json:"inversions"`
	OvertookWaiting int `json:"overtook_waiting"`
}

// checkOrder counts the admitted visitors that were admitted in a later
// order than their join: see above. O(n log n).
func checkOrder(recs []joinRec) orderResult {
	byDone := append([]joinRec(nil), recs...)
	sort.Slice(byDone, func(i, j int) bool { return byDone[i].done < byDone[j].done })
	// For the first k joins to complete: the latest wave any of them was
	// admitted in (-1: none), and whether any of them still waits.
	maxWave := make([]int, len(byDone))
	anyWaiting := make([]bool, len(byDone))
	mw, aw := -1, false
	for i, r := range byDone {
		if r.wave == stillWaiting {
			aw = true
		} else {
			mw = max(mw, r.wave)
		}
		maxWave[i], anyWaiting[i] = mw, aw
	}
	var res orderResult
	for _, r := range recs {
		if r.wave == stillWaiting || r.pre {
			continue
		}
		// byDone[:k] completed before r was sent.
		k := sort.Search(len(byDone), func(i int) bool { return byDone[i].done >= r.sent })
		if k == 0 {
			continue
		}
		res.Compared++
		switch {
		case maxWave[k-1] > r.wave:
			res.Inversions++
		case anyWaiting[k-1]:
			res.OvertookWaiting++
		}
	}
	return res
}
