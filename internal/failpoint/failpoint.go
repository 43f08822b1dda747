// Package failpoint lets fault tests kill a process at a named point of
// its work (an agent between its event and its acknowledgement, say)
// deterministically, instead of timing a signal. NIMBUS_FAILPOINTS lists
// the points, comma-separated, at which the process kills itself with
// SIGKILL, as the kernel's OOM killer or a power cut would end it: no
// deferred function, no flush. Unset, as in production, Hit is a lookup
// in an empty map.
package failpoint

import (
	"os"
	"strings"
	"syscall"
)

// Env names the variable read at start.
const Env = "NIMBUS_FAILPOINTS"

var armed = parse(os.Getenv(Env))

func parse(s string) map[string]bool {
	m := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			m[p] = true
		}
	}
	return m
}

// Hit kills the process when the point name is armed.
func Hit(name string) {
	if armed[name] {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; go no further
	}
}
