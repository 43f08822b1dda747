package network_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// api wraps a cloud with the Networking API's conventions: bodies are
// {"<resource>": {...}}, errors are NeutronError.
type api struct {
	t  *testing.T
	tc *controllertest.Cloud
}

func (a api) do(method, path, token string, body any) controllertest.Resp {
	a.t.Helper()
	return a.tc.Do(a.t, method, "/networking/v2.0"+path, token, body)
}

// create POSTs {kind: attrs} to path and returns the created resource.
func (a api) create(path, token, kind string, attrs map[string]any) map[string]any {
	a.t.Helper()
	r := a.do("POST", path, token, map[string]any{kind: attrs})
	if r.Status != 201 {
		a.t.Fatalf("POST %s %v: %d %s, want 201", path, attrs, r.Status, r.Body)
	}
	return r.JSON(a.t)[kind].(map[string]any)
}

// fails checks a refused request: status, NeutronError type and a piece
// of its message.
func (a api) fails(what string, r controllertest.Resp, status int, typ, msg string) {
	a.t.Helper()
	if r.Status != status {
		a.t.Errorf("%s: got %d %s, want %d", what, r.Status, r.Body, status)
		return
	}
	e, ok := r.JSON(a.t)["NeutronError"].(map[string]any)
	if !ok {
		a.t.Errorf("%s: body %s is not a NeutronError", what, r.Body)
		return
	}
	if typ != "" && e["type"] != typ {
		a.t.Errorf("%s: type %v, want %s (%s)", what, e["type"], typ, r.Body)
	}
	if !strings.Contains(fmt.Sprint(e["message"]), msg) {
		a.t.Errorf("%s: message %q, want it to contain %q", what, e["message"], msg)
	}
}

func ids(items []any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.(map[string]any)["id"].(string))
	}
	return out
}

// otherProject makes a project with a member user and returns its token:
// a tenant with no admin role anywhere, for isolation checks.
func otherProject(t *testing.T, tc *controllertest.Cloud, name string) string {
	t.Helper()
	return tc.Token(t, tc.NewProjectMember(t, name), controllertest.MemberPassword, name)
}

// TestNetworksSubnetsPorts walks networks, subnets and ports as Neutron
// answers them: the defaults (a VXLAN segment, a DHCP port taking the
// first address, the default security group on a new port), the admin's
// attributes refused to members, IPAM's refusals (host bits in a CIDR, a
// gateway outside, overlapping subnets, a taken address, an exhausted
// pool), deletes refused while in use with nothing changed, another
// project's resources not found, and the list conventions.
func TestNetworksSubnetsPorts(t *testing.T) {
	tc := controllertest.New(t, nil)
	a := api{t, tc}
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	other := otherProject(t, tc, "net-other")

	if r := tc.Do(t, "GET", "/networking", "", nil); r.Status != 200 || !strings.Contains(string(r.Body), "v2.0") {
		t.Errorf("version document: %d %s", r.Status, r.Body)
	}
	r := a.do("GET", "/extensions", demo, nil)
	var aliases []string
	for _, e := range r.JSON(t)["extensions"].([]any) {
		aliases = append(aliases, e.(map[string]any)["alias"].(string))
	}
	for _, want := range []string{"security-group", "router", "external-net", "provider", "quotas", "port-security", "allowed-address-pairs"} {
		if !strings.Contains(strings.Join(aliases, " "), want) {
			t.Errorf("extensions %v lack %s", aliases, want)
		}
	}
	if r := a.do("GET", "/extensions/dns-integration", demo, nil); r.Status != 404 {
		t.Errorf("an extension not built: %d, want 404", r.Status)
	}

	net := a.create("/networks", demo, "network", map[string]any{"name": "blue"})
	if net["status"] != "ACTIVE" || net["mtu"] != float64(1450) || net["shared"] != false || net["router:external"] != false {
		t.Errorf("new network: %v", net)
	}
	if _, ok := net["provider:network_type"]; ok {
		t.Errorf("a member sees provider attributes: %v", net)
	}
	nid := net["id"].(string)
	shown := a.do("GET", "/networks/"+nid, admin, nil).JSON(t)["network"].(map[string]any)
	if shown["provider:network_type"] != "vxlan" || shown["provider:segmentation_id"] != float64(1) {
		t.Errorf("admin's view of the tenant segment: %v", shown)
	}
	a.fails("member makes a shared network", a.do("POST", "/networks", demo, map[string]any{"network": map[string]any{"shared": true}}),
		403, "PolicyNotAuthorized", "create_network:shared")
	a.fails("member picks a segment", a.do("POST", "/networks", demo, map[string]any{"network": map[string]any{"provider:network_type": "flat"}}),
		403, "PolicyNotAuthorized", "")
	a.fails("unknown attribute", a.do("POST", "/networks", demo, map[string]any{"network": map[string]any{"colour": "red"}}),
		400, "HTTPBadRequest", "Unrecognized attribute(s) 'colour'")
	a.fails("no body", a.do("POST", "/networks", demo, nil), 400, "", "")
	a.fails("flat on an unknown physical network", a.do("POST", "/networks", admin, map[string]any{"network": map[string]any{
		"provider:network_type": "flat", "provider:physical_network": "nowhere"}}), 400, "InvalidInput", "nowhere")
	second := a.create("/networks", admin, "network", map[string]any{"name": "green", "provider:network_type": "vxlan", "provider:segmentation_id": 77})
	a.fails("a VNI twice", a.do("POST", "/networks", admin, map[string]any{"network": map[string]any{
		"provider:network_type": "vxlan", "provider:segmentation_id": 77}}), 409, "TunnelIdInUse", "77")

	// Subnets: the defaults and IPAM's refusals.
	sub := a.create("/subnets", demo, "subnet", map[string]any{"network_id": nid, "cidr": "10.0.0.0/24", "ip_version": 4,
		"dns_nameservers": []string{"192.0.2.53"}})
	if sub["gateway_ip"] != "10.0.0.1" || fmt.Sprint(sub["allocation_pools"]) != "[map[end:10.0.0.254 start:10.0.0.2]]" ||
		sub["enable_dhcp"] != true {
		t.Errorf("new subnet: %v", sub)
	}
	sid := sub["id"].(string)
	for _, c := range []struct {
		what  string
		body  map[string]any
		code  int
		typ   string
		words string
	}{
		{"host bits", map[string]any{"network_id": nid, "cidr": "10.1.0.5/24", "ip_version": 4}, 400, "InvalidInput", "10.1.0.0/24"},
		{"not a CIDR", map[string]any{"network_id": nid, "cidr": "10.1.0.0/33", "ip_version": 4}, 400, "InvalidInput", ""},
		{"gateway outside", map[string]any{"network_id": nid, "cidr": "10.2.0.0/24", "ip_version": 4, "gateway_ip": "10.3.0.1"}, 400, "", "Gateway is not valid"},
		{"overlap on the network", map[string]any{"network_id": nid, "cidr": "10.0.0.128/25", "ip_version": 4}, 400, "InvalidInput", "overlaps"},
		{"pool holds the gateway", map[string]any{"network_id": nid, "cidr": "10.4.0.0/24", "ip_version": 4,
			"allocation_pools": []map[string]string{{"start": "10.4.0.1", "end": "10.4.0.9"}}}, 409, "GatewayConflictWithAllocationPools", ""},
		{"version mismatch", map[string]any{"network_id": nid, "cidr": "fd00::/64", "ip_version": 4}, 400, "InvalidInput", ""},
		{"another project's network", map[string]any{"network_id": second["id"], "cidr": "10.5.0.0/24", "ip_version": 4}, 404, "NetworkNotFound", ""},
	} {
		a.fails(c.what, a.do("POST", "/subnets", demo, map[string]any{"subnet": c.body}), c.code, c.typ, c.words)
	}
	if n := len(a.do("GET", "/subnets", demo, nil).JSON(t)["subnets"].([]any)); n != 1 {
		t.Errorf("refused subnets left %d subnets, want 1", n)
	}
	ports := a.do("GET", "/ports?network_id="+nid, demo, nil).JSON(t)["ports"].([]any)
	if len(ports) != 1 || ports[0].(map[string]any)["device_owner"] != "network:dhcp" ||
		fmt.Sprint(ports[0].(map[string]any)["fixed_ips"]) != fmt.Sprintf("[map[ip_address:10.0.0.2 subnet_id:%s]]", sid) {
		t.Errorf("the DHCP port: %v", ports)
	}

	// Ports: defaults, a chosen address, refusals.
	p1 := a.create("/ports", demo, "port", map[string]any{"network_id": nid, "name": "p1"})
	// A port's address is drawn from the lowest free ones of the pool (as
	// Neutron's IPAM), never the DHCP server's.
	ip1 := p1["fixed_ips"].([]any)[0].(map[string]any)["ip_address"].(string)
	if !strings.HasPrefix(p1["mac_address"].(string), "fa:16:3e:") || p1["status"] != "DOWN" || len(p1["fixed_ips"].([]any)) != 1 ||
		p1["fixed_ips"].([]any)[0].(map[string]any)["subnet_id"] != sid || !strings.HasPrefix(ip1, "10.0.0.") || ip1 == "10.0.0.2" ||
		ip1 == "10.0.0.1" || ip1 == "10.0.0.255" || len(p1["security_groups"].([]any)) != 1 {
		t.Errorf("new port: %v", p1)
	}
	// Addresses asked for below, other than p1's.
	askA, askB := "10.0.0.50", "10.0.0.51"
	if ip1 == askA || ip1 == askB {
		askA, askB = "10.0.0.60", "10.0.0.61"
	}
	groups := a.do("GET", "/security-groups", demo, nil).JSON(t)["security_groups"].([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["name"] != "default" || groups[0].(map[string]any)["id"] != p1["security_groups"].([]any)[0] ||
		len(groups[0].(map[string]any)["security_group_rules"].([]any)) != 4 {
		t.Errorf("the default group: %v", groups)
	}
	p2 := a.create("/ports", demo, "port", map[string]any{"network_id": nid, "fixed_ips": []map[string]string{{"ip_address": askA}}})
	a.fails("a taken address", a.do("POST", "/ports", demo, map[string]any{"port": map[string]any{"network_id": nid,
		"fixed_ips": []map[string]string{{"ip_address": askA}}}}), 409, "IpAddressAlreadyAllocated", askA)
	a.fails("an address off the subnet", a.do("POST", "/ports", demo, map[string]any{"port": map[string]any{"network_id": nid,
		"fixed_ips": []map[string]string{{"subnet_id": sid, "ip_address": "10.9.0.5"}}}}), 400, "InvalidInput", "")
	a.fails("a port on another project's network", a.do("POST", "/ports", other, map[string]any{"port": map[string]any{"network_id": nid}}),
		404, "NetworkNotFound", "")
	a.fails("a bad MAC", a.do("POST", "/ports", demo, map[string]any{"port": map[string]any{"network_id": nid, "mac_address": "01:00:5e:00:00:01"}}),
		400, "InvalidInput", "MAC")
	a.fails("groups without port security", a.do("POST", "/ports", demo, map[string]any{"port": map[string]any{"network_id": nid,
		"port_security_enabled": false, "security_groups": p1["security_groups"]}}), 400, "", "Port security must be enabled")
	a.fails("a member binds a port", a.do("POST", "/ports", demo, map[string]any{"port": map[string]any{"network_id": nid, "binding:host_id": "h"}}),
		403, "PolicyNotAuthorized", "")
	upd := a.do("PUT", "/ports/"+p2["id"].(string), demo, map[string]any{"port": map[string]any{
		"fixed_ips": []map[string]string{{"ip_address": askB}}, "name": "moved"}})
	if upd.Status != 200 || !strings.Contains(string(upd.Body), askB) {
		t.Errorf("move a port's address: %d %s", upd.Status, upd.Body)
	}
	for _, who := range []string{other} {
		for _, path := range []string{"/networks/" + nid, "/subnets/" + sid, "/ports/" + p1["id"].(string)} {
			a.fails("another project GETs "+path, a.do("GET", path, who, nil), 404, "", "could not be found")
			a.fails("another project DELETEs "+path, a.do("DELETE", path, who, nil), 404, "", "could not be found")
		}
	}
	a.fails("delete a network with ports", a.do("DELETE", "/networks/"+nid, demo, nil), 409, "NetworkInUse", nid)
	a.fails("delete a subnet with ports", a.do("DELETE", "/subnets/"+sid, demo, nil), 409, "SubnetInUse", sid)
	if r := a.do("GET", "/networks/"+nid, demo, nil); r.Status != 200 || len(r.JSON(t)["network"].(map[string]any)["subnets"].([]any)) != 1 {
		t.Errorf("a refused delete changed the network: %d %s", r.Status, r.Body)
	}

	// An exhausted pool, with parallel requests for its last addresses:
	// each address goes to exactly one port.
	small := a.create("/networks", demo, "network", map[string]any{"name": "small"})
	a.create("/subnets", demo, "subnet", map[string]any{"network_id": small["id"], "cidr": "192.168.9.0/29", "ip_version": 4,
		"enable_dhcp": false, "allocation_pools": []map[string]string{{"start": "192.168.9.2", "end": "192.168.9.5"}}})
	var mu sync.Mutex
	codes, addrs := map[int]int{}, map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := tc.Do(t, "POST", "/networking/v2.0/ports", demo, map[string]any{"port": map[string]any{"network_id": small["id"]}})
			mu.Lock()
			defer mu.Unlock()
			codes[r.Status]++
			if r.Status == 201 {
				addrs[fmt.Sprint(r.JSON(t)["port"].(map[string]any)["fixed_ips"])]++
			} else if !strings.Contains(string(r.Body), "IpAddressGenerationFailure") {
				t.Errorf("exhausted pool: %d %s", r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	if codes[201] != 4 || codes[409] != 2 || len(addrs) != 4 {
		t.Errorf("six ports on four addresses: codes %v, distinct addresses %d", codes, len(addrs))
	}

	// Lists: filters, fields, sorting and pages.
	r = a.do("GET", "/networks?name=blue&fields=id&fields=name", demo, nil)
	got := r.JSON(t)["networks"].([]any)
	if len(got) != 1 || len(got[0].(map[string]any)) != 2 || got[0].(map[string]any)["id"] != nid {
		t.Errorf("filter and fields: %s", r.Body)
	}
	r = a.do("GET", "/ports?fixed_ips=ip_address%3D"+askB, demo, nil)
	if got := ids(r.JSON(t)["ports"].([]any)); len(got) != 1 || got[0] != p2["id"] {
		t.Errorf("fixed_ips filter: %s", r.Body)
	}
	all := ids(a.do("GET", "/ports?sort_key=id&sort_dir=asc", demo, nil).JSON(t)["ports"].([]any))
	r = a.do("GET", "/ports?sort_key=id&sort_dir=asc&limit=2", demo, nil)
	page := r.JSON(t)
	links := page["ports_links"].([]any)
	next := links[0].(map[string]any)["href"].(string)
	if got := ids(page["ports"].([]any)); len(got) != 2 || got[0] != all[0] || got[1] != all[1] || !strings.Contains(next, "marker="+all[1]) {
		t.Errorf("first page %v (all %v), next %s", got, all, next)
	}
	r = a.do("GET", "/ports?sort_key=id&sort_dir=asc&limit=2&marker="+all[1], demo, nil)
	if got := ids(r.JSON(t)["ports"].([]any)); len(got) != 2 || got[0] != all[2] {
		t.Errorf("second page %v (all %v)", got, all)
	}
	a.fails("bad sort_dir", a.do("GET", "/ports?sort_key=id&sort_dir=up", demo, nil), 400, "", "sort_dir")

	// Clean up in order; then nothing is left of the network.
	for _, p := range ids(a.do("GET", "/ports?network_id="+nid+"&device_owner=", demo, nil).JSON(t)["ports"].([]any)) {
		if r := a.do("DELETE", "/ports/"+p, demo, nil); r.Status != 204 {
			t.Errorf("delete port: %d %s", r.Status, r.Body)
		}
	}
	if r := a.do("DELETE", "/networks/"+nid, demo, nil); r.Status != 204 {
		t.Fatalf("delete network: %d %s", r.Status, r.Body)
	}
	var left int
	if err := tc.Server.Pool().QueryRow(t.Context(), `SELECT (SELECT count(*) FROM subnets WHERE network_id = $1) +
		(SELECT count(*) FROM ports WHERE network_id = $1)`, nid).Scan(&left); err != nil || left != 0 {
		t.Errorf("deleted network left %d subnets and ports (%v)", left, err)
	}
}

// TestConcurrentNetworkCreates: networks made at once by several clients
// all get a segment. Each draws the lowest free VNI; before the retries
// drew among the next free ones, four clients making and deleting
// networks in a loop collided more often than the retries allowed and
// got 409 TunnelIdInUse for a network they never asked a segment of.
func TestConcurrentNetworkCreates(t *testing.T) {
	tc := controllertest.New(t, nil)
	tok := tc.DemoToken(t)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				r := tc.Do(t, "POST", "/networking/v2.0/networks", tok, map[string]any{"network": map[string]any{"name": "race"}})
				if r.Status != 201 {
					t.Errorf("create: %d %s", r.Status, r.Body)
					return
				}
				id := r.JSON(t)["network"].(map[string]any)["id"].(string)
				if r := tc.Do(t, "DELETE", "/networking/v2.0/networks/"+id, tok, nil); r.Status != 204 {
					t.Errorf("delete: %d", r.Status)
				}
			}
		}()
	}
	wg.Wait()
}
