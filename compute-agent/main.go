// Command nimbus-agent runs on each hypervisor host. It reports the host's
// capacity to the controller through Redis and heartbeats; later it will
// consume its host's job stream and drive libvirt. It never connects to
// PostgreSQL.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"libvirt.org/go/libvirt"

	"github.com/nimbus-cloud/nimbus/internal/config"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv); err != nil {
		fmt.Fprintln(os.Stderr, "nimbus-agent:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, lookup func(string) (string, bool)) error {
	cfg, err := config.LoadAgent(args, lookup)
	if err != nil {
		return err
	}
	log := config.Logger(cfg.LogLevel, cfg.LogJSON)
	conn, err := libvirt.NewConnect(cfg.LibvirtURI)
	if err != nil {
		return fmt.Errorf("connect to libvirt %s: %w", cfg.LibvirtURI, err)
	}
	defer conn.Close()
	info, err := hostInfo(conn, cfg)
	if err != nil {
		return err
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("redis URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	log = log.With("component", "agent", "host", info.Host)
	log.Info("agent started", "libvirt", cfg.LibvirtURI, "hypervisor", info.Hypervisor,
		"vcpus", info.VCPUs, "memory_mb", info.MemoryMB)
	t := time.NewTicker(cfg.Heartbeat)
	defer t.Stop()
	for {
		info.SeenAt = time.Now()
		if err := queue.Heartbeat(ctx, rdb, cfg.RedisPrefix, info); err != nil && ctx.Err() == nil {
			log.Warn("heartbeat failed", "error", err)
		}
		select {
		case <-ctx.Done():
			log.Info("agent stopped")
			return nil
		case <-t.C:
		}
	}
}

// hostInfo reads the host's name and capacity from libvirt.
func hostInfo(conn *libvirt.Connect, cfg *config.Agent) (queue.AgentInfo, error) {
	ni, err := conn.GetNodeInfo()
	if err != nil {
		return queue.AgentInfo{}, fmt.Errorf("node info: %w", err)
	}
	host := cfg.Host
	if host == "" {
		if host, err = conn.GetHostname(); err != nil {
			return queue.AgentInfo{}, fmt.Errorf("host name: %w", err)
		}
	}
	typ, err := conn.GetType()
	if err != nil {
		return queue.AgentInfo{}, fmt.Errorf("hypervisor type: %w", err)
	}
	return queue.AgentInfo{
		Host: host, AZ: cfg.AZ, Hypervisor: typ, VCPUs: int(ni.Cpus),
		MemoryMB: int(ni.Memory / 1024), LibvirtURI: cfg.LibvirtURI,
	}, nil
}
