package queue

// Store.RunScript against real Redis: pipelining, NOSCRIPT and a Cluster's
// slots are Redis's behaviour.

import (
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
)

func TestRunScriptRunsEveryCallAndLoadsAScriptRedisLacks(t *testing.T) {
	for _, be := range backends {
		t.Run(be.Name, func(t *testing.T) {
			store := New(be.Client, Options{})
			// Named after the backend: in a fresh run, no earlier test loaded it.
			script := luascript.NewLoader(fstest.MapFS{"run.lua": {Data: []byte(fmt.Sprintf(`-- %s
if ARGV[1] == 'fail' then return redis.error_reply('refused') end
return {KEYS[1], ARGV[1]}`, be.Name))}}, ".").Load("run.lua")
			var calls []luascript.Call
			for i := range 10 { // keys on many Cluster slots
				arg := fmt.Sprint(i)
				if i == 3 {
					arg = "fail"
				}
				calls = append(calls, luascript.Call{Keys: []string{KeyPrefix(fmt.Sprintf("run-script-%d", i)) + "x"}, Args: []any{arg}})
			}
			for range 2 { // not loaded, then loaded
				vals, errs := store.RunScript(t.Context(), script, calls...)
				require.Len(t, vals, len(calls))
				for i, c := range calls {
					if i == 3 {
						require.ErrorContains(t, errs[i], "refused", "a call's error is its own")
						continue
					}
					require.NoError(t, errs[i])
					require.Equal(t, []any{c.Keys[0], c.Args[0]}, vals[i])
				}
			}
			vals, errs := store.RunScript(t.Context(), script)
			require.Empty(t, vals)
			require.Empty(t, errs)
		})
	}
}
