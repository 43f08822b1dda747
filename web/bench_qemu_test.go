package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// fillScript fills 512 MiB of the root disk (from 64 MiB in, past the boot
// file system) with random data, then says so on the serial console.
const fillScript = `#!/bin/sh
dd if=/dev/urandom of=/dev/vda bs=1M seek=64 count=512 2>/dev/null
sync
echo "bench-fill: done"
`

// TestBenchQEMULifecycle is `make bench`'s QEMU lifecycle part, skipped
// unless NIMBUS_BENCH=1: on one agent on qemu:///system with the tiny
// image and m1.tiny (1 vCPU, 512 MB, 1 GB root disk), pause -> unpause
// and suspend -> resume round trips (API request to the status reached,
// 10 each), then a snapshot (createImage) of a guest that wrote 512 MiB of
// random data to its disk: MB/s from the request to the image active, and
// the peak RSS of the controller (this process) and of the agent (its
// own process) during it; then, with a second agent on the same libvirtd,
// five resizes to the other host (request to VERIFY_RESIZE) each reverted,
// and five cold migrations each confirmed. It asserts only that
// everything completed.
func TestBenchQEMULifecycle(t *testing.T) {
	if os.Getenv("NIMBUS_BENCH") != "1" {
		t.Skip("set NIMBUS_BENCH=1 (make bench) to run the QEMU lifecycle benchmark")
	}
	img := needQEMU(t)
	tc := controllertest.New(t, map[string]string{"NIMBUS_LOG_LEVEL": "error"})
	dir := stateDir(t)
	agentLog := &lockedBuffer{}
	agent := startBenchAgent(t, tc, "qemu-bench", dir, agentLog)
	defer func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	}()
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	im := tc.CreateImage(t, admin, map[string]any{"name": "tiny", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"})
	imageID := im["id"].(string)
	if r := tc.UploadFile(t, admin, imageID, img); r.Status != 204 {
		t.Fatalf("upload the tiny image: %d %s", r.Status, r.Body)
	}
	status := func(id string) (string, bool) {
		r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil)
		if r.Status != 200 {
			t.Fatalf("GET server: %d %s", r.Status, r.Body)
		}
		s := r.JSON(t)["server"].(map[string]any)
		if s["status"] == "ERROR" {
			t.Fatalf("server %s went to ERROR: %v", id, s["fault"])
		}
		st, _ := s["status"].(string)
		return st, s["OS-EXT-STS:task_state"] == nil
	}
	// act asks for an action and returns the time until the server shows
	// want with no task running (polled every 10 ms); actAs with any body,
	// as anyone.
	var actAs func(token, id string, body map[string]any, want string) float64
	act := func(id, action, want string) float64 {
		t.Helper()
		return actAs(demo, id, map[string]any{action: nil}, want)
	}
	actAs = func(token, id string, body map[string]any, want string) float64 {
		t.Helper()
		t0 := time.Now()
		if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", token, body); r.Status != 202 && r.Status != 204 {
			t.Fatalf("%v: %d %s", body, r.Status, r.Body)
		}
		deadline := t0.Add(3 * time.Minute)
		for {
			if st, idle := status(id); st == want && idle {
				return float64(time.Since(t0).Microseconds()) / 1000
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v: not %s after 3 minutes", body, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	launch := func(name, userData string) string {
		t.Helper()
		body := map[string]any{"name": name, "flavorRef": "1", "imageRef": imageID}
		if userData != "" {
			body["user_data"] = base64.StdEncoding.EncodeToString([]byte(userData))
		}
		r := tc.CreateServer(t, demo, body)
		if r.Status != 202 {
			t.Fatalf("create %s: %d %s", name, r.Status, r.Body)
		}
		id := r.JSON(t)["server"].(map[string]any)["id"].(string)
		t.Cleanup(func() {
			if strings.Contains(virsh(t, "list", "--all", "--name"), "nimbus-"+id) {
				virsh(t, "destroy", "nimbus-"+id)
				virsh(t, "undefine", "--managed-save", "nimbus-"+id)
			}
		})
		tc.WaitStatus(t, demo, id, "ACTIVE", 3*time.Minute)
		return id
	}
	waitSerial := func(id, text string, d time.Duration) {
		t.Helper()
		path := filepath.Join(dir, "instances", id, "console.log")
		controllertest.WaitFor(t, d, "\""+text+"\" on "+id+"'s serial console", func() bool {
			b, _ := os.ReadFile(path)
			return bytes.Contains(b, []byte(text))
		})
	}
	deleteServer := func(id string) {
		t.Helper()
		if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		controllertest.WaitFor(t, 2*time.Minute, "server deleted", func() bool {
			return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
		})
	}

	// Round trips on a booted guest.
	const rounds = 10
	id := launch("rt", "")
	waitSerial(id, "Nimbus tiny image", 3*time.Minute)
	var pause, unpause, pauseRT, suspend, resume, suspendRT []float64
	for i := 0; i < rounds; i++ {
		p := act(id, "pause", "PAUSED")
		u := act(id, "unpause", "ACTIVE")
		pause, unpause, pauseRT = append(pause, p), append(unpause, u), append(pauseRT, p+u)
	}
	for i := 0; i < rounds; i++ {
		s := act(id, "suspend", "SUSPENDED")
		r := act(id, "resume", "ACTIVE")
		suspend, resume, suspendRT = append(suspend, s), append(resume, r), append(suspendRT, s+r)
	}
	deleteServer(id)

	// The snapshot of a disk with 512 MiB written.
	t0 := time.Now()
	id = launch("fill", fillScript)
	waitSerial(id, "bench-fill: done", 15*time.Minute)
	fillSecs := time.Since(t0).Seconds()
	agentPID := agent.Process.Pid
	agentBefore := procKB(agentPID, "VmRSS")
	ctrlBefore := procKB(os.Getpid(), "VmRSS")
	// The peaks (VmHWM) are reset to the current RSS (clear_refs 5), so
	// what is read after is the peak during the snapshot; sampling every
	// 20 ms backs that up and watches the agent's qemu-img.
	resetOK := clearPeak(agentPID) == nil && clearPeak(os.Getpid()) == nil
	var agentPeak, ctrlPeak, childPeak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			raise(&agentPeak, procKB(agentPID, "VmRSS"))
			raise(&ctrlPeak, procKB(os.Getpid(), "VmRSS"))
			for _, c := range children(agentPID) {
				raise(&childPeak, procKB(c, "VmRSS"))
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	heap := controllertest.WatchHeap()
	snapStart := time.Now()
	r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, map[string]any{"createImage": map[string]any{"name": "bench-snap"}})
	if r.Status != 202 {
		t.Fatalf("createImage: %d %s", r.Status, r.Body)
	}
	loc := r.Header.Get("Location")
	snapID := loc[strings.LastIndex(loc, "/")+1:]
	var snap map[string]any
	controllertest.WaitFor(t, 10*time.Minute, "the snapshot image active", func() bool {
		g := tc.Do(t, "GET", "/image/v2/images/"+snapID, demo, nil)
		if g.Status != 200 {
			t.Fatalf("GET image %s: %d %s", snapID, g.Status, g.Body)
		}
		snap = g.JSON(t)
		if snap["status"] == "killed" || snap["status"] == "deleted" {
			t.Fatalf("snapshot image %s", snap["status"])
		}
		return snap["status"] == "active"
	})
	snapSecs := time.Since(snapStart).Seconds()
	heapGrowth := heap()
	close(stop)
	wg.Wait()
	agentHWM, ctrlHWM := procKB(agentPID, "VmHWM"), procKB(os.Getpid(), "VmHWM")
	if resetOK {
		raise(&agentPeak, agentHWM)
		raise(&ctrlPeak, ctrlHWM)
	}
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	size, _ := snap["size"].(float64)
	vsize, _ := snap["virtual_size"].(float64)
	copySecs, sentBytes, sendSecs := snapshotStages(agentLog.String())
	deleteServer(id)

	// Resize and cold migration between two agents on this libvirtd:
	// request -> VERIFY_RESIZE (the disk copied through the relay and
	// booted on the other host), and back.
	dir2 := stateDir(t)
	startBenchAgentOf(t, tc, "qemu-bench-2", dir2, agentLog, 2)
	// booted waits for the guest's boot banner on whichever host runs it
	// (QEMU starts each serial log afresh): a guest is moved once it is
	// up, as a user's would be, not while its kernel still starts.
	booted := func(id string) {
		t.Helper()
		controllertest.WaitFor(t, 3*time.Minute, "the guest booted", func() bool {
			for _, d := range []string{dir, dir2} {
				if b, _ := os.ReadFile(filepath.Join(d, "instances", id, "console.log")); bytes.Contains(b, []byte("Nimbus tiny image")) {
					return true
				}
			}
			return false
		})
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/flavors", admin, map[string]any{"flavor": map[string]any{
		"name": "bench-resized", "id": "bench-resized", "vcpus": 1, "ram": 768, "disk": 2}}); r.Status != 200 {
		t.Fatalf("flavor: %d %s", r.Status, r.Body)
	}
	const moves = 5
	id = launch("mv", "")
	var resize, revert, migrate, confirm []float64
	for i := 0; i < moves; i++ {
		booted(id)
		resize = append(resize, actAs(demo, id, map[string]any{"resize": map[string]any{"flavorRef": "bench-resized"}}, "VERIFY_RESIZE"))
		booted(id)
		revert = append(revert, actAs(demo, id, map[string]any{"revertResize": nil}, "ACTIVE"))
	}
	for i := 0; i < moves; i++ {
		booted(id)
		migrate = append(migrate, actAs(admin, id, map[string]any{"migrate": nil}, "VERIFY_RESIZE"))
		confirm = append(confirm, actAs(demo, id, map[string]any{"confirmResize": nil}, "ACTIVE"))
	}
	deleteServer(id)

	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	domType := "?"
	if m := regexp.MustCompile(`domain_type=(\w+)`).FindStringSubmatch(agentLog.String()); m != nil {
		domType = m[1]
		if domType == "qemu" {
			domType = "qemu (TCG)"
		}
	}
	fmt.Printf("\nQEMU lifecycle bench  %s  nproc=%d, domain type %s, tiny image, m1.tiny (1 vCPU, 512 MB RAM, 1 GB disk)\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), domType)
	fmt.Printf("%-44s %6s %10s %10s %10s\n", "round trip (API request -> status reached)", "count", "p50 ms", "min ms", "max ms")
	for _, row := range []struct {
		name string
		ms   []float64
	}{
		{"pause -> PAUSED", pause}, {"unpause -> ACTIVE", unpause}, {"pause + unpause", pauseRT},
		{"suspend -> SUSPENDED (managed save)", suspend}, {"resume -> ACTIVE", resume}, {"suspend + resume", suspendRT},
		{"resize to another host -> VERIFY_RESIZE", resize}, {"revertResize -> ACTIVE", revert},
		{"cold migrate -> VERIFY_RESIZE", migrate}, {"confirmResize -> ACTIVE", confirm},
	} {
		sort.Float64s(row.ms)
		fmt.Printf("%-44s %6d %10.0f %10.0f %10.0f\n", row.name, len(row.ms), median(row.ms), row.ms[0], row.ms[len(row.ms)-1])
	}
	const mb = 1e6
	fmt.Printf("snapshot (createImage -> image active) of a 1 GiB disk with 512 MiB of random data written (filled in %.0f s):\n", fillSecs)
	fmt.Printf("  %.1f s for %.0f MiB of qcow2 (virtual %.0f MiB): %.1f MB/s\n", snapSecs, size/(1<<20), vsize/(1<<20), size/mb/snapSecs)
	if copySecs > 0 && sendSecs > 0 {
		fmt.Printf("  agent: qemu-img convert (guest paused) %.1f s (%.1f MB/s), upload to the image API %.1f s (%.1f MB/s)\n",
			copySecs, size/mb/copySecs, sendSecs, float64(sentBytes)/mb/sendSecs)
	}
	how := "VmHWM after clear_refs, and VmRSS sampled every 20 ms"
	if !resetOK {
		how = "VmRSS sampled every 20 ms (clear_refs refused)"
	}
	fmt.Printf("  peak RSS during it (%s):\n", how)
	fmt.Printf("    controller (in the test process)  %6.1f MiB  (%.1f MiB before; Go heap in use grew %.1f MiB at most)\n",
		mib(ctrlPeak.Load()), mib(ctrlBefore), float64(heapGrowth)/(1<<20))
	fmt.Printf("    nimbus-agent                      %6.1f MiB  (%.1f MiB before)\n", mib(agentPeak.Load()), mib(agentBefore))
	fmt.Printf("    qemu-img (the agent's child)      %6.1f MiB\n", mib(childPeak.Load()))
}

// startBenchAgent is startQEMUAgent with the agent's log (at info level,
// for its snapshot stage times) kept in log, and its process returned.
func startBenchAgent(t *testing.T, tc *controllertest.Cloud, host, dir string, log *lockedBuffer) *exec.Cmd {
	t.Helper()
	return startBenchAgentOf(t, tc, host, dir, log, 1)
}

// startBenchAgentOf starts one more bench agent (hosts in all once up).
func startBenchAgentOf(t *testing.T, tc *controllertest.Cloud, host, dir string, log *lockedBuffer, hosts int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(controllertest.AgentBinary(t), "--libvirt-uri", "qemu:///system", "--host", host,
		"--heartbeat", "500ms", "--power-sync", "2s", "--state-dir", dir)
	cmd.Env = append(os.Environ(), "NIMBUS_REDIS_URL="+tc.Env["NIMBUS_REDIS_URL"], "NIMBUS_REDIS_PREFIX="+tc.Config.RedisPrefix,
		"NIMBUS_LOG_LEVEL=info", "NIMBUS_AGENT_DATAPATH=false")
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	tc.WaitHostsFor(t, hosts, 120*time.Second)
	return cmd
}

// snapshotStages reads the agent's own timing of a snapshot from its log.
func snapshotStages(log string) (copySecs float64, sent int64, sendSecs float64) {
	if m := regexp.MustCompile(`msg="disk copied for a snapshot".* seconds=([0-9.]+)`).FindStringSubmatch(log); m != nil {
		copySecs, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := regexp.MustCompile(`msg="snapshot sent".* bytes=(\d+) seconds=([0-9.]+)`).FindStringSubmatch(log); m != nil {
		sent, _ = strconv.ParseInt(m[1], 10, 64)
		sendSecs, _ = strconv.ParseFloat(m[2], 64)
	}
	return
}

// procKB reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status; 0 if gone.
func procKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// clearPeak resets a process's VmHWM to its current RSS.
func clearPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// children lists a process's child processes (those of every thread:
// Go starts them from any).
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func raise(peak *atomic.Int64, v int64) {
	for {
		cur := peak.Load()
		if v <= cur || peak.CompareAndSwap(cur, v) {
			return
		}
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// lockedBuffer is a bytes.Buffer written by a child process's output
// copier and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
