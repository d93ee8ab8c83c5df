package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

type waveBundle struct {
	d     *waveDetector
	clk   *fakeClock
	quiet []waveStat
	socks []*sockWave
}

// setupWaves returns a detector with a gap of 100 ms and n sockets that
// connected (first message) long before any wave.
func setupWaves(t *testing.T, n int) *waveBundle {
	t.Helper()
	b := &waveBundle{clk: &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	b.d = newWaveDetector(100*time.Millisecond, b.clk.now, func() int64 { return int64(n) })
	b.d.onQuiet = func(ws waveStat) { b.quiet = append(b.quiet, ws) }
	for range n {
		s := &sockWave{}
		b.d.First(s)
		b.socks = append(b.socks, s)
	}
	b.clk.advance(time.Second)
	return b
}

func TestATicksMessagesAreOneWave(t *testing.T) {
	b := setupWaves(t, 4)
	require.Equal(t, 0, b.d.Record(kindPosition, b.socks[0]))
	b.clk.advance(60 * time.Millisecond)
	require.Equal(t, 0, b.d.Record(kindPosition, b.socks[1]))
	b.clk.advance(99 * time.Millisecond)
	require.Equal(t, 0, b.d.Record(kindPosition, b.socks[2]))
	b.clk.advance(10 * time.Millisecond)
	require.Equal(t, 0, b.d.Record(kindAdmitted, b.socks[3]))

	b.clk.advance(50 * time.Millisecond)
	b.d.Flush(false)
	require.Empty(t, b.quiet, "not quiet for the gap yet")
	b.clk.advance(50 * time.Millisecond)
	b.d.Flush(false)
	require.Len(t, b.quiet, 1)
	ws := b.quiet[0]
	require.Equal(t, 0, ws.Index)
	require.Equal(t, time.Second, ws.At)
	require.Equal(t, 3, ws.Positions)
	require.Equal(t, 1, ws.Admissions)
	require.Zero(t, ws.Stragglers)
	require.InDelta(t, 1.0, ws.Coverage, 1e-9)
	require.Equal(t, 169*time.Millisecond, ws.Last, "from the first message to the last")
	require.Equal(t, 169*time.Millisecond, ws.P99, "p99 of 4 messages is the last one")
	require.InEpsilon(t, float64(60*time.Millisecond), float64(ws.P50), 1.0/64, "p50 is the second message, within a bucket")
}

func TestTheNextTickIsANewWave(t *testing.T) {
	b := setupWaves(t, 2)
	b.d.Record(kindPosition, b.socks[0])
	b.d.Record(kindPosition, b.socks[1])
	b.clk.advance(time.Second)
	require.Equal(t, 1, b.d.Record(kindPosition, b.socks[1]))
	require.Len(t, b.quiet, 1, "the first wave went quiet")
	require.Equal(t, 1, b.d.Record(kindPosition, b.socks[0]))
	started, open := b.d.State()
	require.Equal(t, 2, started)
	require.True(t, open)
}

func TestAStragglerAfterAQuietSpellCountsForItsOwnTick(t *testing.T) {
	b := setupWaves(t, 3)
	b.d.Record(kindPosition, b.socks[0])
	b.clk.advance(5 * time.Millisecond)
	b.d.Record(kindPosition, b.socks[1])
	b.clk.advance(300 * time.Millisecond)
	b.d.Flush(false)
	require.Len(t, b.quiet, 1)
	require.InDelta(t, 2.0/3, b.quiet[0].Coverage, 1e-9, "a socket is missing")

	require.Equal(t, 0, b.d.Record(kindPosition, b.socks[2]), "the late socket's message is wave 0's")
	waves, per, unplaced := b.d.Waves()
	require.Len(t, waves, 1, "no wave of its own")
	require.Equal(t, 305*time.Millisecond, waves[0].Last, "its full delay counts")
	require.Equal(t, 1, waves[0].Stragglers)
	require.InDelta(t, 1.0, waves[0].Coverage, 1e-9)
	require.Equal(t, int64(3), per.N)
	require.Zero(t, unplaced)
}

func TestOverlappingTicksAreToldApartBySocket(t *testing.T) {
	b := setupWaves(t, 2)
	a, late := b.socks[0], b.socks[1]
	require.Equal(t, 0, b.d.Record(kindPosition, a))
	b.clk.advance(50 * time.Millisecond)
	require.Equal(t, 1, b.d.Record(kindPosition, a), "a second message to the same socket is the next tick, gap or not")
	b.clk.advance(20 * time.Millisecond)
	require.Equal(t, 0, b.d.Record(kindPosition, late), "the late socket's first is the first tick's")
	require.Equal(t, 1, b.d.Record(kindPosition, late))
	waves, _, _ := b.d.Waves()
	require.Len(t, waves, 2)
	require.Equal(t, 70*time.Millisecond, waves[0].Last)
	require.Equal(t, 1, waves[0].Stragglers)
	require.Equal(t, 20*time.Millisecond, waves[1].Last)
}

func TestASocketThatConnectsAroundAWaveStartIsNotTrustedUntilPlaced(t *testing.T) {
	b := setupWaves(t, 1)
	fresh := &sockWave{}
	b.d.First(fresh) // 10 ms before the wave starts: may or may not reflect it
	b.clk.advance(10 * time.Millisecond)
	b.d.Record(kindPosition, b.socks[0])
	require.Equal(t, int32(unknownWave), fresh.last)
	b.clk.advance(200 * time.Millisecond)
	b.d.Flush(false)
	require.Equal(t, -1, b.d.Record(kindPosition, fresh), "no wave under way: not placed")
	b.clk.advance(time.Second)
	require.Equal(t, 1, b.d.Record(kindPosition, b.socks[0]))
	require.Equal(t, 1, b.d.Record(kindPosition, fresh), "inside a wave: placed, and known from now on")
	require.Equal(t, int32(1), fresh.last)
	_, _, unplaced := b.d.Waves()
	require.Equal(t, 1, unplaced)
}

func TestOldWavesKeepTheirPercentiles(t *testing.T) {
	b := setupWaves(t, 1)
	for i := range histRing + 2 {
		require.Equal(t, i, b.d.Record(kindPosition, b.socks[0]))
		b.clk.advance(time.Second)
	}
	waves, _, _ := b.d.Waves()
	require.Len(t, waves, histRing+2)
	for _, w := range waves {
		require.Equal(t, 1, w.Positions)
		require.Zero(t, w.P99)
	}
	require.Equal(t, time.Second, b.d.Quiet())
}

func TestSocketsThatAllConnectedAroundAWaveStillStartTheNext(t *testing.T) {
	b := setupWaves(t, 0)
	s1, s2 := &sockWave{}, &sockWave{}
	b.d.First(s1)
	b.clk.advance(10 * time.Millisecond)
	require.Equal(t, 0, b.d.Record(kindPosition, s1), "the very first wave")
	b.d.First(s2) // just after the wave began: unknown
	b.clk.advance(300 * time.Millisecond)
	require.Equal(t, -1, b.d.Record(kindPosition, s2), "quiet, and soon after the wave: unplaced")
	b.clk.advance(time.Second)
	require.Equal(t, 1, b.d.Record(kindPosition, s2), "long after: a new wave")
	require.Equal(t, 1, b.d.Record(kindPosition, s1))
}

func TestASocketPlacedLateInAWaveDoesNotMakeTheNextTicksEndLate(t *testing.T) {
	b := setupWaves(t, 2)
	b.d.apart = 7500 * time.Millisecond // a room ticking every 15 s
	require.Equal(t, 0, b.d.Record(kindPosition, b.socks[0]))
	fresh := &sockWave{}
	b.d.First(fresh) // connected just as the tick's wave began: unknown
	b.clk.advance(10 * time.Millisecond)
	require.Equal(t, 0, b.d.Record(kindPosition, b.socks[1]))
	b.clk.advance(2 * time.Second) // the wave went quiet; the server lagged
	require.Equal(t, 0, b.d.Record(kindPosition, fresh), "too soon for the next tick: a straggler of this one")

	b.clk.advance(13 * time.Second) // the next tick
	for _, s := range append(b.socks, fresh) {
		require.Equal(t, 1, b.d.Record(kindPosition, s))
	}
	waves, _, _ := b.d.Waves()
	require.Len(t, waves, 2)
	require.Equal(t, 3, waves[1].Positions, "every socket's next message is the next tick's")
}
