package pacer

// A reply the pacers' scripts never send is an error, logged and retried,
// never a panic.

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
)

// oneReply is a Scripter whose every call answers reply.
type oneReply struct{ reply any }

func (o oneReply) RunScript(_ context.Context, _ *luascript.Script, calls ...luascript.Call) ([]any, []error) {
	vals := make([]any, len(calls))
	for i := range vals {
		vals[i] = o.reply
	}
	return vals, make([]error, len(calls))
}

func TestABadScriptReplyIsAnError(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, bad := range []any{
		int64(1),
		[]any{int64(1), int64(2)},
		"not json",
		`{}`,
		`{"outcome":1,"wait_ms":0,"ticks":1,"next_ms":1,"loop":"new","gen":"x","ended":"yes","due":1}`,
	} {
		sc := oneReply{bad}
		var err error
		require.NotPanics(t, func() {
			_, err = runScript[claimReply](ctx, sc, claimScript, loopKey("r"))
			require.ErrorIs(t, err, luascript.ErrBadReply, "claim: %v", bad)
			_, err = runScript[watchReply](ctx, sc, watchScript, loopKey("r"))
			require.ErrorIs(t, err, luascript.ErrBadReply, "watch: %v", bad)
			_, err = runScript[endReply](ctx, sc, endScript, loopKey("r"))
			require.ErrorIs(t, err, luascript.ErrBadReply, "end: %v", bad)
			_, err = runScript[dueReply](ctx, sc, dueScript, timerKey("r"))
			require.ErrorIs(t, err, luascript.ErrBadReply, "due: %v", bad)
		})
	}
}

func TestLocalRidesOutABadDueReply(t *testing.T) {
	t.Parallel()
	m := newMemStore()
	m.put("odd", 100)
	m.badDue = `{"due":true}` // no next_ms
	runLocal(t, m, LocalOptions{})
	time.Sleep(time.Second)
	require.Zero(t, m.ticks("odd"), "no tick on a reply that does not say when the next is due")

	m.mu.Lock()
	m.badDue = nil
	m.mu.Unlock()
	require.Eventually(t, func() bool { return m.ticks("odd") > 0 }, 8*time.Second, 10*time.Millisecond,
		"ticks resume once the replies are right")
}
