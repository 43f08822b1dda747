package network_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestSecurityGroupsRoutersFloatingIPs: security group rules as Neutron
// checks them; a router joining a project subnet to an external network;
// floating IPs allocated, mapped through that router, refused without
// one, unmapped when their port goes; and the network quotas counted,
// refused with 409 OverQuota, set by admins only.
func TestSecurityGroupsRoutersFloatingIPs(t *testing.T) {
	tc := controllertest.New(t, nil)
	a := api{t, tc}
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)

	// Security groups.
	web := a.create("/security-groups", demo, "security_group", map[string]any{"name": "web", "description": "front"})
	if n := len(web["security_group_rules"].([]any)); n != 2 {
		t.Errorf("new group has %d rules, want Neutron's 2 egress rules", n)
	}
	gid := web["id"].(string)
	rule := a.create("/security-group-rules", demo, "security_group_rule", map[string]any{"security_group_id": gid,
		"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "203.0.113.7/24"})
	if rule["remote_ip_prefix"] != "203.0.113.0/24" || rule["ethertype"] != "IPv4" || rule["port_range_min"] != float64(22) {
		t.Errorf("rule: %v", rule)
	}
	ruleBody := func(extra map[string]any) map[string]any {
		b := map[string]any{"security_group_id": gid, "direction": "ingress"}
		for k, v := range extra {
			b[k] = v
		}
		return map[string]any{"security_group_rule": b}
	}
	for _, c := range []struct {
		what  string
		extra map[string]any
		code  int
		typ   string
	}{
		{"the same rule", map[string]any{"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "203.0.113.0/24"}, 409, "SecurityGroupRuleExists"},
		{"ports backwards", map[string]any{"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}, 400, "SecurityGroupInvalidPortRange"},
		{"port 0", map[string]any{"protocol": "udp", "port_range_min": 0, "port_range_max": 10}, 400, "SecurityGroupInvalidPortValue"},
		{"ports without a protocol", map[string]any{"port_range_min": 80, "port_range_max": 80}, 400, "SecurityGroupInvalidPortRange"},
		{"unknown protocol", map[string]any{"protocol": "carrier-pigeon"}, 400, "SecurityGroupRuleInvalidProtocol"},
		{"protocol 300", map[string]any{"protocol": "300"}, 400, "SecurityGroupRuleInvalidProtocol"},
		{"ICMP code without type", map[string]any{"protocol": "icmp", "port_range_max": 0}, 400, "SecurityGroupMissingIcmpType"},
		{"prefix and group", map[string]any{"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": gid}, 400, "SecurityGroupRemoteGroupAndRemoteIpPrefix"},
		{"IPv6 prefix on IPv4", map[string]any{"remote_ip_prefix": "fd00::/8"}, 400, "SecurityGroupRuleParameterConflict"},
		{"bad direction", map[string]any{"direction": "sideways"}, 400, "InvalidInput"},
		{"unknown remote group", map[string]any{"remote_group_id": "00000000-0000-0000-0000-000000000000"}, 404, "SecurityGroupNotFound"},
	} {
		a.fails(c.what, a.do("POST", "/security-group-rules", demo, ruleBody(c.extra)), c.code, c.typ, "")
	}
	a.create("/security-group-rules", demo, "security_group_rule", map[string]any{"security_group_id": gid,
		"direction": "ingress", "protocol": "icmp", "remote_group_id": gid})
	a.fails("a second group called default", a.do("POST", "/security-groups", demo, map[string]any{"security_group": map[string]any{"name": "default"}}),
		409, "SecurityGroupDefaultAlreadyExists", "")

	// The cloud's external network and a project network behind a router.
	public := a.create("/networks", admin, "network", map[string]any{"name": "public", "router:external": true,
		"provider:network_type": "flat", "provider:physical_network": "public"})
	a.fails("a second flat network on public", a.do("POST", "/networks", admin, map[string]any{"network": map[string]any{
		"provider:network_type": "flat", "provider:physical_network": "public"}}), 409, "FlatNetworkInUse", "")
	a.create("/subnets", admin, "subnet", map[string]any{"network_id": public["id"], "cidr": "172.24.4.0/24", "ip_version": 4,
		"enable_dhcp": false, "allocation_pools": []map[string]string{{"start": "172.24.4.10", "end": "172.24.4.20"}}})
	if r := a.do("GET", "/networks/"+public["id"].(string), demo, nil); r.Status != 200 {
		t.Errorf("a project cannot see the external network: %d", r.Status)
	}
	a.fails("a member's port on the external network", a.do("POST", "/ports", demo, map[string]any{"port": map[string]any{"network_id": public["id"]}}),
		403, "PolicyNotAuthorized", "")
	net := a.create("/networks", demo, "network", map[string]any{"name": "inside"})
	sub := a.create("/subnets", demo, "subnet", map[string]any{"network_id": net["id"], "cidr": "10.10.0.0/24", "ip_version": 4})
	other := a.create("/networks", demo, "network", map[string]any{"name": "overlapping"})
	overlap := a.create("/subnets", demo, "subnet", map[string]any{"network_id": other["id"], "cidr": "10.10.0.0/16", "ip_version": 4})

	a.fails("gateway on an internal network", a.do("POST", "/routers", demo, map[string]any{"router": map[string]any{
		"external_gateway_info": map[string]any{"network_id": net["id"]}}}), 400, "", "not an external network")
	a.fails("a member turns SNAT off", a.do("POST", "/routers", demo, map[string]any{"router": map[string]any{
		"external_gateway_info": map[string]any{"network_id": public["id"], "enable_snat": false}}}), 403, "PolicyNotAuthorized", "")
	router := a.create("/routers", demo, "router", map[string]any{"name": "r1",
		"external_gateway_info": map[string]any{"network_id": public["id"]}})
	rid := router["id"].(string)
	gw := router["external_gateway_info"].(map[string]any)
	if gw["enable_snat"] != true || !strings.Contains(fmt.Sprint(gw["external_fixed_ips"]), "172.24.4.10") {
		t.Errorf("router gateway: %v", gw)
	}
	r := a.do("PUT", "/routers/"+rid+"/add_router_interface", demo, map[string]any{"subnet_id": sub["id"]})
	if r.Status != 200 || r.JSON(t)["subnet_id"] != sub["id"] {
		t.Fatalf("add interface: %d %s", r.Status, r.Body)
	}
	iface := r.JSON(t)["port_id"].(string)
	if p := a.do("GET", "/ports/"+iface, demo, nil).JSON(t)["port"].(map[string]any); p["device_owner"] != "network:router_interface" ||
		!strings.Contains(fmt.Sprint(p["fixed_ips"]), "10.10.0.1") {
		t.Errorf("interface port: %v", p)
	}
	a.fails("an overlapping subnet on the same router", a.do("PUT", "/routers/"+rid+"/add_router_interface", demo,
		map[string]any{"subnet_id": overlap["id"]}), 400, "", "overlaps")
	a.fails("delete the interface port directly", a.do("DELETE", "/ports/"+iface, demo, nil), 409, "", "router_interface")
	a.fails("delete a router with interfaces", a.do("DELETE", "/routers/"+rid, demo, nil), 409, "RouterInUse", "")

	// Floating IPs.
	vm := a.create("/ports", demo, "port", map[string]any{"network_id": net["id"]})
	lonely := a.create("/ports", demo, "port", map[string]any{"network_id": other["id"]})
	fip := a.create("/floatingips", demo, "floatingip", map[string]any{"floating_network_id": public["id"]})
	if fip["status"] != "DOWN" || fip["port_id"] != nil || !strings.HasPrefix(fip["floating_ip_address"].(string), "172.24.4.") {
		t.Errorf("new floating IP: %v", fip)
	}
	fid := fip["id"].(string)
	a.fails("a floating IP on an internal network", a.do("POST", "/floatingips", demo, map[string]any{"floatingip": map[string]any{
		"floating_network_id": net["id"]}}), 400, "", "not a valid external network")
	a.fails("a member picks the address", a.do("POST", "/floatingips", demo, map[string]any{"floatingip": map[string]any{
		"floating_network_id": public["id"], "floating_ip_address": "172.24.4.15"}}), 403, "PolicyNotAuthorized", "")
	a.fails("map to a port no router reaches", a.do("PUT", "/floatingips/"+fid, demo, map[string]any{"floatingip": map[string]any{
		"port_id": lonely["id"]}}), 404, "ExternalGatewayForFloatingIPNotFound", "")
	r = a.do("PUT", "/floatingips/"+fid, demo, map[string]any{"floatingip": map[string]any{"port_id": vm["id"]}})
	if r.Status != 200 {
		t.Fatalf("associate: %d %s", r.Status, r.Body)
	}
	mapped := r.JSON(t)["floatingip"].(map[string]any)
	fixed := vm["fixed_ips"].([]any)[0].(map[string]any)["ip_address"]
	if mapped["router_id"] != rid || mapped["fixed_ip_address"] != fixed || mapped["status"] != "ACTIVE" {
		t.Errorf("mapped floating IP: %v", mapped)
	}
	second := a.create("/floatingips", demo, "floatingip", map[string]any{"floating_network_id": public["id"]})
	a.fails("two floating IPs on one fixed address", a.do("PUT", "/floatingips/"+second["id"].(string), demo, map[string]any{"floatingip": map[string]any{
		"port_id": vm["id"]}}), 409, "FloatingIPPortAlreadyAssociated", "")
	a.fails("remove the interface a floating IP needs", a.do("PUT", "/routers/"+rid+"/remove_router_interface", demo,
		map[string]any{"subnet_id": sub["id"]}), 409, "RouterInterfaceInUseByFloatingIP", "")
	a.fails("clear the gateway a floating IP needs", a.do("PUT", "/routers/"+rid, demo, map[string]any{"router": map[string]any{
		"external_gateway_info": nil}}), 409, "RouterExternalGatewayInUseByFloatingIp", "")
	if r := a.do("DELETE", "/ports/"+vm["id"].(string), demo, nil); r.Status != 204 {
		t.Fatalf("delete the mapped port: %d %s", r.Status, r.Body)
	}
	if f := a.do("GET", "/floatingips/"+fid, demo, nil).JSON(t)["floatingip"].(map[string]any); f["port_id"] != nil || f["status"] != "DOWN" || f["router_id"] != nil {
		t.Errorf("a deleted port's floating IP stays mapped: %v", f)
	}

	// Quotas: counted, 409 when exceeded, admins set them.
	pid := fip["project_id"].(string)
	r = a.do("GET", "/quotas/"+pid+"/details.json", demo, nil)
	q := r.JSON(t)["quota"].(map[string]any)
	if fmt.Sprint(q["floatingip"]) != "map[limit:50 reserved:0 used:2]" || fmt.Sprint(q["router"]) != "map[limit:10 reserved:0 used:1]" {
		t.Errorf("quota details: %s", r.Body)
	}
	a.fails("a member sets quotas", a.do("PUT", "/quotas/"+pid, demo, map[string]any{"quota": map[string]any{"floatingip": 2}}),
		403, "PolicyNotAuthorized", "")
	if r := a.do("PUT", "/quotas/"+pid, admin, map[string]any{"quota": map[string]any{"floatingip": 2, "security_group_rule": 100}}); r.Status != 200 ||
		r.JSON(t)["quota"].(map[string]any)["floatingip"] != float64(2) {
		t.Fatalf("admin sets quotas: %d %s", r.Status, r.Body)
	}
	a.fails("a third floating IP over a quota of 2", a.do("POST", "/floatingips", demo, map[string]any{"floatingip": map[string]any{
		"floating_network_id": public["id"]}}), 409, "OverQuota", "floatingip")
	ports := len(a.do("GET", "/ports?network_id="+public["id"].(string), admin, nil).JSON(t)["ports"].([]any))
	if ports != 3 { // the gateway and two floating IPs: the refused one took no address
		t.Errorf("the external network has %d ports, want 3", ports)
	}
	if r := a.do("DELETE", "/quotas/"+pid, admin, nil); r.Status != 204 {
		t.Errorf("reset quotas: %d", r.Status)
	}
	if q := a.do("GET", "/quotas/"+pid, demo, nil).JSON(t)["quota"].(map[string]any); q["floatingip"] != float64(50) {
		t.Errorf("after reset: %v", q)
	}

	// Release and unwind: nothing of the router stays on the external network.
	for _, f := range []string{fid, second["id"].(string)} {
		if r := a.do("DELETE", "/floatingips/"+f, demo, nil); r.Status != 204 {
			t.Errorf("release: %d %s", r.Status, r.Body)
		}
	}
	if r := a.do("PUT", "/routers/"+rid+"/remove_router_interface", demo, map[string]any{"subnet_id": sub["id"]}); r.Status != 200 {
		t.Errorf("remove interface: %d %s", r.Status, r.Body)
	}
	if r := a.do("DELETE", "/routers/"+rid, demo, nil); r.Status != 204 {
		t.Errorf("delete router: %d %s", r.Status, r.Body)
	}
	if n := len(a.do("GET", "/ports?network_id="+public["id"].(string), admin, nil).JSON(t)["ports"].([]any)); n != 0 {
		t.Errorf("the external network keeps %d ports after everything was released", n)
	}
	_ = controllertest.PasswordAuth
}
