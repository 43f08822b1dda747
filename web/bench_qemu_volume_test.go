package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// ioScript measures sequential I/O inside the guest: once a second disk
// (vdb) is there, three rounds of writing 128 MiB (synced) and reading it
// back (caches dropped) on vdb, and the same on the root disk (vda, past
// the boot file system), timed with /proc/uptime's centiseconds.
const ioScript = `#!/bin/sh
while [ ! -b /dev/vdb ]; do sleep 1; done
cs() { awk '{printf "%d", $1 * 100}' /proc/uptime; }
run() { # device, seek in MiB
	a=$(cs); dd if=/dev/zero of=$1 bs=1M seek=$2 count=128 conv=fsync 2>/dev/null; b=$(cs)
	echo 3 >/proc/sys/vm/drop_caches
	dd if=$1 of=/dev/null bs=1M skip=$2 count=128 2>/dev/null; c=$(cs)
	echo "bench-io: $1 write $((b - a)) read $((c - b))"
}
for i in 1 2 3; do run /dev/vdb 0; run /dev/vda 64; done
echo "bench-io: done"
`

var benchIORE = regexp.MustCompile(`bench-io: (/dev/vd[ab]) write (\d+) read (\d+)`)

// TestBenchQEMUVolumes is `make bench`'s volume part (NIMBUS_BENCH=1):
// sequential write and read MB/s inside a TCG guest on a volume attached
// from its own host (a file), on one attached from another host (NBD with
// TLS-PSK through the relay), each beside the guest's own root disk as
// the yardstick (the ratio is the figure: TCG bounds the absolute ones);
// and the time to make a volume from the tiny image and from a 1 GiB one.
func TestBenchQEMUVolumes(t *testing.T) {
	if os.Getenv("NIMBUS_BENCH") != "1" {
		t.Skip("set NIMBUS_BENCH=1 (make bench) to run the volume benchmark")
	}
	img := needQEMU(t)
	tc := controllertest.New(t, map[string]string{"NIMBUS_LOG_LEVEL": "error"})
	dirA, dirB := stateDir(t), stateDir(t)
	startQEMUAgentEnv(t, tc, "bench-vol-a", dirA, 1)
	startQEMUAgentEnv(t, tc, "bench-vol-b", dirB, 2, "NIMBUS_AGENT_STORAGE_DIR=none", "NIMBUS_AGENT_AZ=zone-b")
	admin := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	admin("image", "create", "--public", "--file", img, "--disk-format", "qcow2", "--container-format", "bare", "tiny")
	demo := openstackCLI(t, tc, "demo", tc.DemoPass, "demo")
	status := func(name string) string {
		return strings.TrimSpace(string(demo("volume", "show", "-f", "value", "-c", "status", name)))
	}
	made := func(name string, args ...string) time.Duration {
		t.Helper()
		start := time.Now()
		demo(append(append([]string{"volume", "create"}, args...), name)...)
		controllertest.WaitFor(t, 20*time.Minute, name+" available", func() bool {
			st := status(name)
			if st == "error" {
				t.Fatalf("volume %s: error", name)
			}
			return st == "available"
		})
		return time.Since(start)
	}

	// Create from an image: the tiny one, then 1 GiB of random data.
	var tiny []float64
	for i := 0; i < 3; i++ {
		tiny = append(tiny, made(fmt.Sprintf("tiny-%d", i), "--image", "tiny", "--size", "1").Seconds())
	}
	big := filepath.Join(t.TempDir(), "big.raw")
	if out, err := exec.Command("dd", "if=/dev/urandom", "of="+big, "bs=1M", "count=1024").CombinedOutput(); err != nil {
		t.Fatalf("make a 1 GiB image: %v %s", err, out)
	}
	admin("image", "create", "--public", "--file", big, "--disk-format", "raw", "--container-format", "bare", "big")
	os.Remove(big)
	bigTime := made("big-1", "--image", "big", "--size", "2")
	t.Logf("create a volume from an image: tiny (18 MB qcow2) median %.2f s of 3 (%.2f); 1 GiB raw %.2f s",
		medianF(tiny), tiny, bigTime.Seconds())
	for _, n := range []string{"tiny-0", "tiny-1", "tiny-2", "big-1"} {
		demo("volume", "delete", n)
	}

	ud := filepath.Join(t.TempDir(), "io.sh")
	if err := os.WriteFile(ud, []byte(ioScript), 0o644); err != nil {
		t.Fatal(err)
	}
	measure := func(server, az, dir, volume string) (vdb, vda [2]float64) {
		t.Helper()
		s := decodeJSON[map[string]any](t, demo("server", "create", "--flavor", "m1.tiny", "--image", "tiny",
			"--availability-zone", az, "--user-data", ud, "--wait", "-f", "json", server))
		id := s["id"].(string)
		t.Cleanup(func() { virsh(t, "destroy", "nimbus-"+id); virsh(t, "undefine", "nimbus-"+id) })
		demo("volume", "create", "--size", "1", volume)
		controllertest.WaitFor(t, 2*time.Minute, volume, func() bool { return status(volume) == "available" })
		demo("server", "add", "volume", server, volume)
		g := guestLog{t, filepath.Join(dir, "instances", id, "console.log")}
		controllertest.WaitFor(t, 15*time.Minute, server+" I/O rounds", func() bool { return strings.Contains(g.read(), "bench-io: done") })
		rates := map[string][2][]float64{}
		for _, m := range benchIORE.FindAllStringSubmatch(g.read(), -1) {
			w, _ := strconv.Atoi(m[2])
			r, _ := strconv.Atoi(m[3])
			x := rates[m[1]]
			x[0] = append(x[0], 128/(float64(max(w, 1))/100))
			x[1] = append(x[1], 128/(float64(max(r, 1))/100))
			rates[m[1]] = x
		}
		for i := 0; i < 2; i++ {
			vdb[i], vda[i] = medianF(rates["/dev/vdb"][i]), medianF(rates["/dev/vda"][i])
		}
		demo("server", "delete", "--wait", server)
		return vdb, vda
	}
	lb, la := measure("io-local", "nova", dirA, "io-local")
	t.Logf("local volume (file): write %.1f MB/s, read %.1f MB/s; root disk write %.1f, read %.1f; ratio write %.2f, read %.2f",
		lb[0], lb[1], la[0], la[1], lb[0]/la[0], lb[1]/la[1])
	nb, na := measure("io-nbd", "zone-b", dirB, "io-nbd")
	t.Logf("NBD volume (other host, TLS-PSK, relay): write %.1f MB/s, read %.1f MB/s; root disk write %.1f, read %.1f; ratio write %.2f, read %.2f",
		nb[0], nb[1], na[0], na[1], nb[0]/na[0], nb[1]/na[1])
}

// medianF is the median of xs (sorted here; median takes them sorted).
func medianF(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return median(s)
}
