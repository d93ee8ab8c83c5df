package integration_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/testproc"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the tests' own clients; the tests
	// that stop Redis check the services' answers instead. (The open-files
	// limit needs no raising: the Go runtime lifts its soft limit to the hard
	// one at start, in this process and in each binary it runs.)
	redis.SetLogger(silentLogger{})
	testproc.Main(m)
}

type silentLogger struct{}

func (silentLogger) Printf(context.Context, string, ...any) {}

// startServer runs cmd/<bin> on a free port given to it in addrVar, and
// returns once its /readyz answers 200.
func startServer(t *testing.T, bin, name, addrVar string, env []string) *testproc.Server {
	t.Helper()
	return testproc.StartServer(t, testproc.Command{Name: name, Path: testproc.Binary(t, bin), Env: env}, addrVar)
}
