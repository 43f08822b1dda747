package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// sinkScript serves 64 MiB from the guest's memory over HTTP (busybox
// httpd), for the throughput bench.
const sinkScript = `#!/bin/sh
dd if=/dev/zero of=/www/big bs=1M count=64 2>/dev/null
httpd -p 80 -h /www
echo "bench-httpd: up"
`

// benchBytes is the size of /www/big; a sample is fetchesPerSample
// fetches of it, long enough for /proc/uptime's 10 ms ticks (one fetch
// takes about 0.2 s here).
const (
	benchBytes       = 64 << 20
	fetchesPerSample = 8
)

// TestBenchQEMUNetwork is `make bench`'s guest traffic part, skipped
// unless NIMBUS_BENCH=1: two tiny guests on one host (qemu:///system,
// TCG here), the second fetching 8 x 64 MiB from the first's busybox
// httpd, five samples per path in turns, timed inside the guest
// (/proc/uptime), over
// ssh from the outside namespace. Paths: to the fixed address (the
// bridge, with the security groups' filter) and to the floating IP
// (through the router namespace's DNAT and SNAT), then the same with
// port security off on both ports (the plain bridge). It reports MB/s
// (median of 5) and the ratios the networking issue asks for; it
// asserts only that every transfer completed.
func TestBenchQEMUNetwork(t *testing.T) {
	if os.Getenv("NIMBUS_BENCH") != "1" {
		t.Skip("set NIMBUS_BENCH=1 (make bench) to run the guest traffic benchmark")
	}
	c := newQEMUNet(t)
	demo := c.demo
	for _, port := range []string{"22", "80"} {
		demo("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", port, "default")
	}
	_, sinkLog := c.launch(demo, "sink", "net-id=net1", sinkScript)
	_, clientLog := c.launch(demo, "client", "net-id=net1", "#!/bin/sh\necho bench-client: up\n")
	sinkIP := c.fixedIP(demo, "sink")
	fip := func(server string) string {
		ip := strings.TrimSpace(string(demo("floating", "ip", "create", "public", "-f", "value", "-c", "floating_ip_address")))
		demo("server", "add", "floating", "ip", server, ip)
		return ip
	}
	sinkFIP, clientFIP := fip("sink"), fip("client")
	c.waitLine(sinkLog, "sink", "bench-httpd: up")
	c.waitLine(clientLog, "client", "nimbus-net: ssh keys from")
	controllertest.WaitFor(t, 120*time.Second, "ssh to the client", func() bool {
		_, err := c.ssh(clientFIP, "true")
		return err == nil
	})

	// fetch fetches /www/big from each address once to warm up, then
	// takes five samples of each in turns (so a slow moment of this shared machine
	// is not one path's alone), and returns the median MB/s per address.
	fetch := func(addrs ...string) []float64 {
		t.Helper()
		list := strings.Join(addrs, " ")
		out, err := c.ssh(clientFIP, `for a in `+list+`; do wget -q -O /dev/null http://$a/big || echo fetch-failed; done; `+
			`for i in 1 2 3 4 5; do for a in `+list+`; do s=$(cut -d' ' -f1 /proc/uptime); `+
			`for j in 1 2 3 4 5 6 7 8; do wget -q -O /dev/null http://$a/big || echo fetch-failed; done; `+
			`e=$(cut -d' ' -f1 /proc/uptime); echo "took $a $s $e"; done; done`)
		if err != nil || strings.Contains(out, "fetch-failed") {
			t.Fatalf("fetch from %s: %v\n%s", list, err, out)
		}
		rates := map[string][]float64{}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != "took" {
				continue
			}
			s, _ := strconv.ParseFloat(f[2], 64)
			e, _ := strconv.ParseFloat(f[3], 64)
			if e > s {
				rates[f[1]] = append(rates[f[1]], fetchesPerSample*benchBytes/1e6/(e-s))
			}
		}
		var medians []float64
		for _, a := range addrs {
			r := rates[a]
			if len(r) != 5 {
				t.Fatalf("fetch from %s: %d timings in\n%s", a, len(r), out)
			}
			slices.Sort(r)
			medians = append(medians, r[2])
		}
		return medians
	}
	m := fetch(sinkIP, sinkFIP)
	filtered, filteredNAT := m[0], m[1]

	// Port security off on both ports: the plain bridge. Wait until the
	// host's filter no longer names the client's tap.
	for _, server := range []string{"sink", "client"} {
		for _, id := range strings.Fields(string(demo("port", "list", "--server", server, "-f", "value", "-c", "ID"))) {
			demo("port", "set", "--no-security-group", "--disable-port-security", id)
		}
	}
	table := c.nh.Prefix + "nimbus"
	controllertest.WaitFor(t, 30*time.Second, "the filter without the guests' taps", func() bool {
		out, err := c.nh.Try(c.nh.NS, "nft", "list", "table", "bridge", table)
		return err == nil && !strings.Contains(out, "tap")
	})
	m = fetch(sinkIP, sinkFIP)
	plain, plainNAT := m[0], m[1]

	fmt.Printf("\nguest traffic bench  %s  two tiny guests on one host (QEMU, TCG), 8 x 64 MiB over HTTP per sample, median of 5\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("%-58s %10s\n", "path", "MB/s")
	fmt.Printf("%-58s %10.1f\n", "VM -> VM, fixed address, security groups", filtered)
	fmt.Printf("%-58s %10.1f\n", "VM -> VM, floating IP (router NAT), security groups", filteredNAT)
	fmt.Printf("%-58s %10.1f\n", "VM -> VM, fixed address, port security off (plain bridge)", plain)
	fmt.Printf("%-58s %10.1f\n", "VM -> VM, floating IP (router NAT), port security off", plainNAT)
	fmt.Printf("%-58s %10.2f\n", "ratio security groups / plain bridge", filtered/plain)
	fmt.Printf("%-58s %10.2f\n", "ratio floating IP / fixed address (security groups)", filteredNAT/filtered)
	fmt.Printf("%-58s %10.2f\n", "ratio floating IP / fixed address (port security off)", plainNAT/plain)
}
