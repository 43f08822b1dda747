package network_test

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestTempestNetworkFindings holds what tempest's network API suite found
// (docs/tempest.md), each as Neutron answers it: bulk creates ({"networks":
// [...]}) that make all or nothing; {"port_id": null} unmapping a
// floating IP and {"routes": null} clearing a router's routes (null is not
// "absent"); gateway_ip null making a subnet without a gateway; an
// external network's subnets hidden from other projects; Neutron's words
// for bad port values in rules; an external network deleted with its
// unmapped floating IPs.
func TestTempestNetworkFindings(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_PUBLIC_NETWORK": "172.24.4.0/24"})
	a := api{t, tc}
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)

	// Bulk create: all made, in order; one bad item makes none.
	r := a.do("POST", "/networks", demo, map[string]any{"networks": []map[string]any{{"name": "b1"}, {"name": "b2"}}})
	if r.Status != 201 {
		t.Fatalf("bulk networks: %d %s", r.Status, r.Body)
	}
	made := r.JSON(t)["networks"].([]any)
	if len(made) != 2 || made[0].(map[string]any)["name"] != "b1" || made[1].(map[string]any)["name"] != "b2" {
		t.Fatalf("bulk networks answered %v", made)
	}
	n1 := made[0].(map[string]any)["id"].(string)
	r = a.do("POST", "/subnets", demo, map[string]any{"subnets": []map[string]any{
		{"network_id": n1, "cidr": "10.60.0.0/24", "ip_version": 4},
		{"network_id": n1, "cidr": "10.61.0.0/24", "ip_version": 4, "gateway_ip": nil}}})
	if r.Status != 201 {
		t.Fatalf("bulk subnets: %d %s", r.Status, r.Body)
	}
	subs := r.JSON(t)["subnets"].([]any)
	if len(subs) != 2 || subs[1].(map[string]any)["gateway_ip"] != nil || subs[0].(map[string]any)["gateway_ip"] != "10.60.0.1" {
		t.Errorf("bulk subnets (the second with gateway_ip null): %v", subs)
	}
	before := len(a.do("GET", "/ports?network_id="+n1, demo, nil).JSON(t)["ports"].([]any))
	r = a.do("POST", "/ports", demo, map[string]any{"ports": []map[string]any{
		{"network_id": n1, "name": "p1"}, {"network_id": n1, "name": "p2", "fixed_ips": []map[string]any{{"ip_address": "192.0.2.9"}}}}})
	if r.Status != 400 {
		t.Errorf("bulk ports with a bad second item: %d %s, want 400", r.Status, r.Body)
	}
	if after := len(a.do("GET", "/ports?network_id="+n1, demo, nil).JSON(t)["ports"].([]any)); after != before {
		t.Errorf("a refused bulk create left %d ports, want %d", after, before)
	}
	a.fails("bulk with an empty list", a.do("POST", "/networks", demo, map[string]any{"networks": []any{}}), 400, "HTTPBadRequest", "")

	// The cloud's external network: its subnet is the admin's, not listed
	// to other projects (the network itself is).
	pub := a.do("GET", "/networks?name=public", demo, nil).JSON(t)["networks"].([]any)
	if len(pub) != 1 {
		t.Fatalf("demo sees %d networks named public", len(pub))
	}
	pubID := pub[0].(map[string]any)["id"].(string)
	if s := a.do("GET", "/subnets?network_id="+pubID, demo, nil).JSON(t)["subnets"].([]any); len(s) != 0 {
		t.Errorf("demo lists the external network's subnets: %v", s)
	}
	if s := a.do("GET", "/subnets?network_id="+pubID, admin, nil).JSON(t)["subnets"].([]any); len(s) != 1 {
		t.Errorf("admin lists %d subnets of public", len(s))
	}

	// A floating IP mapped, then unmapped by {"port_id": null}.
	router := a.create("/routers", demo, "router", map[string]any{"name": "r", "external_gateway_info": map[string]any{"network_id": pubID}})
	rid := router["id"].(string)
	if r := a.do("PUT", "/routers/"+rid+"/add_router_interface", demo, map[string]any{"subnet_id": subs[0].(map[string]any)["id"]}); r.Status != 200 {
		t.Fatalf("router interface: %d %s", r.Status, r.Body)
	}
	port := a.create("/ports", demo, "port", map[string]any{"network_id": n1})
	fip := a.create("/floatingips", demo, "floatingip", map[string]any{"floating_network_id": pubID, "port_id": port["id"]})
	if fip["port_id"] != port["id"] {
		t.Fatalf("floating IP not mapped: %v", fip)
	}
	r = a.do("PUT", "/floatingips/"+fip["id"].(string), demo, map[string]any{"floatingip": map[string]any{"port_id": nil}})
	if r.Status != 200 || r.JSON(t)["floatingip"].(map[string]any)["port_id"] != nil {
		t.Errorf(`{"port_id": null}: %d %s`, r.Status, r.Body)
	}

	// Extra routes set, then cleared by {"routes": null}.
	routes := []map[string]any{{"destination": "10.99.0.0/24", "nexthop": "10.60.0.50"}}
	if r := a.do("PUT", "/routers/"+rid, demo, map[string]any{"router": map[string]any{"routes": routes}}); r.Status != 200 ||
		len(r.JSON(t)["router"].(map[string]any)["routes"].([]any)) != 1 {
		t.Fatalf("routes set: %d %s", r.Status, r.Body)
	}
	if r := a.do("PUT", "/routers/"+rid, demo, map[string]any{"router": map[string]any{"routes": nil}}); r.Status != 200 ||
		len(r.JSON(t)["router"].(map[string]any)["routes"].([]any)) != 0 {
		t.Errorf(`{"routes": null}: %d %s`, r.Status, r.Body)
	}

	// Rules: every port value is checked as a port first, in Neutron's words.
	gid := a.create("/security-groups", demo, "security_group", map[string]any{"name": "g"})["id"].(string)
	rule := func(proto string, min, max any) controllertest.Resp {
		return a.do("POST", "/security-group-rules", demo, map[string]any{"security_group_rule": map[string]any{
			"security_group_id": gid, "direction": "ingress", "protocol": proto, "port_range_min": min, "port_range_max": max}})
	}
	a.fails("tcp -16..80", rule("tcp", -16, 80), 400, "", "Invalid value for port -16")
	a.fails("tcp 80..65536", rule("tcp", 80, 65536), 400, "", "Invalid value for port 65536")
	a.fails("tcp 80..79", rule("tcp", 80, 79), 400, "SecurityGroupInvalidPortRange", "port_range_min must be <= port_range_max")
	a.fails("tcp ..6", rule("tcp", nil, 6), 400, "SecurityGroupInvalidPortRange", "port_range_min must be <= port_range_max")
	a.fails("icmp 1/256", rule("icmp", 1, 256), 400, "SecurityGroupInvalidIcmpValue", "Invalid value for ICMP code")
	a.fails("icmp 300/1", rule("icmp", 300, 1), 400, "SecurityGroupInvalidIcmpValue", "Invalid value for ICMP type")
	a.fails("icmp -1/25", rule("icmp", -1, 25), 400, "", "Invalid value")

	// An external network with an unmapped floating IP can be deleted;
	// both go.
	ext := a.create("/networks", admin, "network", map[string]any{"name": "ext2", "router:external": true})
	a.create("/subnets", admin, "subnet", map[string]any{"network_id": ext["id"], "cidr": "198.51.100.0/24", "ip_version": 4, "enable_dhcp": false})
	f2 := a.create("/floatingips", admin, "floatingip", map[string]any{"floating_network_id": ext["id"]})
	if r := a.do("DELETE", "/networks/"+ext["id"].(string), admin, nil); r.Status != 204 {
		t.Fatalf("delete an external network with an unmapped floating IP: %d %s", r.Status, r.Body)
	}
	if r := a.do("GET", "/floatingips/"+f2["id"].(string), admin, nil); r.Status != 404 {
		t.Errorf("its floating IP after the network went: %d", r.Status)
	}
}
