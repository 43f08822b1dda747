package datapath

import (
	"slices"
	"testing"
)

// Only losses flush: a port that lost a rule and a member that left a set
// are found; a new port, a new rule and a new member are not.
func TestLostFlows(t *testing.T) {
	before := filterScript{
		Tables: "table inet t {\n\tchain ingress_tapA {\n\t\ttcp dport 22 accept\n\t\tdrop\n\t}\n" +
			"\tchain ingress_tapB {\n\t\tdrop\n\t}\n}\n",
		Elements: "flush set inet t rg4_x\nadd element inet t rg4_x { 10.0.0.5, 10.0.0.6 }\n",
	}
	now := filterScript{
		Tables: "table inet t {\n\tchain ingress_tapA {\n\t\tdrop\n\t}\n" +
			"\tchain ingress_tapB {\n\t\ttcp dport 80 accept\n\t\tdrop\n\t}\n\tchain ingress_tapC {\n\t\tdrop\n\t}\n}\n",
		Elements: "flush set inet t rg4_x\nadd element inet t rg4_x { 10.0.0.5, 10.0.0.7 }\n",
	}
	ports, members := lostFlows(before, now)
	if len(ports) != 1 || !ports["tapA"] {
		t.Errorf("ports that lost a rule: %v, want tapA only", ports)
	}
	if !slices.Equal(members, []string{"10.0.0.6"}) {
		t.Errorf("members that left: %v, want 10.0.0.6", members)
	}
}
