// Package redisconn opens the Redis client every waitroom binary uses, from
// REDIS_URL or REDIS_CLUSTER_ADDRS, with timeouts short enough that an
// unreachable Redis answers 503 at once instead of hanging a request.
package redisconn

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts shared by both kinds of client.
const (
	dialTimeout = 2 * time.Second
	ioTimeout   = 2 * time.Second
	poolTimeout = 3 * time.Second
	poolSize    = 64
)

// Open returns a Cluster client when clusterAddrs ("host:port,host:port")
// is set, else a single-node client for url ("redis://…" or "rediss://…").
func Open(url, clusterAddrs string) (redis.UniversalClient, error) {
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
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                 addrs,
			DialTimeout:           dialTimeout,
			ReadTimeout:           ioTimeout,
			WriteTimeout:          ioTimeout,
			PoolTimeout:           poolTimeout,
			PoolSize:              poolSize,
			ContextTimeoutEnabled: true,
		}), nil
	}
	if url == "" {
		return nil, errors.New("set REDIS_URL or REDIS_CLUSTER_ADDRS")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.DialTimeout = dialTimeout
	opt.ReadTimeout = ioTimeout
	opt.WriteTimeout = ioTimeout
	opt.PoolTimeout = poolTimeout
	opt.PoolSize = poolSize
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt), nil
}
