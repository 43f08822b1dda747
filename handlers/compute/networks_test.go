package compute_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestServerNetworks: Nova's side of networking on the test driver. A
// server asks for a network (with a fixed address) and a port; its
// addresses show both per network with MACs and, once mapped, the
// floating address; the ports are bound to it; a port in use, a network
// that does not exist and a port given to two servers are refused with
// nothing made; deleting the server deletes the port Nova made and
// unbinds the one it was given; "auto" uses the project's only network,
// or makes one (get-me-a-network) when the cloud has a default external
// network; "none" gives no NIC.
func TestServerNetworks(t *testing.T) {
	// The cloud's default external network, for get-me-a-network below,
	// made at start as make run makes it.
	tc := controllertest.New(t, map[string]string{"NIMBUS_PUBLIC_NETWORK": "172.24.4.0/24"})
	tc.StartAgent(t, "net-a")
	tc.WaitHosts(t, 1)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	img := tc.ActiveImage(t)
	neutron := func(method, path, token string, body any, want int) map[string]any {
		t.Helper()
		r := tc.Do(t, method, "/networking/v2.0"+path, token, body)
		if r.Status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
		}
		if len(r.Body) == 0 {
			return nil
		}
		return r.JSON(t)
	}
	v := []string{"OpenStack-API-Version", "compute 2.37"}
	launch := func(name string, networks any, want int) string {
		t.Helper()
		r := tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{
			"name": name, "flavorRef": "1", "imageRef": img, "networks": networks}}, v...)
		if r.Status != want {
			t.Fatalf("launch %s: %d %s, want %d", name, r.Status, r.Body, want)
		}
		if want != 202 {
			return ""
		}
		return r.JSON(t)["server"].(map[string]any)["id"].(string)
	}
	countPorts := func() int {
		var n int
		if err := tc.Server.Pool().QueryRow(t.Context(), `SELECT count(*) FROM ports`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	exts := neutron("GET", "/networks?name=public", admin, nil, 200)["networks"].([]any)
	if len(exts) != 1 {
		t.Fatalf("NIMBUS_PUBLIC_NETWORK made %d networks public", len(exts))
	}
	ext := exts[0].(map[string]any)
	if ext["router:external"] != true || ext["is_default"] != true || ext["provider:network_type"] != "flat" || len(ext["subnets"].([]any)) != 1 {
		t.Errorf("the public network: %v", ext)
	}

	// "auto" in a project with no network: Neutron's auto-allocated topology.
	auto := launch("auto", "auto", 202)
	tc.WaitStatus(t, demo, auto, "ACTIVE", 30*time.Second)
	nets := neutron("GET", "/networks?name=auto_allocated_network", demo, nil, 200)["networks"].([]any)
	routers := neutron("GET", "/routers?name=auto_allocated_router", demo, nil, 200)["routers"].([]any)
	if len(nets) != 1 || len(routers) != 1 || routers[0].(map[string]any)["external_gateway_info"] == nil {
		t.Fatalf("get-me-a-network made networks %v, routers %v", nets, routers)
	}
	autoNet := nets[0].(map[string]any)["id"].(string)
	srv := tc.Do(t, "GET", "/compute/v2.1/servers/"+auto, demo, nil).JSON(t)["server"].(map[string]any)
	if !strings.Contains(fmt.Sprint(srv["addresses"]), "auto_allocated_network:[map[OS-EXT-IPS-MAC:mac_addr:fa:16:3e:") {
		t.Errorf("auto server's addresses: %v", srv["addresses"])
	}

	// A second network makes "auto" ambiguous (409), so it is named.
	net := neutron("POST", "/networks", demo, map[string]any{"network": map[string]any{"name": "blue"}}, 201)["network"].(map[string]any)
	sub := neutron("POST", "/subnets", demo, map[string]any{"subnet": map[string]any{"network_id": net["id"], "cidr": "10.20.0.0/24",
		"ip_version": 4}}, 201)["subnet"].(map[string]any)
	before := countPorts()
	launch("ambiguous", "auto", 409)
	launch("no-such-network", []map[string]any{{"uuid": "6f0e4a37-6a59-4b1a-9b59-1b2b3c4d5e6f"}}, 400)
	given := neutron("POST", "/ports", demo, map[string]any{"port": map[string]any{"network_id": net["id"], "name": "given"}}, 201)["port"].(map[string]any)
	pid := given["id"].(string)
	before++
	r := tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{"name": "two", "flavorRef": "1",
		"imageRef": img, "min_count": 2, "networks": []map[string]any{{"port": pid}}}}, v...)
	if r.Status != 400 {
		t.Errorf("one port for two servers: %d %s", r.Status, r.Body)
	}
	launch("taken-address", []map[string]any{{"uuid": net["id"], "fixed_ip": "10.20.0.2"}}, 409) // the DHCP port's
	// The port quota counts a launch's ports with its instances: at the
	// limit, the launch is Nova's 403 naming ports, and leaves nothing.
	var project string
	var used int
	if err := tc.Server.Pool().QueryRow(t.Context(), `SELECT p.id, (SELECT count(*) FROM ports WHERE project_id = p.id)
		FROM projects p WHERE p.name = 'demo'`).Scan(&project, &used); err != nil {
		t.Fatal(err)
	}
	neutron("PUT", "/quotas/"+project, admin, map[string]any{"quota": map[string]any{"port": used + 1}}, 200)
	r = tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{"name": "over", "flavorRef": "1",
		"imageRef": img, "min_count": 2, "networks": []map[string]any{{"uuid": net["id"]}}}}, v...)
	if r.Status != 403 || !strings.Contains(string(r.Body), "port") {
		t.Errorf("two servers with a port each, one port left in the quota: %d %s", r.Status, r.Body)
	}
	neutron("PUT", "/quotas/"+project, admin, map[string]any{"quota": map[string]any{"port": -1}}, 200)
	if n := countPorts(); n != before {
		t.Errorf("refused launches left %d ports, want %d", n, before)
	}

	id := launch("web", []map[string]any{{"uuid": net["id"], "fixed_ip": "10.20.0.10"}, {"port": pid}}, 202)
	tc.WaitStatus(t, demo, id, "ACTIVE", 30*time.Second)
	launch("steal", []map[string]any{{"port": pid}}, 409)
	srv = tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	addrs := srv["addresses"].(map[string]any)["blue"].([]any)
	if len(addrs) != 2 || addrs[0].(map[string]any)["addr"] != "10.20.0.10" || addrs[0].(map[string]any)["OS-EXT-IPS:type"] != "fixed" ||
		addrs[1].(map[string]any)["OS-EXT-IPS-MAC:mac_addr"] != given["mac_address"] {
		t.Fatalf("addresses: %v", srv["addresses"])
	}
	ports := neutron("GET", "/ports?device_id="+id, demo, nil, 200)["ports"].([]any)
	if len(ports) != 2 || !strings.HasPrefix(ports[0].(map[string]any)["device_owner"].(string), "compute:") {
		t.Fatalf("server's ports: %v", ports)
	}
	made := ""
	for _, p := range ports {
		if p.(map[string]any)["id"] != pid {
			made = p.(map[string]any)["id"].(string)
		}
	}

	// /ips, a server's security groups, and changing them.
	if r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/ips/blue", demo, nil); r.Status != 200 || !strings.Contains(string(r.Body), "10.20.0.10") {
		t.Errorf("ips/blue: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/ips/red", demo, nil); r.Status != 404 {
		t.Errorf("ips of a network the server is not on: %d", r.Status)
	}
	groupNames := func() string {
		t.Helper()
		var names []string
		for _, g := range tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-security-groups", demo, nil).JSON(t)["security_groups"].([]any) {
			names = append(names, g.(map[string]any)["name"].(string))
		}
		return strings.Join(names, ",")
	}
	if got := groupNames(); got != "default" {
		t.Errorf("server's groups: %q, want default", got)
	}
	neutron("POST", "/security-groups", demo, map[string]any{"security_group": map[string]any{"name": "web"}}, 201)
	action := func(body map[string]any, want int) {
		t.Helper()
		if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/action", demo, body); r.Status != want {
			t.Errorf("%v: %d %s, want %d", body, r.Status, r.Body, want)
		}
	}
	action(map[string]any{"addSecurityGroup": map[string]any{"name": "web"}}, 202)
	if got := groupNames(); got != "default,web" {
		t.Errorf("after addSecurityGroup: %q", got)
	}
	if s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any); fmt.Sprint(s["security_groups"]) != "[map[name:default] map[name:web]]" {
		t.Errorf("server's security_groups: %v", s["security_groups"])
	}
	action(map[string]any{"removeSecurityGroup": map[string]any{"name": "default"}}, 202)
	action(map[string]any{"removeSecurityGroup": map[string]any{"name": "default"}}, 400)
	action(map[string]any{"addSecurityGroup": map[string]any{"name": "nope"}}, 404)
	if got := groupNames(); got != "web" {
		t.Errorf("after removeSecurityGroup: %q", got)
	}
	r = tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{"name": "grouped", "flavorRef": "1",
		"imageRef": img, "networks": []map[string]any{{"uuid": net["id"]}}, "security_groups": []map[string]any{{"name": "web"}}}})
	if r.Status != 202 {
		t.Fatalf("launch with security_groups: %d %s", r.Status, r.Body)
	}
	grouped := r.JSON(t)["server"].(map[string]any)["id"].(string)
	gp := neutron("GET", "/ports?device_id="+grouped, demo, nil, 200)["ports"].([]any)
	web := neutron("GET", "/security-groups?name=web", demo, nil, 200)["security_groups"].([]any)[0].(map[string]any)["id"]
	if len(gp) != 1 || fmt.Sprint(gp[0].(map[string]any)["security_groups"]) != fmt.Sprintf("[%s]", web) {
		t.Errorf("a server launched with security group web has ports %v", gp)
	}
	r = tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{"name": "x", "flavorRef": "1",
		"imageRef": img, "networks": []map[string]any{{"uuid": net["id"]}}, "security_groups": []map[string]any{{"name": "nope"}}}})
	if r.Status != 400 {
		t.Errorf("launch with an unknown security group: %d %s", r.Status, r.Body)
	}

	// os-interface: attach a port on another network, list, detach.
	green := neutron("POST", "/networks", demo, map[string]any{"network": map[string]any{"name": "green"}}, 201)["network"].(map[string]any)
	neutron("POST", "/subnets", demo, map[string]any{"subnet": map[string]any{"network_id": green["id"], "cidr": "10.21.0.0/24",
		"ip_version": 4}}, 201)
	r = tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/os-interface", demo, map[string]any{"interfaceAttachment": map[string]any{
		"net_id": green["id"], "fixed_ips": []map[string]any{{"ip_address": "10.21.0.7"}}}})
	if r.Status != 200 {
		t.Fatalf("attach interface: %d %s", r.Status, r.Body)
	}
	att := r.JSON(t)["interfaceAttachment"].(map[string]any)
	if att["net_id"] != green["id"] || !strings.Contains(fmt.Sprint(att["fixed_ips"]), "10.21.0.7") {
		t.Errorf("attached: %v", att)
	}
	if n := len(tc.Do(t, "GET", "/compute/v2.1/servers/"+id+"/os-interface", demo, nil).JSON(t)["interfaceAttachments"].([]any)); n != 3 {
		t.Errorf("%d interfaces after the attach, want 3", n)
	}
	srv = tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	if !strings.Contains(fmt.Sprint(srv["addresses"]), "green:[map[OS-EXT-IPS-MAC:mac_addr:"+att["mac_addr"].(string)) {
		t.Errorf("addresses after the attach: %v", srv["addresses"])
	}
	if r := tc.Do(t, "POST", "/compute/v2.1/servers/"+id+"/os-interface", demo, map[string]any{"interfaceAttachment": map[string]any{
		"port_id": pid}}); r.Status != 409 {
		t.Errorf("attach a port already bound: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id+"/os-interface/"+att["port_id"].(string), demo, nil); r.Status != 202 {
		t.Fatalf("detach: %d %s", r.Status, r.Body)
	}
	if r := tc.Do(t, "GET", "/networking/v2.0/ports/"+att["port_id"].(string), demo, nil); r.Status != 404 {
		t.Errorf("the detached port Nova made still exists: %d", r.Status)
	}
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id+"/os-interface/"+att["port_id"].(string), demo, nil); r.Status != 404 {
		t.Errorf("detach again: %d", r.Status)
	}

	// A floating IP on the made port shows in the server's addresses once
	// the subnet is behind a router to the external network.
	router := neutron("POST", "/routers", demo, map[string]any{"router": map[string]any{"name": "r",
		"external_gateway_info": map[string]any{"network_id": ext["id"]}}}, 201)["router"].(map[string]any)
	neutron("PUT", "/routers/"+router["id"].(string)+"/add_router_interface", demo, map[string]any{"subnet_id": sub["id"]}, 200)
	fip := neutron("POST", "/floatingips", demo, map[string]any{"floatingip": map[string]any{"floating_network_id": ext["id"],
		"port_id": made}}, 201)["floatingip"].(map[string]any)
	srv = tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	if !strings.Contains(fmt.Sprint(srv["addresses"]), "addr:"+fip["floating_ip_address"].(string)+" version:4]") ||
		!strings.Contains(fmt.Sprint(srv["addresses"]), "OS-EXT-IPS:type:floating") {
		t.Errorf("addresses with a floating IP: %v", srv["addresses"])
	}

	// Delete: the made port goes (its floating IP unmapped), the given one stays, unbound.
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 30*time.Second, "the server's ports released", func() bool {
		return tc.Do(t, "GET", "/networking/v2.0/ports/"+made, demo, nil).Status == 404
	})
	p := neutron("GET", "/ports/"+pid, demo, nil, 200)["port"].(map[string]any)
	if p["device_id"] != "" || p["device_owner"] != "" {
		t.Errorf("the given port stays bound: %v", p)
	}
	if f := neutron("GET", "/floatingips/"+fip["id"].(string), demo, nil, 200)["floatingip"].(map[string]any); f["port_id"] != nil {
		t.Errorf("floating IP still mapped to a deleted port: %v", f)
	}

	// "none": no NIC. And the given port can be used again.
	none := launch("none", "none", 202)
	again := launch("again", []map[string]any{{"port": pid}}, 202)
	tc.WaitStatus(t, demo, again, "ACTIVE", 30*time.Second)
	if s := tc.Do(t, "GET", "/compute/v2.1/servers/"+none, demo, nil).JSON(t)["server"].(map[string]any); len(s["addresses"].(map[string]any)) != 0 {
		t.Errorf("networks none: addresses %v", s["addresses"])
	}
	_ = autoNet
}

// TestAutoWithoutNetworks: "auto" in a cloud with no network for the
// project and no external network to make one from is Nova's 400
// (Neutron cannot allocate one); "none" still launches.
func TestAutoWithoutNetworks(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	v := []string{"OpenStack-API-Version", "compute 2.37"}
	for _, c := range []struct {
		networks string
		want     int
	}{{"auto", 400}, {"none", 202}} {
		r := tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{
			"name": c.networks, "flavorRef": "1", "imageRef": img, "networks": c.networks}}, v...)
		if r.Status != c.want || (c.want == 400 && !strings.Contains(string(r.Body), "Unable to automatically allocate a network")) {
			t.Errorf("networks %q: %d %s, want %d", c.networks, r.Status, r.Body, c.want)
		}
	}
}
