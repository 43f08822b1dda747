package portal_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestPortalNetworking walks Project > Networks, Routers, Security Groups,
// Floating IPs and Network Topology as a member would: a network made
// with its subnet in one form (a refused subnet takes the network back),
// a router with the cloud's external gateway and an interface on the
// subnet, a security group with the SSH preset and a custom port (a bad
// port is a message), a floating IP allocated and associated with an
// instance's address, the topology drawing all of it, and the pages in
// Chinese.
func TestPortalNetworking(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_PUBLIC_NETWORK": "172.24.4.0/24"})
	tc.StartAgent(t, "pn-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	b := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, b.Login("demo", tc.DemoPass))
	post := func(path string, form url.Values) string {
		t.Helper()
		form.Set("_csrf", tok)
		p := b.Post(path, form)
		if p.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", path, p.Status, p.Body)
		}
		return p.Location
	}
	neutron := func(path string) []any {
		t.Helper()
		r := tc.Do(t, "GET", "/networking/v2.0/"+path, demo, nil)
		for _, v := range r.JSON(t) {
			if l, ok := v.([]any); ok {
				return l
			}
		}
		t.Fatalf("GET %s: %s", path, r.Body)
		return nil
	}

	// Networks.
	post("/project/networks", url.Values{"name": {"bad"}, "cidr": {"10.9.0.5/24"}, "dhcp": {"on"}})
	if page := b.Get("/project/networks").Body; !strings.Contains(page, "10.9.0.0/24") || strings.Contains(page, `data-testid="network-row-bad"`) {
		t.Errorf("a refused subnet: the message should name the network address and the network should be gone")
	}
	next := post("/project/networks", url.Values{"name": {"blue"}, "cidr": {"10.50.0.0/24"}, "dns": {"192.0.2.53"}, "dhcp": {"on"}})
	nets := neutron("networks?name=blue")
	if len(nets) != 1 || len(nets[0].(map[string]any)["subnets"].([]any)) != 1 {
		t.Fatalf("networks after the form: %v", nets)
	}
	nid := nets[0].(map[string]any)["id"].(string)
	if next != "/project/networks/"+nid {
		t.Errorf("after creating, went to %q", next)
	}
	detail := b.Get(next).Body
	if !strings.Contains(detail, `data-testid="subnet-row-10.50.0.0/24"`) || !strings.Contains(detail, "10.50.0.2") {
		t.Errorf("network detail lacks the subnet or the DHCP port:\n%s", detail)
	}
	sub := neutron("subnets?network_id=" + nid)[0].(map[string]any)

	// Routers.
	pub := neutron("networks?name=public")[0].(map[string]any)["id"].(string)
	rnext := post("/project/routers", url.Values{"name": {"r1"}, "external": {pub}})
	routers := neutron("routers?name=r1")
	if len(routers) != 1 || routers[0].(map[string]any)["external_gateway_info"] == nil {
		t.Fatalf("routers after the form: %v", routers)
	}
	rid := routers[0].(map[string]any)["id"].(string)
	if page := b.Get(rnext).Body; !strings.Contains(page, sub["id"].(string)) {
		t.Errorf("the router page does not offer the subnet for an interface")
	}
	post("/project/routers/"+rid+"/interfaces", url.Values{"subnet": {sub["id"].(string)}})
	if page := b.Get(rnext).Body; !strings.Contains(page, `data-testid="interface-row-10.50.0.1"`) {
		t.Errorf("the router's interface is not listed")
	}
	if page := b.Get("/project/routers").Body; !strings.Contains(page, `data-testid="router-interfaces-r1">1<`) {
		t.Errorf("the routers list does not count r1's interface")
	}

	// Security groups: presets and a custom rule.
	gnext := post("/project/security_groups", url.Values{"name": {"web"}, "description": {"front ends"}})
	groups := neutron("security-groups?name=web")
	gid := groups[0].(map[string]any)["id"].(string)
	post("/project/security_groups/"+gid+"/rules", url.Values{"preset": {"ssh"}, "direction": {"ingress"}})
	post("/project/security_groups/"+gid+"/rules", url.Values{"preset": {"tcp"}, "port": {"8000-8100"}, "cidr": {"198.51.100.0/24"}})
	post("/project/security_groups/"+gid+"/rules", url.Values{"preset": {"tcp"}, "port": {"99999"}})
	if page := b.Get(gnext); !strings.Contains(page.Body, "1-65535") {
		t.Errorf("a bad port shows no message")
	}
	rules := fmt.Sprint(neutron("security-group-rules?security_group_id=" + gid))
	if !strings.Contains(rules, "port_range_max:22 port_range_min:22") || !strings.Contains(rules, "port_range_max:8100 port_range_min:8000") ||
		!strings.Contains(rules, "remote_ip_prefix:198.51.100.0/24") {
		t.Errorf("rules after the editor: %s", rules)
	}
	post("/project/security_groups/"+gid+"/rules", url.Values{"preset": {"ssh"}, "direction": {"ingress"}})
	if page := b.Get(gnext).Body; !strings.Contains(page, "already exists") {
		t.Errorf("a duplicate rule shows no message")
	}

	// Floating IPs: allocate, associate to an instance's address, disassociate.
	r := tc.CreateServer(t, demo, map[string]any{"name": "vm", "flavorRef": "1", "imageRef": tc.ActiveImage(t),
		"networks": []map[string]any{{"uuid": nid}}})
	vm := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, vm, "ACTIVE", time.Minute)
	post("/project/floating_ips", url.Values{"pool": {pub}})
	fips := neutron("floatingips")
	if len(fips) != 1 {
		t.Fatalf("floating IPs after allocating: %v", fips)
	}
	fid, addr := fips[0].(map[string]any)["id"].(string), fips[0].(map[string]any)["floating_ip_address"].(string)
	page := b.Get("/project/floating_ips").Body
	port := neutron("ports?device_id=" + vm)[0].(map[string]any)["id"].(string)
	if !strings.Contains(page, `data-testid="fip-row-`+addr+`"`) || !strings.Contains(page, port) {
		t.Fatalf("the floating IP page lacks the address or the instance's port")
	}
	post("/project/floating_ips/"+fid+"/associate", url.Values{"port": {port}})
	if f := neutron("floatingips")[0].(map[string]any); f["port_id"] != port || f["router_id"] != rid {
		t.Errorf("after associating: %v", f)
	}
	if page := b.Get("/project/floating_ips").Body; !strings.Contains(page, "vm: 10.50.0.") {
		t.Errorf("the floating IP's row does not say where it is mapped")
	}

	// The topology draws the networks, the router and the instance.
	topo := b.Get("/project/network_topology").Body
	for _, want := range []string{`data-testid="topo-network-blue"`, `data-testid="topo-network-public"`, `data-testid="topo-router-r1"`, `data-testid="topo-instance-vm"`, "<svg",
		">10.50.0.1<"} { // the router's interface on blue, labelled
		if !strings.Contains(topo, want) {
			t.Errorf("topology lacks %s", want)
		}
	}
	post("/project/floating_ips/"+fid+"/disassociate", url.Values{})
	if f := neutron("floatingips")[0].(map[string]any); f["port_id"] != nil {
		t.Errorf("after disassociating: %v", f)
	}
	post("/project/floating_ips/"+fid+"/release", url.Values{})
	if n := len(neutron("floatingips")); n != 0 {
		t.Errorf("%d floating IPs after releasing", n)
	}

	// The launch dialog offers the networks and groups; the instance page
	// shows addresses and groups and associates a new floating IP.
	launch := b.Get("/project/instances/launch").Body
	if !strings.Contains(launch, `data-testid="launch-network-blue"`) || !strings.Contains(launch, `data-testid="launch-secgroup-web"`) {
		t.Fatalf("the launch dialog lacks the network or the group")
	}
	img := tc.ActiveImage(t)
	form := url.Values{"name": {"portal-vm"}, "image": {img}, "flavor": {"1"}, "count": {"1"}, "networks": {nid},
		"security_groups": {"web"}}
	post("/project/instances", form)
	var pvm string
	for _, s := range tc.Do(t, "GET", "/compute/v2.1/servers?name=portal-vm", demo, nil).JSON(t)["servers"].([]any) {
		pvm = s.(map[string]any)["id"].(string)
	}
	tc.WaitStatus(t, demo, pvm, "ACTIVE", time.Minute)
	page = b.Get("/project/instances/" + pvm).Body
	if !strings.Contains(page, `data-testid="detail-nic-blue"`) || !strings.Contains(page, "10.50.0.") ||
		!strings.Contains(between(page, `data-testid="detail-secgroups"`, "</dd>"), "web") {
		t.Errorf("the instance page lacks its address or group:\n%s", between(page, `data-testid="detail-addresses"`, "</form>"))
	}
	pport := neutron("ports?device_id=" + pvm)[0].(map[string]any)["id"].(string)
	post("/project/instances/"+pvm+"/floating_ip", url.Values{"floating": {"new:" + pub}, "port": {pport}})
	if page := b.Get("/project/instances/" + pvm).Body; !strings.Contains(page, `data-testid="detail-floating-blue"`) {
		t.Errorf("the instance page shows no floating IP after associating one")
	}

	// In Chinese.
	req, _ := http.NewRequest("GET", tc.URL+"/project/security_groups/"+gid, nil)
	req.Header.Set("Accept-Language", "zh-CN")
	if p := b.Do(req); !strings.Contains(p.Body, "添加规则") || !strings.Contains(p.Body, "入口") {
		t.Errorf("the security group page in zh-CN is not Chinese")
	}
}

// TestPortalNetworkQuotas: Admin > Quotas edits a project's network
// limits beside its compute ones, and the API agrees.
func TestPortalNetworkQuotas(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin := tc.AdminToken(t)
	demoID := tc.Do(t, "GET", "/identity/v3/projects?name=demo", admin, nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)
	b := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, b.Login("admin", tc.AdminPass))
	page := b.Get("/admin/quotas/" + demoID)
	for _, f := range []string{"field-instances", "field-floatingip", "field-security_group_rule"} {
		if !strings.Contains(page.Body, `data-testid="`+f+`"`) {
			t.Errorf("the quota form lacks %s", f)
		}
	}
	form := url.Values{"_csrf": {tok}}
	for _, k := range []string{"instances", "cores", "ram", "key_pairs", "metadata_items", "server_groups", "server_group_members"} {
		form.Set(k, "10")
	}
	form.Set("ram", "51200")
	form.Set("metadata_items", "128")
	for _, k := range []string{"network", "subnet", "port", "router", "security_group", "security_group_rule"} {
		form.Set(k, "20")
	}
	form.Set("floatingip", "7")
	if p := b.Post("/admin/quotas/"+demoID, form); p.Status != http.StatusSeeOther {
		t.Fatalf("save quotas: %d %s", p.Status, p.Body)
	}
	q := tc.Do(t, "GET", "/networking/v2.0/quotas/"+demoID, admin, nil).JSON(t)["quota"].(map[string]any)
	if q["floatingip"] != float64(7) || q["router"] != float64(20) {
		t.Errorf("network quotas after the form: %v", q)
	}
	form.Set("floatingip", "-5")
	if p := b.Post("/admin/quotas/"+demoID, form); p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, `data-testid="error-floatingip"`) {
		t.Errorf("a bad network limit: %d", p.Status)
	}

	// Admin > Networks makes a provider external network with its subnet.
	nf := url.Values{"_csrf": {tok}, "name": {"ext"}, "type": {"flat"}, "physical_network": {"public"}, "external": {"on"},
		"cidr": {"198.51.100.0/24"}}
	if p := b.Post("/admin/networks", nf); p.Status != http.StatusSeeOther {
		t.Fatalf("admin network: %d %s", p.Status, p.Body)
	}
	nets := tc.Do(t, "GET", "/networking/v2.0/networks?name=ext", admin, nil).JSON(t)["networks"].([]any)
	if len(nets) != 1 || nets[0].(map[string]any)["router:external"] != true || nets[0].(map[string]any)["provider:network_type"] != "flat" {
		t.Fatalf("the provider network: %v", nets)
	}
	sub := tc.Do(t, "GET", "/networking/v2.0/subnets?network_id="+nets[0].(map[string]any)["id"].(string), admin, nil).JSON(t)["subnets"].([]any)
	if len(sub) != 1 || sub[0].(map[string]any)["enable_dhcp"] != false {
		t.Errorf("the provider network's subnet: %v", sub)
	}
	if list := b.Get("/admin/networks").Body; !strings.Contains(list, `data-testid="admin-network-row-ext"`) {
		t.Error("Admin > Networks does not list it")
	}
	nf.Set("name", "ext2") // a second flat network on public: refused, said
	if p := b.Post("/admin/networks", nf); p.Status != http.StatusSeeOther || !strings.Contains(b.Get("/admin/networks").Body, "public") {
		t.Errorf("a refused provider network: %d", p.Status)
	}
	if p := b.Post("/admin/networks/"+nets[0].(map[string]any)["id"].(string)+"/delete", url.Values{"_csrf": {tok}}); p.Status != http.StatusSeeOther {
		t.Errorf("delete: %d", p.Status)
	}
	if n := len(tc.Do(t, "GET", "/networking/v2.0/networks?name=ext", admin, nil).JSON(t)["networks"].([]any)); n != 0 {
		t.Errorf("%d networks named ext after deleting", n)
	}
}
