// Package queue names what the controller and the agents share in Redis:
// stream and key names and the messages that travel on them. Agents never
// reach PostgreSQL; everything they say goes through here.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
	ConsoleAddr string    `json:"console_addr,omitempty"`
	SeenAt      time.Time `json:"seen_at"`
}

// AgentsKey is the sorted set of agent hosts scored by their last
// heartbeat (unix seconds); AgentInfoKey is the hash of their reports.
func AgentsKey(prefix string) string    { return prefix + "agents" }
func AgentInfoKey(prefix string) string { return prefix + "agents:info" }

// Heartbeat records that the agent on info.Host is alive now.
func Heartbeat(ctx context.Context, rdb *redis.Client, prefix string, info AgentInfo) error {
	info.Version = 1
	b, err := json.Marshal(info)
	if err != nil {
		return err
	}
	pipe := rdb.TxPipeline()
	pipe.HSet(ctx, AgentInfoKey(prefix), info.Host, b)
	pipe.ZAdd(ctx, AgentsKey(prefix), redis.Z{Score: float64(info.SeenAt.Unix()), Member: info.Host})
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// LiveAgents counts agents heard from within liveness of now.
func LiveAgents(ctx context.Context, rdb *redis.Client, prefix string, now time.Time, liveness time.Duration) (int64, error) {
	min := strconv.FormatInt(now.Add(-liveness).Unix(), 10)
	return rdb.ZCount(ctx, AgentsKey(prefix), min, "+inf").Result()
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
