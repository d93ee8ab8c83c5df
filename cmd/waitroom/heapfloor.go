package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// gatewayHeapFloor is how far the heap of a gateway may grow past what is
// live before the garbage collector runs, while less than that is live. Go's
// default (GOGC=100) lets it grow by as much as is live (with the goroutine
// stacks and globals), to at least 4 MiB: a gateway keeps about 2 MiB live and leaves about 8 KiB of garbage per
// proxied request, so at 10 000 requests a second it collected 40 times a
// second, each time stopping every goroutine (docs/BENCHMARKS.md). With the
// floor it collects about once a second at that rate.
const gatewayHeapFloor = 64 << 20

// goMinHeap is Go's least heap goal at GOGC=100; it scales with GOGC.
const goMinHeap = 4 << 20

// heapFloor keeps the heap's goal about floor above what is live: after
// every collection it sets GOGC so that the goal is live + floor at most
// (exactly, once 4 MiB is live) while what GOGC counts (the live heap,
// stacks and globals) is less than floor, and 100, Go's default, once it is
// not. So the heap never exceeds Go's default goal by more than floor. It does nothing when GOGC or GOMEMLIMIT is set: the operator's
// choice stands. It returns a func that puts GOGC back to 100 and stops.
func heapFloor(floor uint64) (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	t := &floorTuner{floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"},
		{Name: "/gc/scan/globals:bytes"}}}
	runtime.SetFinalizer(&afterGC{t}, (*afterGC).run)
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(100)
	}
}

type floorTuner struct {
	floor  uint64
	sample []metrics.Sample

	mu      sync.Mutex // a stop waits for a run in progress
	stopped bool
}

// afterGC is reachable only from its own finalizer, which each collection
// runs and which sets itself again: a hook after every GC.
type afterGC struct{ t *floorTuner }

func (a *afterGC) run() {
	t := a.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	var live uint64 // what GOGC is a percentage of
	for _, s := range t.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			live += s.Value.Uint64()
		}
	}
	p := 100
	if live > 0 && live < t.floor {
		// goal = max(live heap + live*p/100, goMinHeap*p/100)
		p = int(t.floor * 100 / max(live, goMinHeap))
	}
	debug.SetGCPercent(p) // every time: cheap, and another Main in the process (tests) may have stopped its own
	runtime.SetFinalizer(a, (*afterGC).run)
}
