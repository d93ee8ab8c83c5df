package main

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func readGC() (gogc, goal, live uint64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

func TestTheHeapFloorKeepsTheGoalAboutFloorAboveWhatIsLiveAndStopsAtDefault(t *testing.T) {
	t.Setenv("GOGC", "") // the floor steps aside for an operator's GOGC; here there is none
	// The floor lies well above what the test process already keeps live
	// (after the package's other tests, or in a second -count), for above it
	// the tuner rightly leaves Go's default.
	runtime.GC()
	_, _, before := readGC()
	floor := max(uint64(64<<20), 4*before)
	stop := heapFloor(floor)
	t.Cleanup(stop)
	require.Eventually(t, func() bool {
		runtime.GC()
		time.Sleep(time.Millisecond) // the hook runs after the collection
		gogc, goal, live := readGC()
		return gogc > 100 && goal >= floor && goal <= live+floor
	}, 5*time.Second, 10*time.Millisecond)
	stop()
	gogc, _, _ := readGC()
	require.Equal(t, uint64(100), gogc)
	runtime.GC()
	time.Sleep(50 * time.Millisecond) // the stopped hook's last run
	gogc, _, _ = readGC()
	require.Equal(t, uint64(100), gogc)
}

func TestTheHeapFloorLeavesAnOperatorsGOGC(t *testing.T) {
	t.Setenv("GOGC", "100")
	stop := heapFloor(64 << 20)
	defer stop()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	gogc, _, _ := readGC()
	require.Equal(t, uint64(100), gogc)
}
