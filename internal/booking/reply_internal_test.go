package booking

// A reply a script never sends is an error, never a panic: every script is
// replaced, on a real Redis, by one that answers wrong.

import (
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

func TestABadScriptReplyIsAnErrorNotAPanic(t *testing.T) {
	ctx := t.Context()
	rdb := redistest.Start(t).Client()
	ops := map[string]func(*Store) error{
		"put seat map": func(s *Store) error { _, err := s.PutSeatMap(ctx, "r", []string{"A1"}); return err },
		"seats":        func(s *Store) error { _, err := s.Seats(ctx, "r", "ann"); return err },
		"hold":         func(s *Store) error { _, _, err := s.Hold(ctx, "r", "ann", "A1"); return err },
		"book":         func(s *Store) error { _, _, err := s.Book(ctx, "r", "ann", "A1"); return err },
		"cancel":       func(s *Store) error { return s.Cancel(ctx, "r", "ann", "A1") },
		"release":      func(s *Store) error { _, err := s.ReleaseHolds(ctx, "r", "ann"); return err },
		"mine":         func(s *Store) error { _, err := s.Mine(ctx, "r", "ann"); return err },
	}
	newStore := func(t *testing.T, script *luascript.Script) *Store {
		s, err := New(rdb, Options{})
		require.NoError(t, err)
		s.sc = scripts{hold: script, book: script, cancel: script, release: script, list: script,
			mine: script, stage: script, commit: script}
		return s
	}
	testproc.BadReplies(t, "{created = 1, ends = 'x', booking = 2, freed = 3, released = '1', staged = {}, now = 'x', seats = 4, taken = 5}",
		newStore, ops, func(string) bool { return true }, append(slices.Collect(maps.Values(refusals)), queue.ErrUnavailable)...)
}
