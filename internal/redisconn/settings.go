package redisconn

import "github.com/waitroom/waitroom/internal/settings"

// Declare puts the Redis settings of every binary on s, in the order -help
// lists them; the returned func reads them into a Config once s is parsed.
// urlUsage is the binary's own words for REDIS_URL (what unset means).
func Declare(s *settings.Set, urlUsage string) func() Config {
	url := s.String("redis-url", "REDIS_URL", "", urlUsage)
	cluster := s.String("redis-cluster-addrs", "REDIS_CLUSTER_ADDRS", "",
		"host:port,host:port,…: use a Redis Cluster instead (user, password and TLS still come from -redis-url if set)")
	vals := make([]*string, len(Vars))
	for i, v := range Vars {
		vals[i] = s.String(v.Flag, v.Env, "", v.Usage)
	}
	return func() Config {
		return Config{URL: *url, ClusterAddrs: *cluster,
			SentinelAddrs: *vals[0], SentinelMaster: *vals[1], SentinelPassword: *vals[2], Password: *vals[3]}
	}
}
