package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/luascript"
)

func TestUnreachableGoesByTheErrorsTypeNotItsText(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, err := range []error{
		dial,
		fmt.Errorf("join: %w", dial),
		fmt.Errorf("write: %w", syscall.EPIPE),
		fmt.Errorf("read: %w", syscall.ECONNRESET),
		io.EOF,
		io.ErrUnexpectedEOF,
		redis.ErrClosed,
		redis.ErrPoolTimeout,
		context.DeadlineExceeded,
	} {
		require.True(t, Unreachable(err), "%v", err)
	}
	for _, err := range []error{
		errors.New("dial tcp: connection refused"), // the text alone says nothing
		errors.New("LOADING Redis is loading the dataset in memory"),
		context.Canceled,
		redis.Nil,
		fmt.Errorf("status: %w", luascript.ErrBadReply),
	} {
		require.False(t, Unreachable(err), "%v", err)
	}
}

func TestUnreachableKnowsRedisReplyingItCannotServeNow(t *testing.T) {
	rdb := backends[0].Client
	for reply, want := range map[string]bool{
		"LOADING Redis is loading the dataset in memory":  true,
		"CLUSTERDOWN The cluster is down":                 true,
		"TRYAGAIN Multiple keys request during rehashing": true,
		"ERR connection refused":                          false, // a reply, whatever its text
	} {
		err := rdb.Eval(t.Context(), "return redis.error_reply(ARGV[1])", nil, reply).Err()
		require.Error(t, err)
		require.Equal(t, want, Unreachable(err), "%v", err)
	}
}

func TestARefusalBecomesItsNamedError(t *testing.T) {
	for code, named := range refusals {
		err := storeErr("op", fmt.Errorf("wrapped: %w", &luascript.Refusal{Script: "x.lua", Code: code}))
		require.Equal(t, named, err, code)
	}
	err := storeErr("op", &luascript.Refusal{Script: "x.lua", Code: "no_such_code"})
	require.ErrorContains(t, err, "no_such_code", "an unknown code keeps its text for the log")
}
