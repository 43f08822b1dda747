package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// volumeScript is the volume guests' user_data: every second it looks
// for a second disk (vdb). When one appears it reads a marker 1 MiB in;
// it writes one when there is none, and says which, with the disk's size
// in sectors; when the disk goes it says so. Everything the test learns
// of the guest's disks it reads here, on the serial log.
const volumeScript = `#!/bin/sh
at=2048 # 512-byte sectors: 1 MiB
get() { dd if=/dev/vdb bs=512 skip=$at count=1 2>/dev/null | tr -d '\000' | head -n 1; }
had=0
while :; do
	if [ -b /dev/vdb ]; then
		if [ $had = 0 ]; then
			had=1
			m="$(get)"
			case "$m" in
			VOL-MARK-*) echo "vdb: found $m" ;;
			*)
				m="VOL-MARK-$(cat /proc/sys/kernel/random/uuid)"
				printf '%s\n' "$m" | dd of=/dev/vdb bs=512 seek=$at conv=sync,fsync 2>/dev/null
				echo "vdb: wrote $m"
				;;
			esac
			echo "vdb: sectors $(cat /sys/block/vdb/size)"
		fi
	elif [ $had = 1 ]; then
		had=0
		echo "vdb: gone"
	fi
	sleep 1
done
`

var volMarkRE = regexp.MustCompile(`vdb: (wrote|found) (VOL-MARK-[0-9a-f-]{36})`)

// TestQEMUVolumes carries a volume through two real guests on two
// simulated hosts (agents sharing the libvirtd), with the openstack CLI:
// created on the storage host, hot-plugged into a guest on the same host
// (a file), written, hot-unplugged (the guest sees it go), hot-plugged
// into a guest on the other host (over NBD with TLS-PSK, through the
// relay), where the data written by the first guest is read back; then
// snapshotted, and a larger volume made from the snapshot carries the
// same data into the second guest. A third guest boots from a volume
// made from the image at launch (on the other host: its root disk over
// NBD) and marks it; deleted, its volume stays, and a fourth guest boots
// from it and finds the mark. Deleting a guest frees its volumes.
func TestQEMUVolumes(t *testing.T) {
	img := needQEMU(t)
	start := time.Now()
	step := func(name string) { t.Logf("%6.1fs  %s", time.Since(start).Seconds(), name) }
	tc := controllertest.New(t, nil)
	dirA, dirB := stateDir(t), stateDir(t)
	startQEMUAgentEnv(t, tc, "qemu-vol-a", dirA, 1)
	startQEMUAgentEnv(t, tc, "qemu-vol-b", dirB, 2, "NIMBUS_AGENT_STORAGE_DIR=none", "NIMBUS_AGENT_AZ=zone-b")
	admin := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	admin("image", "create", "--public", "--file", img, "--disk-format", "qcow2", "--container-format", "bare", "tiny")
	demo := openstackCLI(t, tc, "demo", tc.DemoPass, "demo")
	ud := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(ud, []byte(volumeScript), 0o644); err != nil {
		t.Fatal(err)
	}
	var ids []string
	t.Cleanup(func() { // never leave a domain behind, whatever failed
		all := virsh(t, "list", "--all", "--name")
		for _, id := range ids {
			if strings.Contains(all, "nimbus-"+id) {
				virsh(t, "destroy", "nimbus-"+id)
				virsh(t, "undefine", "nimbus-"+id)
			}
		}
	})
	// The waits read the API (an openstack CLI call costs a second or two
	// of CPU; polled, it slowed the guests beside it).
	demoTok := tc.DemoToken(t)
	cinder := func(path string) map[string]any {
		t.Helper()
		r := tc.Do(t, "GET", "/volume/v3"+path, demoTok, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		return r.JSON(t)
	}
	// volumeStatus waits until the volume named (or with the id) name is want.
	volumeStatus := func(name, want string) {
		t.Helper()
		controllertest.WaitFor(t, 120*time.Second, "volume "+name+" "+want, func() bool {
			for _, v := range cinder("/volumes/detail")["volumes"].([]any) {
				v := v.(map[string]any)
				if v["name"] != name && v["id"] != name {
					continue
				}
				if got := v["status"].(string); strings.HasPrefix(got, "error") {
					t.Fatalf("volume %s: %v", name, v)
				} else {
					return got == want
				}
			}
			return false
		})
	}
	// launch makes a server in zone az with user_data ud from source
	// (--image tiny, --volume ...) and returns its id and serial log.
	launch := func(name, az, ud string, source ...string) (string, guestLog) {
		t.Helper()
		args := append([]string{"server", "create", "--flavor", "m1.tiny", "--availability-zone", az, "--user-data", ud,
			"--wait", "-f", "json"}, source...)
		s := decodeJSON[map[string]any](t, demo(append(args, name)...))
		if s["status"] != "ACTIVE" {
			t.Fatalf("server create %s: %v", name, s)
		}
		id := s["id"].(string)
		ids = append(ids, id)
		dir := dirA
		if az == "zone-b" {
			dir = dirB
		}
		return id, guestLog{t, filepath.Join(dir, "instances", id, "console.log")}
	}
	// started waits for the user_data script to run.
	started := func(g guestLog, name string) {
		t.Helper()
		controllertest.WaitFor(t, 240*time.Second, name+": user_data running", func() bool {
			return strings.Contains(g.read(), "user-data: start")
		})
	}
	// waitCount waits until the guest's log holds line n times.
	waitCount := func(g guestLog, what, line string, n int) string {
		t.Helper()
		var s string
		controllertest.WaitFor(t, 120*time.Second, what, func() bool {
			s = g.read()
			return strings.Count(s, line) >= n
		})
		return s
	}

	step("a 1 GB volume on the storage host")
	demo("volume", "create", "--size", "1", "v1")
	volumeStatus("v1", "available")
	step("a guest on the storage host, one on the other")
	vm1, g1 := launch("vm1", "nova", ud, "--image", "tiny")
	vm2, g2 := launch("vm2", "zone-b", ud, "--image", "tiny")
	started(g1, "vm1")
	started(g2, "vm2")

	step("attach to vm1 (same host: the file)")
	demo("server", "add", "volume", "vm1", "v1")
	volumeStatus("v1", "in-use")
	s := waitCount(g1, "vm1 sees vdb and writes its marker", "vdb: wrote VOL-MARK-", 1)
	marker := volMarkRE.FindStringSubmatch(s)[2]
	if !strings.Contains(s, "vdb: sectors 2097152") {
		t.Errorf("vm1's vdb is not 1 GiB:\n%s", s)
	}
	if bl := virsh(t, "domblklist", "nimbus-"+vm1); !strings.Contains(bl, filepath.Join(dirA, "volumes")) {
		t.Errorf("vm1's disks do not name the volume's file:\n%s", bl)
	}
	if att := string(demo("server", "volume", "list", "vm1", "-f", "value")); !strings.Contains(att, "/dev/vdb") {
		t.Errorf("server volume list vm1: %s", att)
	}

	step("detach from vm1: the guest lets it go")
	demo("server", "remove", "volume", "vm1", "v1")
	volumeStatus("v1", "available")
	waitCount(g1, "vm1 sees vdb go", "vdb: gone", 1)

	step("attach to vm2 (the other host: NBD through the relay); vm1's data is there")
	demo("server", "add", "volume", "vm2", "v1")
	volumeStatus("v1", "in-use")
	s = waitCount(g2, "vm2 sees vdb", "vdb: found", 1)
	if !strings.Contains(s, "vdb: found "+marker) {
		t.Errorf("vm2 did not read vm1's marker %s:\n%s", marker, s)
	}
	if bl := virsh(t, "domblklist", "nimbus-"+vm2); !strings.Contains(bl, "vol") || strings.Contains(bl, filepath.Join(dirA, "volumes")) {
		t.Errorf("vm2's disks: want the relay's NBD export, not the file:\n%s", bl)
	}
	demo("server", "remove", "volume", "vm2", "v1")
	volumeStatus("v1", "available")
	waitCount(g2, "vm2 sees vdb go", "vdb: gone", 1)

	step("snapshot, and a 2 GB volume from it into vm2")
	demo("volume", "snapshot", "create", "--volume", "v1", "s1")
	controllertest.WaitFor(t, 120*time.Second, "snapshot s1 available", func() bool {
		ss := cinder("/snapshots?name=s1")["snapshots"].([]any)
		return len(ss) == 1 && ss[0].(map[string]any)["status"] == "available"
	})
	demo("volume", "create", "--snapshot", "s1", "--size", "2", "v2")
	volumeStatus("v2", "available")
	demo("server", "add", "volume", "vm2", "v2")
	volumeStatus("v2", "in-use")
	s = waitCount(g2, "vm2 sees the copy", "vdb: found "+marker, 2)
	if !strings.Contains(s, "vdb: sectors 4194304") {
		t.Errorf("the volume from the snapshot is not 2 GiB in the guest:\n%s", s)
	}

	step("boot from a new 1 GB volume made from the image, on the other host (its root disk over NBD)")
	mud := filepath.Join(t.TempDir(), "marker-data")
	if err := os.WriteFile(mud, []byte(markerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	vm3, g3 := launch("vm3", "zone-b", mud, "--image", "tiny", "--boot-from-volume", "1")
	verb, rootMark := g3.boot("vm3", 240*time.Second)
	if verb != "wrote" {
		t.Errorf("vm3's first boot %s a marker on its volume", verb)
	}
	vols := decodeJSON[[]map[string]any](t, demo("server", "volume", "list", "vm3", "-f", "json"))
	if len(vols) != 1 || vols[0]["Device"] != "/dev/vda" {
		t.Fatalf("vm3's volumes: %v", vols)
	}
	bootVol := vols[0]["Volume ID"].(string)
	if bl := virsh(t, "domblklist", "nimbus-"+vm3); !regexp.MustCompile(`(?m)^\s*vda\s+vol\s*$`).MatchString(bl) {
		t.Errorf("vm3's root disk is not its volume (over NBD):\n%s", bl)
	}
	step("delete vm3: its boot volume stays (delete_on_termination false); a new server boots from it")
	demo("server", "delete", "--wait", "vm3")
	volumeStatus(bootVol, "available")
	_, g4 := launch("vm4", "nova", mud, "--volume", bootVol)
	if verb, m := g4.boot("vm4", 240*time.Second); verb != "found" || m != rootMark {
		t.Errorf("vm4 booted from vm3's volume and %s %s, want found %s", verb, m, rootMark)
	}
	demo("server", "delete", "--wait", "vm4")
	volumeStatus(bootVol, "available")
	demo("volume", "delete", bootVol)

	step("deleting vm2 frees v2; the volumes outlive their guests")
	demo("server", "delete", "--wait", "vm2")
	volumeStatus("v2", "available")
	demo("server", "delete", "--wait", "vm1")
	demo("volume", "delete", "v2")
	demo("volume", "snapshot", "delete", "s1")
	controllertest.WaitFor(t, 60*time.Second, "s1 gone", func() bool {
		return len(cinder("/snapshots")["snapshots"].([]any)) == 0
	})
	demo("volume", "delete", "v1")
	controllertest.WaitFor(t, 60*time.Second, "volumes gone", func() bool {
		return len(cinder("/volumes")["volumes"].([]any)) == 0
	})
	if left, _ := filepath.Glob(filepath.Join(dirA, "volumes", "*.qcow2")); len(left) != 0 {
		t.Errorf("volume files left: %v", left)
	}
	step("done")
}
