package settings_test

import (
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/settings"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// all declares one setting of each kind.
type all struct {
	s     *settings.Set
	str   *string
	dur   *time.Duration
	n     *int
	f     *float64
	b     *bool
	list  *[]string
	level *slog.Level
}

func declare(env map[string]string) all {
	s := settings.New("demo", "A demo binary.", envOf(env))
	return all{s: s,
		str:   s.String("addr", "DEMO_ADDR", ":8080", "listen address"),
		dur:   s.Duration("hold", "DEMO_HOLD", 5*time.Minute, "how long a hold lasts"),
		n:     s.Int("burst", "DEMO_BURST", 100, "burst"),
		f:     s.Float("rate", "DEMO_RATE", 20, "rate"),
		b:     s.Bool("trust-proxy", "DEMO_TRUST_PROXY", false, "trust X-Forwarded-For"),
		list:  s.List("origins", "DEMO_ORIGINS", "", "origins"),
		level: s.Level("log-level", "DEMO_LOG_LEVEL", slog.LevelInfo, "log level"),
	}
}

func TestDefaultsThenTheEnvironmentThenTheFlags(t *testing.T) {
	a := declare(nil)
	require.NoError(t, a.s.Parse(nil, nil))
	require.Equal(t, ":8080", *a.str)
	require.Equal(t, 5*time.Minute, *a.dur)
	require.Equal(t, 100, *a.n)
	require.Equal(t, 20.0, *a.f)
	require.False(t, *a.b)
	require.Empty(t, *a.list)
	require.Equal(t, slog.LevelInfo, *a.level)

	a = declare(map[string]string{"DEMO_ADDR": " :9000 ", "DEMO_HOLD": "2m", "DEMO_BURST": "7", "DEMO_RATE": "2.5",
		"DEMO_TRUST_PROXY": "true", "DEMO_ORIGINS": "https://a.example, ,https://b.example ", "DEMO_LOG_LEVEL": "debug"})
	require.NoError(t, a.s.Parse(nil, nil))
	require.Equal(t, ":9000", *a.str, "trimmed")
	require.Equal(t, 2*time.Minute, *a.dur)
	require.Equal(t, 7, *a.n)
	require.Equal(t, 2.5, *a.f)
	require.True(t, *a.b)
	require.Equal(t, []string{"https://a.example", "https://b.example"}, *a.list)
	require.Equal(t, slog.LevelDebug, *a.level)

	a = declare(map[string]string{"DEMO_BURST": "7", "DEMO_TRUST_PROXY": "true"})
	require.NoError(t, a.s.Parse([]string{"-burst", "9", "-trust-proxy=false", "-hold=1s"}, nil))
	require.Equal(t, 9, *a.n, "the flag wins")
	require.False(t, *a.b, "the flag wins")
	require.Equal(t, time.Second, *a.dur)
}

func TestAnEmptyVariableCountsAsUnset(t *testing.T) {
	a := declare(map[string]string{"DEMO_ADDR": "", "DEMO_HOLD": "  ", "DEMO_BURST": "", "DEMO_TRUST_PROXY": "\t"})
	require.NoError(t, a.s.Parse(nil, nil))
	require.Equal(t, ":8080", *a.str)
	require.Equal(t, 5*time.Minute, *a.dur)
	require.Equal(t, 100, *a.n)
	require.False(t, *a.b)
}

func TestABadValueIsAUsageErrorNamingTheVariableOrFlag(t *testing.T) {
	for env, bad := range map[string]string{
		"DEMO_HOLD": "soon", "DEMO_BURST": "1.5", "DEMO_RATE": "NaN", "DEMO_TRUST_PROXY": "yes", "DEMO_LOG_LEVEL": "loud",
	} {
		err := declare(map[string]string{env: bad}).s.Parse(nil, nil)
		require.ErrorIs(t, err, settings.ErrUsage, env)
		require.ErrorContains(t, err, env+`="`+bad+`"`)
	}
	for _, args := range [][]string{{"-hold", "soon"}, {"-rate", "+Inf"}, {"-burst", "x"}} {
		err := declare(nil).s.Parse(args, nil)
		require.ErrorIs(t, err, settings.ErrUsage, "%v", args)
		require.ErrorContains(t, err, args[0])
	}
	err := declare(nil).s.Parse([]string{"-nope"}, nil)
	require.ErrorIs(t, err, settings.ErrUsage)
	require.ErrorContains(t, err, "-nope")
	err = declare(nil).s.Parse([]string{"extra"}, nil)
	require.ErrorIs(t, err, settings.ErrUsage)
	require.ErrorContains(t, err, "unexpected arguments")

	a := declare(nil)
	err = a.s.Errorf("burst", "must be at least %d, got %d", 1, 0)
	require.ErrorIs(t, err, settings.ErrUsage)
	require.ErrorContains(t, err, "-burst (DEMO_BURST) must be at least 1, got 0")
}

func TestHelpListsEverySettingWithItsVariableAndDefaultButNoValue(t *testing.T) {
	a := declare(map[string]string{"DEMO_ADDR": "s3cret"})
	var help strings.Builder
	err := a.s.Parse([]string{"-help"}, &help)
	require.True(t, errors.Is(err, flag.ErrHelp))
	out := help.String()
	require.Contains(t, out, "A demo binary.")
	for _, st := range a.s.Settings() {
		require.Contains(t, out, "  -"+st.Flag+" "+st.Kind+"\n")
		def := st.Default
		if def == "" {
			def = "unset"
		}
		require.Contains(t, out, "env "+st.Env+", default "+def+"\n")
	}
	require.Contains(t, out, "default 5m\n", "durations as one types them")
	require.NotContains(t, out, "s3cret")
}
