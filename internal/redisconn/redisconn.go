// Package redisconn opens the Redis client every waitroom binary uses, from
// REDIS_URL or REDIS_CLUSTER_ADDRS, with timeouts short enough that an
// unreachable Redis answers 503 at once instead of hanging a request.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Timeouts shared by both kinds of client.
const (
	dialTimeout = 2 * time.Second
	ioTimeout   = 2 * time.Second
	poolTimeout = 3 * time.Second
	poolSize    = 64
	// One retry and two dial attempts: with Redis down, a request answers
	// 503 in well under a second instead of after go-redis's default 5
	// dials times 3 retries (~1.7 s).
	maxRetries    = 1
	dialerRetries = 2
)

// Open returns a Cluster client when clusterAddrs ("host:port,host:port")
// is set, else a single-node client for url ("redis://…" or "rediss://…").
// With both, the Cluster takes user, password and TLS from url.
func Open(url, clusterAddrs string) (redis.UniversalClient, error) {
	var fromURL *redis.Options
	if url != "" {
		var err error
		if fromURL, err = redis.ParseURL(url); err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
	}
	if clusterAddrs != "" {
		var addrs []string
		for _, a := range strings.Split(clusterAddrs, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		if len(addrs) == 0 {
			return nil, errors.New("REDIS_CLUSTER_ADDRS lists no address")
		}
		copt := &redis.ClusterOptions{
			Addrs:                    addrs,
			DialTimeout:              dialTimeout,
			ReadTimeout:              ioTimeout,
			WriteTimeout:             ioTimeout,
			PoolTimeout:              poolTimeout,
			PoolSize:                 poolSize,
			MaxRetries:               maxRetries,
			DialerRetries:            dialerRetries,
			ContextTimeoutEnabled:    true,
			MaintNotificationsConfig: noMaintNotifications(),
			DisableIdentity:          true,
		}
		if fromURL != nil {
			copt.Username, copt.Password = fromURL.Username, fromURL.Password
			if fromURL.TLSConfig != nil {
				// Each node is checked against its own host name, not the URL's.
				copt.TLSConfig = fromURL.TLSConfig.Clone()
				copt.TLSConfig.ServerName = ""
			}
		}
		return redis.NewClusterClient(copt), nil
	}
	if url == "" {
		return nil, errors.New("set REDIS_URL or REDIS_CLUSTER_ADDRS")
	}
	opt := fromURL
	opt.DialTimeout = dialTimeout
	opt.ReadTimeout = ioTimeout
	opt.WriteTimeout = ioTimeout
	opt.PoolTimeout = poolTimeout
	opt.PoolSize = poolSize
	opt.MaxRetries = maxRetries
	opt.DialerRetries = dialerRetries
	opt.ContextTimeoutEnabled = true
	opt.MaintNotificationsConfig = noMaintNotifications()
	// CLIENT SETINFO needs Redis 7.2; on 7.0 every new connection's attempt
	// is an error, which would read as a Redis failure.
	opt.DisableIdentity = true
	return redis.NewClient(opt), nil
}

// LogTo sends go-redis's own messages (failed dials and the like) to log as
// JSON warnings, instead of plain lines on stderr that break a JSON log.
func LogTo(log *slog.Logger) { redis.SetLogger(slogAdapter{log}) }

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	a.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// noMaintNotifications turns off go-redis's probe for Redis Enterprise's
// maintenance notifications: Redis 7 and ElastiCache answer every new
// connection's probe with an error, which would read as a Redis failure.
func noMaintNotifications() *maintnotifications.Config {
	return &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}
