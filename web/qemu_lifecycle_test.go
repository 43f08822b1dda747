package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// markerScript is the user_data of the lifecycle guests: a marker string
// kept on the root disk, 64 MiB in (past the image's FAT boot file
// system, which is all the base image holds). The first boot on a disk
// writes one; every later boot on that disk (or on a copy of it) finds it.
// It says whether a second disk (vdb, the instance's own disk under
// rescue) is there and what marker that holds, then ticks every 2 s, so
// a guest restored from memory (resume) is seen continuing, not booting.
const markerScript = `#!/bin/sh
at=131072 # 512-byte sectors: 64 MiB
get() { dd if="$1" bs=512 skip=$at count=1 2>/dev/null | tr -d '\000' | head -n 1; }
m="$(get /dev/vda)"
case "$m" in
NIMBUS-MARK-*) echo "vda-marker: found $m" ;;
*)
	m="NIMBUS-MARK-$(cat /proc/sys/kernel/random/uuid)"
	printf '%s\n' "$m" | dd of=/dev/vda bs=512 seek=$at conv=sync 2>/dev/null
	sync
	echo "vda-marker: wrote $m"
	;;
esac
if [ -b /dev/vdb ]; then echo "vdb-marker: [$(get /dev/vdb)]"; else echo "vdb: absent"; fi
i=0
while :; do i=$((i + 1)); echo "tick $i"; sleep 2; done
`

var (
	markerRE = regexp.MustCompile(`vda-marker: (wrote|found) (NIMBUS-MARK-[0-9a-f-]{36})`)
	tickRE   = regexp.MustCompile(`(?m)^tick (\d+)\r?$`)
)

// guestLog is what the agent has of a guest's serial console.
type guestLog struct {
	t    *testing.T
	path string
}

func (g guestLog) read() string {
	b, _ := os.ReadFile(g.path)
	return string(b)
}

// boot waits for one whole boot in the log, from the banner to the
// user_data script's marker line (and, if vdb is set, its vdb line), and
// returns the marker line's verb (wrote or found) and marker. The log
// holds one boot only: QEMU truncates it when it starts the domain, and
// every caller waits for the status that follows the start first.
func (g guestLog) boot(what string, d time.Duration) (verb, marker string) {
	g.t.Helper()
	var s string
	controllertest.WaitFor(g.t, d, what+": the guest booting (banner and user_data marker in the serial log)", func() bool {
		s = g.read()
		return strings.Contains(s, "Nimbus tiny image") && markerRE.MatchString(s) &&
			(strings.Contains(s, "vdb: absent") || strings.Contains(s, "vdb-marker: ["))
	})
	if n := strings.Count(s, "Nimbus tiny image"); n != 1 {
		g.t.Errorf("%s: %d boot banners in the serial log, want 1:\n%s", what, n, s)
	}
	m := markerRE.FindStringSubmatch(s)
	return m[1], m[2]
}

// lastTick is the guest's latest tick, 0 if none.
func (g guestLog) lastTick() int {
	ms := tickRE.FindAllStringSubmatch(g.read(), -1)
	if len(ms) == 0 {
		return 0
	}
	n := 0
	for _, c := range ms[len(ms)-1][1] {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestQEMULifecycle carries one guest on real QEMU through every instance
// operation of issue 9 (resize and migrate onto a second agent sharing the
// libvirtd), driven by the openstack
// CLI, and checks each step three ways: the status the API reaches, what
// libvirt says of the domain, and what the guest itself prints on its
// serial console (a marker it keeps on its disk, whether it booted). A
// second guest boots from the first one's snapshot. Nothing is sent to
// the guests' addresses: everything is read from the serial log.
func TestQEMULifecycle(t *testing.T) {
	img := needQEMU(t)
	start := time.Now()
	// Soft delete on (an hour: only restore and forceDelete end it here).
	tc := controllertest.New(t, map[string]string{"NIMBUS_RECLAIM_INSTANCE_INTERVAL": "3600"})
	dir := stateDir(t)
	startQEMUAgent(t, tc, "qemu-life", dir)
	admin := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	admin("image", "create", "--public", "--file", img, "--disk-format", "qcow2", "--container-format", "bare", "tiny")
	demo := openstackCLI(t, tc, "demo", tc.DemoPass, "demo")
	ud := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(ud, []byte(markerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	demoTok, adminTok := tc.DemoToken(t), tc.AdminToken(t)
	step := func(name string) { t.Logf("%6.1fs  %s", time.Since(start).Seconds(), name) }
	var ids []string
	t.Cleanup(func() { // never leave a domain behind, whatever failed
		all := virsh(t, "list", "--all", "--name")
		for _, id := range ids {
			if strings.Contains(all, "nimbus-"+id) {
				virsh(t, "destroy", "nimbus-"+id)
				virsh(t, "undefine", "--managed-save", "nimbus-"+id)
			}
		}
	})
	server := func(id string) map[string]any {
		t.Helper()
		r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, adminTok, nil, "OpenStack-API-Version", "compute 2.9")
		if r.Status != 200 {
			t.Fatalf("GET server %s: %d %s", id, r.Status, r.Body)
		}
		return r.JSON(t)["server"].(map[string]any)
	}
	// waitStatus waits for status with no task running.
	waitStatus := func(id, want string, d time.Duration) map[string]any {
		t.Helper()
		var s map[string]any
		controllertest.WaitFor(t, d, id+" "+want, func() bool {
			s = server(id)
			if s["status"] == "ERROR" && want != "ERROR" {
				t.Fatalf("server %s went to ERROR: %v", id, s["fault"])
			}
			return s["status"] == want && s["OS-EXT-STS:task_state"] == nil
		})
		return s
	}
	domain := func(id string) string { return "nimbus-" + id }
	domstate := func(id string) string { return strings.TrimSpace(virsh(t, "domstate", "--reason", domain(id))) }
	wantDomstate := func(what, id, want string) {
		t.Helper()
		if got := domstate(id); got != want {
			t.Errorf("%s: virsh domstate --reason: %q, want %q", what, got, want)
		}
	}
	saveFile := func(id string) string { return "/var/lib/libvirt/qemu/save/" + domain(id) + ".save" }
	managedSave := func(id string) bool {
		return regexp.MustCompile(`Managed save:\s+yes`).MatchString(virsh(t, "dominfo", domain(id)))
	}
	instDir := func(id string) string { return filepath.Join(dir, "instances", id) }
	defined := func(id string) bool {
		return strings.Contains(virsh(t, "list", "--all", "--name"), domain(id))
	}
	disks := func(id string) string { return virsh(t, "domblklist", domain(id)) }

	// 1. Launch: the first boot writes the marker.
	step("launch vm1")
	s := decodeJSON[map[string]any](t, demo("server", "create", "--flavor", "m1.tiny", "--image", "tiny",
		"--user-data", ud, "--wait", "-f", "json", "vm1"))
	id, _ := s["id"].(string)
	ids = append(ids, id)
	if s["status"] != "ACTIVE" {
		t.Fatalf("server create --wait: %v", s)
	}
	wantDomstate("launch", id, "running (booted)")
	log1 := guestLog{t, filepath.Join(instDir(id), "console.log")}
	verb, mark := log1.boot("launch", 180*time.Second)
	if verb != "wrote" {
		t.Fatalf("first boot %s marker %s, want a new one written", verb, mark)
	}
	t.Logf("first boot wrote %s", mark)
	if out := string(demo("console", "log", "show", "vm1")); !strings.Contains(out, "vda-marker: wrote "+mark) {
		t.Errorf("openstack console log show: no marker line in\n%s", out)
	}

	// 2. Pause: vCPUs stop, the guest stays in memory; unpause: it goes on.
	step("pause / unpause")
	demo("server", "pause", "vm1")
	waitStatus(id, "PAUSED", 60*time.Second)
	wantDomstate("pause", id, "paused (user)")
	demo("server", "unpause", "vm1")
	waitStatus(id, "ACTIVE", 60*time.Second)
	wantDomstate("unpause", id, "running (unpaused)")

	// 3. Suspend: memory to libvirt's managed save, QEMU gone; resume:
	// the guest continues where it was (its ticks go on, no new boot).
	step("suspend / resume")
	controllertest.WaitFor(t, 30*time.Second, "the guest ticking", func() bool { return log1.lastTick() >= 2 })
	demo("server", "suspend", "vm1")
	waitStatus(id, "SUSPENDED", 120*time.Second)
	before := log1.lastTick() // the guest's last tick before its memory was saved
	wantDomstate("suspend", id, "shut off (saved)")
	if !managedSave(id) {
		t.Errorf("suspend: virsh dominfo does not show a managed save:\n%s", virsh(t, "dominfo", domain(id)))
	}
	if _, err := os.Stat(saveFile(id)); err != nil {
		t.Errorf("suspend: the managed save file: %v", err)
	}
	if l := virsh(t, "list", "--all", "--managed-save"); !regexp.MustCompile(domain(id) + `\s+saved`).MatchString(l) {
		t.Errorf("suspend: virsh list --all --managed-save:\n%s", l)
	}
	demo("server", "resume", "vm1")
	waitStatus(id, "ACTIVE", 120*time.Second)
	wantDomstate("resume", id, "running (restored)")
	if managedSave(id) {
		t.Errorf("resume: the managed save is still there")
	}
	if _, err := os.Stat(saveFile(id)); !os.IsNotExist(err) {
		t.Errorf("resume: the managed save file is still there: %v", err)
	}
	// QEMU started again (truncating the log): the guest's next ticks
	// count on from before the suspend, and it did not boot again.
	controllertest.WaitFor(t, 30*time.Second, "the resumed guest ticking on", func() bool { return log1.lastTick() > before })
	if s := log1.read(); strings.Contains(s, "Nimbus tiny image") {
		t.Errorf("resume: the guest booted again instead of continuing:\n%s", s)
	}

	// 4. Lock: the owner's own actions are refused (409) until unlocked.
	step("lock / unlock")
	demo("server", "lock", "vm1")
	if s := server(id); s["locked"] != true {
		t.Errorf("lock: server shows locked=%v", s["locked"])
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demoTok, map[string]any{"pause": nil}); r.Status != 409 {
		t.Errorf("pause of a locked server by its owner: %d %s, want 409", r.Status, r.Body)
	}
	wantDomstate("locked", id, "running (restored)")
	demo("server", "unlock", "vm1")
	if s := server(id); s["locked"] != false {
		t.Errorf("unlock: server shows locked=%v", s["locked"])
	}

	// Metadata, tags and a server group through the CLI (records only).
	step("server set --property / --tag, server group create / list")
	demo("server", "set", "--property", "role=web", "vm1")
	demo("--os-compute-api-version", "2.26", "server", "set", "--tag", "blue", "vm1")
	shown := decodeJSON[map[string]any](t, demo("--os-compute-api-version", "2.26", "server", "show", "-f", "json", "vm1"))
	if props := fmt.Sprint(shown["properties"]); !strings.Contains(props, "role") || !strings.Contains(props, "web") {
		t.Errorf("server show properties: %v", shown["properties"])
	}
	if tags := fmt.Sprint(shown["tags"]); !strings.Contains(tags, "blue") {
		t.Errorf("server show tags: %v", shown["tags"])
	}
	demo("server", "group", "create", "--policy", "anti-affinity", "spread")
	if groups := string(demo("server", "group", "list", "-f", "json")); !strings.Contains(groups, `"spread"`) || !strings.Contains(groups, "anti-affinity") {
		t.Errorf("server group list: %s", groups)
	}

	// 5. Snapshot of the running guest: the agent pauses it for the copy
	// and runs it again.
	step("snapshot (server image create)")
	snap := decodeJSON[map[string]any](t, demo("server", "image", "create", "--name", "snap1", "--wait", "-f", "json", "vm1"))
	snapID, _ := snap["id"].(string)
	im := decodeJSON[map[string]any](t, demo("image", "show", "-f", "json", snapID))
	props, _ := im["properties"].(map[string]any)
	if im["status"] != "active" || props["image_type"] != "snapshot" || props["instance_uuid"] != id {
		t.Errorf("snapshot image: %v", im)
	}
	waitStatus(id, "ACTIVE", 30*time.Second)
	wantDomstate("after the snapshot", id, "running (unpaused)")
	if left, _ := os.ReadDir(filepath.Join(dir, "snapshots")); len(left) != 0 {
		t.Errorf("snapshot: files left in the agent's snapshots directory: %v", left)
	}

	// 6. A server from the snapshot finds the marker the first boot wrote.
	step("launch vm2 from the snapshot")
	s2 := decodeJSON[map[string]any](t, demo("server", "create", "--flavor", "m1.tiny", "--image", "snap1",
		"--user-data", ud, "--wait", "-f", "json", "vm2"))
	id2, _ := s2["id"].(string)
	ids = append(ids, id2)
	if s2["status"] != "ACTIVE" {
		t.Fatalf("server create from the snapshot: %v", s2)
	}
	if verb, m := (guestLog{t, filepath.Join(instDir(id2), "console.log")}).boot("vm2 from the snapshot", 180*time.Second); verb != "found" || m != mark {
		t.Errorf("vm2 from the snapshot: marker %s %s, want found %s", verb, m, mark)
	}
	// Soft delete, then forceDelete: gone from libvirt and from disk.
	demo("server", "delete", "vm2")
	waitStatus(id2, "SOFT_DELETED", 90*time.Second)
	demo("server", "delete", "--force", "--wait", "vm2")
	if defined(id2) {
		t.Errorf("vm2 still defined after forceDelete")
	}
	if _, err := os.Stat(instDir(id2)); !os.IsNotExist(err) {
		t.Errorf("vm2's files left after forceDelete: %v", err)
	}

	// 7. Rescue: a fresh disk of the image boots as vda, the instance's
	// own disk is vdb with the marker on it.
	step("rescue / unrescue")
	demo("server", "rescue", "vm1")
	waitStatus(id, "RESCUE", 120*time.Second)
	wantDomstate("rescue", id, "running (booted)")
	if bl := disks(id); !regexp.MustCompile(`vda\s+\S+/disk\.rescue\b`).MatchString(bl) || !regexp.MustCompile(`vdb\s+\S+/disk\b`).MatchString(bl) {
		t.Errorf("rescue: virsh domblklist:\n%s", bl)
	}
	if verb, m := log1.boot("rescue", 180*time.Second); verb != "wrote" || m == mark {
		t.Errorf("rescue: vda marker %s %s, want a fresh rescue disk", verb, m)
	}
	if s := log1.read(); !strings.Contains(s, "vdb-marker: ["+mark+"]") {
		t.Errorf("rescue: the rescue system does not see the instance's disk with its marker on vdb:\n%s", s)
	}
	demo("server", "unrescue", "vm1")
	waitStatus(id, "ACTIVE", 120*time.Second)
	wantDomstate("unrescue", id, "running (booted)")
	if bl := disks(id); strings.Contains(bl, "vdb") || strings.Contains(bl, "disk.rescue") {
		t.Errorf("unrescue: virsh domblklist:\n%s", bl)
	}
	if verb, m := log1.boot("unrescue", 180*time.Second); verb != "found" || m != mark {
		t.Errorf("unrescue: marker %s %s, want found %s", verb, m, mark)
	}
	if !strings.Contains(log1.read(), "vdb: absent") {
		t.Errorf("unrescue: a second disk is still attached")
	}
	if _, err := os.Stat(filepath.Join(instDir(id), "disk.rescue")); !os.IsNotExist(err) {
		t.Errorf("unrescue: the rescue disk is left: %v", err)
	}

	// 8. Rebuild: same server, a fresh disk: the old marker is gone.
	step("rebuild")
	demo("server", "rebuild", "--image", "tiny", "--wait", "vm1")
	waitStatus(id, "ACTIVE", 60*time.Second) // the same server
	wantDomstate("rebuild", id, "running (booted)")
	verb, mark2 := log1.boot("rebuild", 180*time.Second)
	if verb != "wrote" || mark2 == mark {
		t.Errorf("rebuild: marker %s %s, want a new one (the old disk gone)", verb, mark2)
	}

	// 9. Shelve: snapshot, off, offloaded at once (offload time 0): no
	// domain, no disk; unshelve boots the shelved snapshot with its
	// marker, and that image is deleted.
	step("shelve / unshelve")
	demo("server", "shelve", "vm1")
	waitStatus(id, "SHELVED_OFFLOADED", 180*time.Second)
	if s := server(id); s["OS-EXT-SRV-ATTR:host"] != nil && s["OS-EXT-SRV-ATTR:host"] != "" {
		t.Errorf("offloaded: still on host %v", s["OS-EXT-SRV-ATTR:host"])
	}
	if defined(id) {
		t.Errorf("offloaded: the domain is still defined")
	}
	if _, err := os.Stat(instDir(id)); !os.IsNotExist(err) {
		t.Errorf("offloaded: the instance's files are left: %v", err)
	}
	shelved := decodeJSON[[]map[string]any](t, demo("image", "list", "--name", "vm1-shelved", "-f", "json"))
	if len(shelved) != 1 || shelved[0]["Status"] != "active" {
		t.Fatalf("shelved image: %v", shelved)
	}
	demo("server", "unshelve", "vm1")
	waitStatus(id, "ACTIVE", 180*time.Second)
	wantDomstate("unshelve", id, "running (booted)")
	if verb, m := log1.boot("unshelve", 180*time.Second); verb != "found" || m != mark2 {
		t.Errorf("unshelve: marker %s %s, want found %s", verb, m, mark2)
	}
	if left := decodeJSON[[]map[string]any](t, demo("image", "list", "--name", "vm1-shelved", "-f", "json")); len(left) != 0 {
		t.Errorf("unshelve: the shelved image is left: %v", left)
	}

	// 10. Resize and migrate between two hosts: a second agent on the
	// same libvirtd with its own state directory. Each move really copies
	// the disk (the marker the guest wrote is found on the other host);
	// the source keeps its parked copy until confirm, and revert boots
	// that copy again.
	step("resize to the second host / revert")
	dir2 := stateDir(t)
	startQEMUAgentOf(t, tc, "qemu-life-2", dir2, 2)
	admin("flavor", "create", "--ram", "768", "--disk", "2", "--vcpus", "1", "m1.resized")
	parked := filepath.Join(dir, "parked", id)
	log2 := guestLog{t, filepath.Join(dir2, "instances", id, "console.log")}
	resized := func(what string) {
		t.Helper()
		s := waitStatus(id, "VERIFY_RESIZE", 300*time.Second)
		if s["OS-EXT-SRV-ATTR:host"] != "qemu-life-2" {
			t.Errorf("%s: on %v, want qemu-life-2", what, s["OS-EXT-SRV-ATTR:host"])
		}
		wantDomstate(what, id, "running (booted)")
		if bl := disks(id); !strings.Contains(bl, filepath.Join(dir2, "instances", id, "disk")) {
			t.Errorf("%s: the domain's disk is not in the second host's directory:\n%s", what, bl)
		}
		if _, err := os.Stat(filepath.Join(parked, "disk")); err != nil {
			t.Errorf("%s: the source's parked disk: %v", what, err)
		}
		if verb, m := log2.boot(what, 180*time.Second); verb != "found" || m != mark2 {
			t.Errorf("%s: marker %s %s on the second host, want found %s", what, verb, m, mark2)
		}
		if out := virsh(t, "dominfo", domain(id)); !regexp.MustCompile(`Max memory:\s+786432 KiB`).MatchString(out) {
			t.Errorf("%s: the domain does not have the new flavor's 768 MiB:\n%s", what, out)
		}
	}
	demo("server", "resize", "--flavor", "m1.resized", "vm1")
	resized("resize")
	demo("server", "resize", "revert", "vm1")
	s = waitStatus(id, "ACTIVE", 300*time.Second)
	if s["OS-EXT-SRV-ATTR:host"] != "qemu-life" {
		t.Errorf("revert: on %v, want qemu-life", s["OS-EXT-SRV-ATTR:host"])
	}
	wantDomstate("revert", id, "running (booted)")
	if verb, m := log1.boot("revert", 180*time.Second); verb != "found" || m != mark2 {
		t.Errorf("revert: marker %s %s, want found %s", verb, m, mark2)
	}
	if _, err := os.Stat(filepath.Join(dir2, "instances", id)); !os.IsNotExist(err) {
		t.Errorf("revert: the second host's copy is left: %v", err)
	}
	if _, err := os.Stat(parked); !os.IsNotExist(err) {
		t.Errorf("revert: the parked directory is left: %v", err)
	}

	step("resize / confirm, migrate back / confirm")
	demo("server", "resize", "--flavor", "m1.resized", "vm1")
	resized("resize again")
	demo("server", "resize", "confirm", "vm1")
	waitStatus(id, "ACTIVE", 120*time.Second)
	if _, err := os.Stat(parked); !os.IsNotExist(err) {
		t.Errorf("confirm: the parked directory is left: %v", err)
	}
	admin("--os-compute-api-version", "2.56", "server", "migrate", "--host", "qemu-life", id)
	s = waitStatus(id, "VERIFY_RESIZE", 300*time.Second)
	if s["OS-EXT-SRV-ATTR:host"] != "qemu-life" {
		t.Errorf("migrate: on %v, want qemu-life", s["OS-EXT-SRV-ATTR:host"])
	}
	if verb, m := log1.boot("migrate", 180*time.Second); verb != "found" || m != mark2 {
		t.Errorf("migrate: marker %s %s, want found %s", verb, m, mark2)
	}
	admin("server", "migration", "confirm", id)
	waitStatus(id, "ACTIVE", 120*time.Second)
	migs := decodeJSON[[]map[string]any](t, admin("server", "migration", "list", "-f", "json"))
	if len(migs) != 3 {
		t.Errorf("openstack server migration list: %v, want 3", migs)
	}
	if _, err := os.Stat(filepath.Join(dir2, "parked", id)); !os.IsNotExist(err) {
		t.Errorf("migrate confirm: the second host's parked directory is left: %v", err)
	}

	// 11. os-resetState (admin): the record only; the domain runs on.
	step("reset state")
	admin("server", "set", "--state", "error", id)
	waitStatus(id, "ERROR", 10*time.Second)
	admin("server", "set", "--state", "active", id)
	waitStatus(id, "ACTIVE", 10*time.Second)
	wantDomstate("reset state", id, "running (booted)")

	// 12. Soft delete: powered off, kept; restore powers it on again with
	// its disk; delete then forceDelete: nothing left.
	step("soft delete / restore / force delete")
	demo("server", "delete", "vm1")
	waitStatus(id, "SOFT_DELETED", 90*time.Second)
	if st := domstate(id); !strings.HasPrefix(st, "shut off") {
		t.Errorf("soft delete: virsh domstate --reason: %q, want shut off", st)
	}
	demo("server", "restore", "vm1")
	waitStatus(id, "ACTIVE", 90*time.Second)
	wantDomstate("restore", id, "running (booted)")
	if verb, m := log1.boot("restore", 180*time.Second); verb != "found" || m != mark2 {
		t.Errorf("restore: marker %s %s, want found %s", verb, m, mark2)
	}
	demo("server", "delete", "vm1")
	waitStatus(id, "SOFT_DELETED", 90*time.Second)
	demo("server", "delete", "--force", "--wait", "vm1")
	step("deleted")

	// Nothing of either server is left in libvirt or in the state
	// directory (the image cache, images/, stays by design).
	for _, x := range ids {
		if defined(x) {
			t.Errorf("domain %s still defined after delete", domain(x))
		}
		if _, err := os.Stat(saveFile(x)); !os.IsNotExist(err) {
			t.Errorf("managed save of %s left after delete: %v", x, err)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "instances")); len(left) != 0 {
		t.Errorf("instance directories left after delete: %v", left)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "snapshots")); len(left) != 0 {
		t.Errorf("snapshot files left after delete: %v", left)
	}
	for _, sub := range []string{filepath.Join(dir, "parked"), filepath.Join(dir2, "instances"), filepath.Join(dir2, "parked")} {
		if left, _ := os.ReadDir(sub); len(left) != 0 {
			t.Errorf("%s left after delete: %v", sub, left)
		}
	}
	cached, _ := os.ReadDir(filepath.Join(dir, "images"))
	t.Logf("image cache after the scenario: %d files; whole run %.0f s", len(cached), time.Since(start).Seconds())
}
