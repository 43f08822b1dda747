// Package queue names what the controller and the agents share in Redis:
// stream and key names and the messages that travel on them. Agents never
// reach PostgreSQL; everything they say goes through here.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// AgentInfo is what an agent reports about its host with each heartbeat.
type AgentInfo struct {
	Version    int    `json:"v"` // message version
	Host       string `json:"host"`
	AZ         string `json:"az"`
	Hypervisor string `json:"hypervisor_type"`
	VCPUs      int    `json:"vcpus"`
	MemoryMB   int    `json:"memory_mb"`
	DiskGB     int    `json:"disk_gb"`
	Arch       string `json:"arch"`
	LibvirtURI string `json:"libvirt_uri"`
	// ConsoleAddr is the address console proxies reach this host's VNC
	// servers at; with an instance's VNC port it is all a proxy dials.
	ConsoleAddr string `json:"console_addr,omitempty"`
	// Storage is the volume pool the host keeps (nil: none).
	Storage *StorageInfo `json:"storage,omitempty"`
	SeenAt  time.Time    `json:"seen_at"` // the agent's clock: shown, never compared
}

// StorageInfo is a storage host's volume pool.
type StorageInfo struct {
	Backend string `json:"backend"` // "local": qcow2 files in a directory
	FreeGB  int    `json:"free_gb"`
	Addr    string `json:"addr"` // where other hosts reach its NBD exports
}

// AgentsKey is the sorted set of agent hosts scored by their last
// heartbeat (unix seconds); AgentInfoKey is the hash of their reports.
func AgentsKey(prefix string) string    { return prefix + "agents" }
func AgentInfoKey(prefix string) string { return prefix + "agents:info" }

// heartbeatScript stores an agent's report and scores the host with
// Redis's own clock, so no host's liveness depends on its clock: an
// agent whose clock runs a day ahead is not "alive" for a day after it
// stops.
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(t[1]) + tonumber(t[2]) / 1000000, ARGV[1])
return 1`)

// Heartbeat records that the agent on info.Host is alive now (by Redis's
// clock; info.SeenAt is the agent's, for display only).
func Heartbeat(ctx context.Context, rdb *redis.Client, prefix string, info AgentInfo) error {
	info.Version = 1
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := heartbeatScript.Run(ctx, rdb, []string{AgentInfoKey(prefix), AgentsKey(prefix)}, info.Host, b).Err(); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// HeartbeatAges returns, per host, how long ago its last heartbeat was,
// measured on Redis's clock alone; the caller subtracts it from its own
// clock to place the heartbeat in time.
func HeartbeatAges(ctx context.Context, rdb *redis.Client, prefix string) (map[string]time.Duration, error) {
	pipe := rdb.Pipeline()
	now := pipe.Time(ctx)
	beats := pipe.ZRangeWithScores(ctx, AgentsKey(prefix), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]time.Duration, len(beats.Val()))
	rnow := float64(now.Val().UnixMicro()) / 1e6
	for _, z := range beats.Val() {
		host, _ := z.Member.(string)
		out[host] = time.Duration((rnow - z.Score) * float64(time.Second))
	}
	return out, nil
}

// LiveAgents counts agents heard from within liveness (on Redis's clock).
func LiveAgents(ctx context.Context, rdb *redis.Client, prefix string, liveness time.Duration) (int64, error) {
	ages, err := HeartbeatAges(ctx, rdb, prefix)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, age := range ages {
		if age <= liveness {
			n++
		}
	}
	return n, nil
}

// Agents returns every agent's last report.
func Agents(ctx context.Context, rdb *redis.Client, prefix string) ([]AgentInfo, error) {
	m, err := rdb.HGetAll(ctx, AgentInfoKey(prefix)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]AgentInfo, 0, len(m))
	for _, v := range m {
		var a AgentInfo
		if json.Unmarshal([]byte(v), &a) == nil && a.Host != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// Agent returns one host's last report; found is false for a host never
// heard from.
func Agent(ctx context.Context, rdb *redis.Client, prefix, host string) (a AgentInfo, found bool, err error) {
	b, err := rdb.HGet(ctx, AgentInfoKey(prefix), host).Bytes()
	if errors.Is(err, redis.Nil) {
		return a, false, nil
	}
	if err != nil {
		return a, false, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, false, fmt.Errorf("agent %s report: %w", host, err)
	}
	return a, true, nil
}
