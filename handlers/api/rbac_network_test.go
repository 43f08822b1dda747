package api_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// The Networking API's part of the RBAC matrix: its routes and the
// resources of project home they act on.

// setupNetworking makes home's network, subnet, port, security group and
// rule, router and floating IP, on an external network of the admin's.
func (fx *rbacFixture) setupNetworking(t *testing.T) {
	tc := fx.tc
	fx.net = map[string]string{}
	// Every call below may use a resource up: home's network quotas lifted.
	if r := tc.Do(t, "PUT", "/networking/v2.0/quotas/"+fx.home, fx.admin, map[string]any{"quota": map[string]any{
		"network": -1, "subnet": -1, "port": -1, "router": -1, "floatingip": -1, "security_group": -1, "security_group_rule": -1}}); r.Status != 200 {
		t.Fatalf("home network quotas: %d %s", r.Status, r.Body)
	}
	fx.net["public"] = fx.neutron(t, fx.admin, "networks", "network", map[string]any{"name": "rbac-public", "router:external": true})
	fx.neutron(t, fx.admin, "subnets", "subnet", map[string]any{"network_id": fx.net["public"], "cidr": "172.31.0.0/16", "ip_version": 4, "enable_dhcp": false})
	for _, what := range []string{"network", "subnet", "port", "secgroup", "rule", "router", "fip"} {
		fx.net[what] = fx.makeNetworking(t, what)
	}
}

// neutron POSTs a resource as tok and returns its id.
func (fx *rbacFixture) neutron(t *testing.T, tok, collection, kind string, attrs map[string]any) string {
	t.Helper()
	r := fx.tc.Do(t, "POST", "/networking/v2.0/"+collection, tok, map[string]any{kind: attrs})
	if r.Status != 201 {
		t.Fatalf("create %s: %d %s", kind, r.Status, r.Body)
	}
	return r.JSON(t)[kind].(map[string]any)["id"].(string)
}

// makeNetworking makes one networking resource of home, as its member
// ("" for what it does not know).
func (fx *rbacFixture) makeNetworking(t *testing.T, what string) string {
	t.Helper()
	member := fx.tc.Token(t, "rbac-member", "member-pw-1", "home")
	fx.n++
	switch what {
	case "network":
		return fx.neutron(t, member, "networks", "network", map[string]any{"name": fmt.Sprintf("rbac-net-%d", fx.n)})
	case "subnet":
		net := fx.neutron(t, member, "networks", "network", map[string]any{"name": fmt.Sprintf("rbac-subnet-net-%d", fx.n)})
		return fx.neutron(t, member, "subnets", "subnet", map[string]any{"network_id": net, "cidr": "10.99.0.0/24", "ip_version": 4})
	case "port":
		net := fx.net["network"]
		if net == "" { // the fixture's own port, made before its network is known
			net = fx.makeNetworking(t, "network")
			fx.net["network"] = net
			fx.neutron(t, member, "subnets", "subnet", map[string]any{"network_id": net, "cidr": "10.98.0.0/24", "ip_version": 4})
		}
		return fx.neutron(t, member, "ports", "port", map[string]any{"network_id": net})
	case "secgroup":
		return fx.neutron(t, member, "security-groups", "security_group", map[string]any{"name": fmt.Sprintf("rbac-sg-%d", fx.n)})
	case "rule":
		sg := fx.net["secgroup"]
		if sg == "" {
			sg = fx.makeNetworking(t, "secgroup")
			fx.net["secgroup"] = sg
		}
		return fx.neutron(t, member, "security-group-rules", "security_group_rule", map[string]any{"security_group_id": sg,
			"direction": "ingress", "protocol": "tcp", "port_range_min": 1000 + fx.n, "port_range_max": 1000 + fx.n})
	case "router":
		return fx.neutron(t, member, "routers", "router", map[string]any{"name": fmt.Sprintf("rbac-router-%d", fx.n)})
	case "fip":
		return fx.neutron(t, member, "floatingips", "floatingip", map[string]any{"floating_network_id": fx.net["public"]})
	}
	return ""
}

// networkingRoutes are the Networking API's matrix entries.
func networkingRoutes() map[string]rbacRoute {
	js := func(k string, v any) map[string]any { return map[string]any{k: v} }
	const v2 = "/networking/v2.0"
	routes := map[string]rbacRoute{
		// The metadata service: its callers are guests, through the
		// agents' signing proxies; the signature is checked, not a token.
		"GET /compute/v2.1/servers/:id/ips":                   {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/ips", deny: 404},
		"GET /compute/v2.1/servers/:id/ips/:network":          {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/ips/none", deny: 404},
		"GET /compute/v2.1/servers/:id/os-security-groups":    {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/os-security-groups", deny: 404},
		"GET /compute/v2.1/servers/:id/os-interface":          {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/os-interface", deny: 404},
		"GET /compute/v2.1/servers/:id/os-interface/:port":    {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/os-interface/{port}", deny: 404},
		"POST /compute/v2.1/servers/:id/os-interface":         {op: policy.ServerAction, on: "home", path: "/compute/v2.1/servers/{server}/os-interface", body: map[string]any{"interfaceAttachment": map[string]any{"net_id": "{network}"}}},
		"DELETE /compute/v2.1/servers/:id/os-interface/:port": {op: policy.ServerAction, on: "home", path: "/compute/v2.1/servers/{server}/os-interface/{port}"},
		"GET /metadata":                                {op: opPublic, path: "/metadata"},
		"GET /metadata/*":                              {op: opPublic, path: "/metadata/openstack/latest/meta_data.json"},
		"GET /networking":                              {op: opPublic, path: "/networking"},
		"GET /networking/":                             {op: opPublic, path: "/networking/"},
		"GET /networking/v2.0/":                        {op: opPublic, path: v2 + "/"},
		"GET /networking/v2.0/extensions":              {op: opToken, path: v2 + "/extensions"},
		"GET /networking/v2.0/extensions/:alias":       {op: opToken, path: v2 + "/extensions/router"},
		"GET /networking/v2.0/quotas":                  {op: policy.UpdateNetworkQuota, path: v2 + "/quotas"},
		"GET /networking/v2.0/quotas/:project":         {op: policy.GetNetworkQuota, on: "home", path: v2 + "/quotas/{home}", deny: 404},
		"GET /networking/v2.0/quotas/:project/details": {op: policy.GetNetworkQuota, on: "home", path: v2 + "/quotas/{home}/details", deny: 404},
		"GET /networking/v2.0/quotas/:project/default": {op: policy.GetNetworkQuota, on: "home", path: v2 + "/quotas/{home}/default", deny: 404},
		"PUT /networking/v2.0/quotas/:project":         {op: policy.UpdateNetworkQuota, path: v2 + "/quotas/{home}", body: js("quota", map[string]any{"network": -1})},
		"DELETE /networking/v2.0/quotas/:project":      {op: policy.UpdateNetworkQuota, path: v2 + "/quotas/{away}"},
		"PUT /networking/v2.0/routers/:id/add_router_interface": {op: policy.AddRouterInterface, on: "home",
			path: v2 + "/routers/{router}/add_router_interface", fresh: []string{"router", "subnet"}, body: map[string]any{"subnet_id": "{subnet}"}},
		"PUT /networking/v2.0/routers/:id/remove_router_interface": {op: policy.RemoveRouterInterface, on: "home",
			path: v2 + "/routers/{router}/remove_router_interface", body: map[string]any{"subnet_id": "{subnet}"}},
	}
	// The portal's networking pages.
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for k, r := range map[string]rbacRoute{
		"GET /project/networks":                         {op: policy.GetNetwork, on: "own", path: "/project/networks"},
		"POST /project/networks":                        {op: policy.CreateNetwork, on: "own", path: "/project/networks", body: form("name", "rbac")},
		"GET /project/networks/:id":                     {op: policy.GetNetwork, on: "home", path: "/project/networks/{network}", deny: 404},
		"POST /project/networks/:id/delete":             {op: policy.DeleteNetwork, on: "home", path: "/project/networks/{network}/delete", fresh: []string{"network"}},
		"POST /project/networks/:id/subnets":            {op: policy.CreateSubnet, on: "home", path: "/project/networks/{network}/subnets", body: form("cidr", "10.96.0.0/24")},
		"POST /project/subnets/:id/delete":              {op: policy.DeleteSubnet, on: "home", path: "/project/subnets/{subnet}/delete", fresh: []string{"subnet"}},
		"GET /project/routers":                          {op: policy.GetRouter, on: "own", path: "/project/routers"},
		"POST /project/routers":                         {op: policy.CreateRouter, on: "own", path: "/project/routers", body: form("name", "rbac")},
		"GET /project/routers/:id":                      {op: policy.GetRouter, on: "home", path: "/project/routers/{router}", deny: 404},
		"POST /project/routers/:id/delete":              {op: policy.DeleteRouter, on: "home", path: "/project/routers/{router}/delete", fresh: []string{"router"}},
		"POST /project/routers/:id/gateway":             {op: policy.UpdateRouter, on: "home", path: "/project/routers/{router}/gateway", body: form("external", "")},
		"POST /project/routers/:id/interfaces":          {op: policy.AddRouterInterface, on: "home", path: "/project/routers/{router}/interfaces", body: form("subnet", "")},
		"POST /project/routers/:id/interfaces/remove":   {op: policy.RemoveRouterInterface, on: "home", path: "/project/routers/{router}/interfaces/remove", body: form("port", "")},
		"GET /project/security_groups":                  {op: policy.GetSecurityGroup, on: "own", path: "/project/security_groups"},
		"POST /project/security_groups":                 {op: policy.CreateSecurityGroup, on: "own", path: "/project/security_groups", body: form("name", "rbac")},
		"GET /project/security_groups/:id":              {op: policy.GetSecurityGroup, on: "home", path: "/project/security_groups/{secgroup}", deny: 404},
		"POST /project/security_groups/:id/delete":      {op: policy.DeleteSecurityGroup, on: "home", path: "/project/security_groups/{secgroup}/delete", fresh: []string{"secgroup"}},
		"POST /project/security_groups/:id/rules":       {op: policy.CreateSecurityRule, on: "home", path: "/project/security_groups/{secgroup}/rules", body: form("preset", "icmp")},
		"POST /project/security_group_rules/:id/delete": {op: policy.DeleteSecurityRule, on: "home", path: "/project/security_group_rules/{rule}/delete", fresh: []string{"rule"}},
		"GET /project/floating_ips":                     {op: policy.GetFloatingIP, on: "own", path: "/project/floating_ips"},
		"POST /project/floating_ips":                    {op: policy.CreateFloatingIP, on: "own", path: "/project/floating_ips", body: form("pool", "")},
		"POST /project/floating_ips/:id/associate":      {op: policy.UpdateFloatingIP, on: "home", path: "/project/floating_ips/{fip}/associate", body: form("port", "")},
		"POST /project/floating_ips/:id/disassociate":   {op: policy.UpdateFloatingIP, on: "home", path: "/project/floating_ips/{fip}/disassociate"},
		"POST /project/floating_ips/:id/release":        {op: policy.DeleteFloatingIP, on: "home", path: "/project/floating_ips/{fip}/release", fresh: []string{"fip"}},
		"GET /project/network_topology":                 {op: policy.GetNetwork, on: "own", path: "/project/network_topology"},
		"POST /project/instances/:id/floating_ip":       {op: policy.ServerAction, on: "home", path: "/project/instances/{server}/floating_ip", body: form("floating", "")},
		"GET /admin/networks":                           {op: policy.ViewAdmin, path: "/admin/networks"},
		"POST /admin/networks":                          {op: policy.ViewAdmin, path: "/admin/networks", body: form("name", "rbac-provider", "type", "local")},
		"POST /admin/networks/:id/delete":               {op: policy.ViewAdmin, path: "/admin/networks/{network}/delete", fresh: []string{"network"}},
	} {
		routes[k] = r
	}
	// The collections: list and create in the caller's project; show,
	// update and delete home's (delete on a fresh one each call).
	for _, c := range []struct {
		path, kind, placeholder  string
		get, create, update, del policy.Op
		body, change             map[string]any
	}{
		{"networks", "network", "network", policy.GetNetwork, policy.CreateNetwork, policy.UpdateNetwork, policy.DeleteNetwork,
			map[string]any{"name": "rbac"}, map[string]any{"name": "renamed"}},
		{"subnets", "subnet", "subnet", policy.GetSubnet, policy.CreateSubnet, policy.UpdateSubnet, policy.DeleteSubnet,
			map[string]any{"network_id": "{network}", "cidr": "10.97.0.0/24", "ip_version": 4}, map[string]any{"name": "renamed"}},
		{"ports", "port", "port", policy.GetPort, policy.CreatePort, policy.UpdatePort, policy.DeletePort,
			map[string]any{"network_id": "{network}"}, map[string]any{"name": "renamed"}},
		{"security-groups", "security_group", "secgroup", policy.GetSecurityGroup, policy.CreateSecurityGroup, policy.UpdateSecurityGroup,
			policy.DeleteSecurityGroup, map[string]any{"name": "rbac"}, map[string]any{"description": "changed"}},
		{"security-group-rules", "security_group_rule", "rule", policy.GetSecurityRule, policy.CreateSecurityRule, "", policy.DeleteSecurityRule,
			map[string]any{"security_group_id": "{secgroup}", "direction": "egress", "protocol": "udp"}, nil},
		{"routers", "router", "router", policy.GetRouter, policy.CreateRouter, policy.UpdateRouter, policy.DeleteRouter,
			map[string]any{"name": "rbac"}, map[string]any{"name": "renamed"}},
		{"floatingips", "floatingip", "fip", policy.GetFloatingIP, policy.CreateFloatingIP, policy.UpdateFloatingIP, policy.DeleteFloatingIP,
			map[string]any{"floating_network_id": "{public}"}, map[string]any{"description": "changed"}},
	} {
		p := v2 + "/" + c.path
		routes["GET "+p] = rbacRoute{op: c.get, on: "own", path: p}
		routes["POST "+p] = rbacRoute{op: c.create, on: "own", path: p, body: js(c.kind, c.body)}
		routes["GET "+p+"/:id"] = rbacRoute{op: c.get, on: "home", path: p + "/{" + c.placeholder + "}", deny: 404}
		if c.update != "" {
			routes["PUT "+p+"/:id"] = rbacRoute{op: c.update, on: "home", path: p + "/{" + c.placeholder + "}", body: js(c.kind, c.change)}
		}
		routes["DELETE "+p+"/:id"] = rbacRoute{op: c.del, on: "home", path: p + "/{" + c.placeholder + "}", fresh: []string{c.placeholder}}
	}
	return routes
}
