package datapath

import "testing"

func TestNames(t *testing.T) {
	const id = "0123abcd-4567-89ef-0123-456789abcdef"
	for _, tc := range []struct{ name, got, want string }{
		{"bridge", bridgeName(id), "brq0123abcd-45"},
		{"tap", tapName(id), "tap0123abcd-45"},
		{"dhcp interface", dhcpIfName(id), "ns-0123abcd-45"},
		{"router interface", routerIfName(id), "qr-0123abcd-45"},
		{"gateway interface", gwIfName(id), "qg-0123abcd-45"},
		{"vxlan", vxlanName(16777215), "vxlan-16777215"},
		{"vlan", vlanName("eth0", 100), "eth0.100"},
		{"vlan, long interface cut", vlanName("enp129s0f1np1", 4094), "enp129s0f1.4094"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
			if len(tc.got) > maxIfName {
				t.Errorf("%q is longer than %d characters", tc.got, maxIfName)
			}
		})
	}
}

func TestNamespaceKinds(t *testing.T) {
	d, err := New(Config{StateDir: t.TempDir(), NamePrefix: "a-"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ns, kind, id string }{
		{"a-qdhcp-net1", dhcpNSPrefix, "net1"},
		{"a-qrouter-r1", routerNSPrefix, "r1"},
		{"qdhcp-net1", "", ""},    // another agent's (no prefix)
		{"ab-qdhcp-net1", "", ""}, // another prefix
		{"a-qdhcp-", "", ""},
	} {
		if kind, id := d.nsKind(tc.ns); kind != tc.kind || id != tc.id {
			t.Errorf("nsKind(%q): got %q %q, want %q %q", tc.ns, kind, id, tc.kind, tc.id)
		}
	}
}
