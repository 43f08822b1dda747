// Command nimbus-agent runs on each hypervisor host. It reports the host's
// capacity to the controller through Redis, consumes its host's job stream
// and drives libvirt (package agent). It never connects to PostgreSQL.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/nimbus-cloud/nimbus/compute-agent/agent"
	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor/libvirtdriver"
	"github.com/nimbus-cloud/nimbus/compute-agent/storage"
	"github.com/nimbus-cloud/nimbus/internal/config"
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
	var taps *agent.Taps
	var network *agent.NetworkConfig
	if cfg.Datapath {
		network = &agent.NetworkConfig{HostNetns: cfg.Netns, NamePrefix: cfg.NetnsPrefix,
			PhysicalInterfaces: cfg.PhysicalInterfaces, VTEP: cfg.VTEP}
	}
	dopts := libvirtdriver.Options{InstancesDir: cfg.StateDir}
	if cfg.Datapath && cfg.Netns != "" {
		taps = &agent.Taps{HostNetns: cfg.Netns, Log: log}
		dopts.Taps = taps
	}
	drv, err := libvirtdriver.New(cfg.LibvirtURI, dopts)
	if err != nil {
		return fmt.Errorf("connect to libvirt %s: %w", cfg.LibvirtURI, err)
	}
	defer drv.Close()
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("redis URL: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	var pool *storage.Local
	if cfg.StorageDir != "none" {
		pool = &storage.Local{Dir: cfg.StorageDir}
	}
	a := agent.New(agent.Config{
		Host: cfg.Host, AZ: cfg.AZ, Prefix: cfg.RedisPrefix, StateDir: cfg.StateDir, VNCListen: cfg.VNCListen,
		ConsoleAddress: cfg.ConsoleAddress,
		Heartbeat:      cfg.Heartbeat, PowerSync: cfg.PowerSync, Stats: cfg.Stats, ClaimIdle: cfg.ClaimIdle, ImageCacheAge: cfg.ImageCacheAge,
		Network: network, Taps: taps, Storage: pool, StorageAddr: cfg.StorageAddress,
	}, drv, rdb, log)
	return a.Run(ctx)
}
