package settings

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTheExitCodeSaysHelpUsageOrFailure(t *testing.T) {
	s := New("demo", "", func(string) string { return "" })
	s.Int("burst", "DEMO_BURST", 1, "burst")
	for _, c := range []struct {
		err  error
		code int
		says string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{s.Errorf("burst", "must be at least 1"), 2, "demo: -burst (DEMO_BURST) must be at least 1 (see -help)\n"},
		{fmt.Errorf("listen: %w", errors.New("address in use")), 1, "demo: listen: address in use\n"},
	} {
		var stderr strings.Builder
		require.Equal(t, c.code, exitCode("demo", c.err, &stderr), "%v", c.err)
		require.Equal(t, c.says, stderr.String())
	}
}
