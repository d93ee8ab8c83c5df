// Package redisconn opens the Redis client every waitroom binary uses, from
// REDIS_URL, REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS, with timeouts
// short enough that an unreachable Redis answers 503 at once instead of
// hanging a request.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/waitroom/waitroom/internal/settings"
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

// Config names one Redis deployment; each field is the environment variable
// of the same meaning (see Vars). Exactly one of a single node (URL), a
// Cluster (ClusterAddrs) or a Sentinel-managed primary (SentinelAddrs with
// SentinelMaster) is used; URL may go with either of the others to give the
// user, password, database and TLS.
type Config struct {
	URL              string // REDIS_URL
	ClusterAddrs     string // REDIS_CLUSTER_ADDRS
	SentinelAddrs    string // REDIS_SENTINEL_ADDRS
	SentinelMaster   string // REDIS_SENTINEL_MASTER
	SentinelPassword string // REDIS_SENTINEL_PASSWORD
	Password         string // REDIS_PASSWORD
}

// Var is one environment variable of Config, for a binary's settings table.
type Var struct {
	Flag, Env, Usage string
}

// Vars are the variables Config reads besides REDIS_URL and
// REDIS_CLUSTER_ADDRS, in Declare's order.
var Vars = []Var{
	{"redis-sentinel-addrs", "REDIS_SENTINEL_ADDRS", "host:port,host:port,… of Redis Sentinels: connect to the primary they name, and follow its failovers"},
	{"redis-sentinel-master", "REDIS_SENTINEL_MASTER", "the primary's name in the Sentinels' configuration (sentinel monitor <name> …); required with REDIS_SENTINEL_ADDRS"},
	{"redis-sentinel-password", "REDIS_SENTINEL_PASSWORD", "password of the Sentinels themselves (requirepass in sentinel.conf); unset: none"},
	{"redis-password", "REDIS_PASSWORD", "password of the Redis servers (primary, replicas, Cluster nodes); overrides the one in REDIS_URL; unset: REDIS_URL's"},
}

// FromEnv reads the whole Config from getenv (os.Getenv).
func FromEnv(getenv func(string) string) Config {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	return Config{
		URL:              get("REDIS_URL"),
		ClusterAddrs:     get("REDIS_CLUSTER_ADDRS"),
		SentinelAddrs:    get("REDIS_SENTINEL_ADDRS"),
		SentinelMaster:   get("REDIS_SENTINEL_MASTER"),
		SentinelPassword: get("REDIS_SENTINEL_PASSWORD"),
		Password:         get("REDIS_PASSWORD"),
	}
}

// Configured reports whether any Redis is named: with none, waitroom runs
// standalone and the other binaries refuse to start.
func (c Config) Configured() bool {
	return c.URL != "" || c.ClusterAddrs != "" || c.SentinelAddrs != ""
}

// Where describes the deployment for a log line, without any password.
func (c Config) Where() string {
	switch {
	case c.SentinelAddrs != "":
		return "sentinel " + c.SentinelMaster + "@" + c.SentinelAddrs
	case c.ClusterAddrs != "":
		return "cluster " + c.ClusterAddrs
	}
	if o, err := redis.ParseURL(c.URL); err == nil {
		return o.Addr
	}
	return "redis"
}

// Open returns a Cluster client when clusterAddrs ("host:port,host:port")
// is set, else a single-node client for url ("redis://…" or "rediss://…").
// With both, the Cluster takes user, password and TLS from url.
func Open(url, clusterAddrs string) (redis.UniversalClient, error) {
	return Config{URL: url, ClusterAddrs: clusterAddrs}.Open()
}

// Open returns the client of c: a failover client that asks the Sentinels
// for the primary (and asks again when it fails over), a Cluster client, or
// a single-node client.
func (c Config) Open() (redis.UniversalClient, error) {
	var fromURL *redis.Options
	if c.URL != "" {
		var err error
		if fromURL, err = redis.ParseURL(c.URL); err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		if c.Password != "" {
			fromURL.Password = c.Password
		}
	}
	switch {
	case c.SentinelAddrs != "" && c.ClusterAddrs != "":
		return nil, errors.New("set REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS, not both")
	case c.SentinelAddrs != "":
		return c.openSentinel(fromURL)
	case c.ClusterAddrs != "":
		return c.openCluster(fromURL)
	case c.URL == "":
		return nil, errors.New("set REDIS_URL, REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS")
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

func (c Config) openCluster(fromURL *redis.Options) (redis.UniversalClient, error) {
	addrs := settings.SplitList(c.ClusterAddrs)
	if len(addrs) == 0 {
		return nil, errors.New("REDIS_CLUSTER_ADDRS lists no address")
	}
	copt := c.shared(addrs).Cluster()
	if fromURL != nil {
		copt.Username, copt.Password = fromURL.Username, fromURL.Password
		if fromURL.TLSConfig != nil {
			// Each node is checked against its own host name, not the URL's.
			copt.TLSConfig = fromURL.TLSConfig.Clone()
			copt.TLSConfig.ServerName = ""
		}
	}
	cc := redis.NewClusterClient(copt)
	cc.AddHook(reloadOnLostNode{cc})
	return cc, nil
}

// reloadOnLostNode has the Cluster client read the slots again as soon as a
// node cannot be reached. go-redis reloads them only on MOVED or every 10 s,
// so after a primary's failover every command for its slots would go on
// failing against the dead node for up to 10 s more; the reload is
// de-duplicated by go-redis (one at a time, 200 ms apart).
type reloadOnLostNode struct{ cc *redis.ClusterClient }

func (h reloadOnLostNode) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnLostNode) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if lostNode(err) {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadOnLostNode) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if lostNode(err) {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}

// lostNode reports an error that means the node is gone or the Cluster is
// reconfiguring, not a reply of a healthy node.
func lostNode(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return strings.HasPrefix(err.Error(), "CLUSTERDOWN")
}

// openSentinel returns go-redis's failover client: it asks the Sentinels
// for the primary's address on every new connection, and closes its
// connections to the old primary when they announce +switch-master, so a
// failover costs the Sentinels' detection time plus one reconnect.
func (c Config) openSentinel(fromURL *redis.Options) (redis.UniversalClient, error) {
	addrs := settings.SplitList(c.SentinelAddrs)
	if len(addrs) == 0 {
		return nil, errors.New("REDIS_SENTINEL_ADDRS lists no address")
	}
	if c.SentinelMaster == "" {
		return nil, errors.New("REDIS_SENTINEL_MASTER is required with REDIS_SENTINEL_ADDRS")
	}
	so := c.shared(addrs)
	so.MasterName, so.SentinelPassword = c.SentinelMaster, c.SentinelPassword
	fo := so.Failover() // go-redis turns maintenance notifications off itself here
	if fromURL != nil {
		fo.Username, fo.Password, fo.DB = fromURL.Username, fromURL.Password, fromURL.DB
		fo.TLSConfig = fromURL.TLSConfig
		if fo.TLSConfig != nil {
			fo.TLSConfig = fo.TLSConfig.Clone()
			fo.TLSConfig.ServerName = ""
		}
	}
	return redis.NewFailoverClient(fo), nil
}

// shared are the options of a Cluster or Sentinel client with addrs: the
// timeouts, pool and retries of every client (the constants above), and no
// CLIENT SETINFO, which Redis 7.0 answers with an error.
func (c Config) shared(addrs []string) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:                    addrs,
		Password:                 c.Password,
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
