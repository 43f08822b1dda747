package portal

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/views"
)

// Project > Networks, Routers, Security Groups and Floating IPs: the
// networking service's resources, through the same service the Neutron
// API uses (its rules, quotas and refusals).

func (h *Handler) registerNetworks(g fiber.Router) {
	g.Get("/networks", h.networkList)
	g.Post("/networks", h.networkCreate)
	g.Get("/networks/:id", h.networkDetail)
	g.Post("/networks/:id/delete", h.networkDelete)
	g.Post("/networks/:id/subnets", h.subnetCreate)
	g.Post("/subnets/:id/delete", h.subnetDelete)
	g.Get("/routers", h.routerList)
	g.Post("/routers", h.routerCreate)
	g.Get("/routers/:id", h.routerDetail)
	g.Post("/routers/:id/delete", h.routerDelete)
	g.Post("/routers/:id/gateway", h.routerGateway)
	g.Post("/routers/:id/interfaces", h.routerAddInterface)
	g.Post("/routers/:id/interfaces/remove", h.routerRemoveInterface)
	g.Get("/security_groups", h.groupList)
	g.Post("/security_groups", h.groupCreate)
	g.Get("/security_groups/:id", h.groupDetail)
	g.Post("/security_groups/:id/delete", h.groupDelete)
	g.Post("/security_groups/:id/rules", h.ruleCreate)
	g.Post("/security_group_rules/:id/delete", h.ruleDelete)
	g.Get("/floating_ips", h.floatingList)
	g.Post("/floating_ips", h.floatingAllocate)
	g.Post("/floating_ips/:id/associate", h.floatingAssociate)
	g.Post("/floating_ips/:id/disassociate", h.floatingDisassociate)
	g.Post("/floating_ips/:id/release", h.floatingRelease)
	g.Get("/network_topology", h.topology)
	g.Post("/instances/:id/floating_ip", h.instanceFloatingIP)
}

// netDone flashes the outcome of a networking change and goes to back:
// what the user can fix (bad input, a conflict, a quota) is said; a
// refusal, something not found and an outage are the error page's.
func (h *Handler) netDone(c *fiber.Ctx, err error, back, okKey string, args ...any) error {
	var v *fault.Validation
	var ne *network.Error
	switch {
	case err == nil:
		h.flash(c, "ok", okKey, args...)
	case errors.Is(err, fault.ErrForbidden), errors.Is(err, fault.ErrNotFound), fault.IsUnavailable(err):
		return err // the error page, with its status
	case errors.As(err, &v), errors.As(err, &ne), errors.Is(err, fault.ErrConflict):
		h.flash(c, "error", "net.refused", refusal(err))
	default:
		return err
	}
	return c.Redirect(back, fiber.StatusSeeOther)
}

// refusal is an error's message without the sentinel suffixes.
func refusal(err error) string {
	msg := err.Error()
	for _, s := range []error{fault.ErrNotFound, fault.ErrConflict, fault.ErrForbidden} {
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	return msg
}

func ptr[T any](v T) *T { return &v }

func (h *Handler) networkRows(c *fiber.Ctx) ([]views.NetworkRow, map[string]model.Subnet, error) {
	tok := api.Token(c)
	nets, err := h.cfg.Network.Networks(c.UserContext(), tok)
	if err != nil {
		return nil, nil, err
	}
	subnets, err := h.cfg.Network.Subnets(c.UserContext(), tok)
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]model.Subnet{}
	for _, s := range subnets {
		byID[s.ID] = s
	}
	var rows []views.NetworkRow
	for _, n := range nets {
		r := views.NetworkRow{ID: n.ID, Name: n.Name, Status: upDown(n.AdminStateUp), Shared: n.Shared, External: n.External,
			Own: n.ProjectID == tok.ProjectID}
		for _, s := range n.Subnets {
			r.Subnets = append(r.Subnets, byID[s].CIDR)
		}
		rows = append(rows, r)
	}
	return rows, byID, nil
}

func upDown(up bool) string {
	if up {
		return "ACTIVE"
	}
	return "DOWN"
}

func (h *Handler) networkList(c *fiber.Ctx) error {
	rows, _, err := h.networkRows(c)
	if err != nil {
		return err
	}
	return render(c, views.NetworkListPage(views.NetworkList{Page: h.page(c, "networks", "net.title"), Networks: rows}))
}

// networkCreate makes a network and, when a CIDR is given, its subnet;
// a refused subnet takes the network back, so nothing is half made.
func (h *Handler) networkCreate(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	name, cidr := strings.TrimSpace(c.FormValue("name")), strings.TrimSpace(c.FormValue("cidr"))
	n, err := h.cfg.Network.CreateNetwork(ctx, tok, network.NetworkInput{Name: &name})
	if err != nil || cidr == "" {
		return h.netDone(c, err, "/project/networks", "net.created_flash", name)
	}
	if _, err := h.cfg.Network.CreateSubnet(ctx, tok, subnetInput(c, n.ID, name+"-subnet", cidr, true)); err != nil {
		if derr := h.cfg.Network.DeleteNetwork(ctx, tok, n.ID); derr != nil {
			h.log.Warn("take back a network whose subnet was refused", "network_id", n.ID, "error", derr)
		}
		return h.netDone(c, err, "/project/networks", "")
	}
	return h.netDone(c, nil, "/project/networks/"+n.ID, "net.created_flash", name)
}

// subnetInput reads a subnet form: CIDR, gateway (empty: the first
// address), DNS servers (comma-separated), DHCP.
// dhcpBox says the form has the DHCP checkbox (unchecked: DHCP off).
func subnetInput(c *fiber.Ctx, networkID, name, cidr string, dhcpBox bool) network.SubnetInput {
	in := network.SubnetInput{Name: &name, NetworkID: &networkID, CIDR: &cidr, IPVersion: ptr(4)}
	if strings.Contains(cidr, ":") {
		in.IPVersion = ptr(6)
	}
	if gw := strings.TrimSpace(c.FormValue("gateway")); gw != "" {
		in.GatewayIP = network.GatewayOf(gw)
	}
	if dns := strings.TrimSpace(c.FormValue("dns")); dns != "" {
		var list []string
		for _, d := range strings.Split(dns, ",") {
			if d = strings.TrimSpace(d); d != "" {
				list = append(list, d)
			}
		}
		in.DNS = &list
	}
	if dhcpBox && c.FormValue("dhcp") != "on" {
		in.EnableDHCP = ptr(false)
	}
	return in
}

func (h *Handler) networkDetail(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	n, err := h.cfg.Network.Network(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	v := views.NetworkDetail{Page: h.page(c, "networks", "net.detail_title", n.Name),
		Network: views.NetworkRow{ID: n.ID, Name: n.Name, Status: upDown(n.AdminStateUp), Shared: n.Shared, External: n.External,
			Own: n.ProjectID == tok.ProjectID}}
	for _, id := range n.Subnets {
		s, err := h.cfg.Network.Subnet(ctx, tok, id)
		if err != nil {
			continue
		}
		var pools []string
		for _, p := range s.Pools {
			pools = append(pools, p.Start+" – "+p.End)
		}
		v.Subnets = append(v.Subnets, views.SubnetRow{ID: s.ID, Name: s.Name, CIDR: s.CIDR, Gateway: s.GatewayIP,
			Pools: strings.Join(pools, ", "), DHCP: s.EnableDHCP})
	}
	ports, err := h.cfg.Network.Ports(ctx, tok, storePortFilter(n.ID, ""))
	if err != nil {
		return err
	}
	for _, p := range ports {
		v.Ports = append(v.Ports, portRow(p))
	}
	return render(c, views.NetworkDetailPage(v))
}

func portRow(p model.Port) views.PortRow {
	var ips []string
	for _, f := range p.FixedIPs {
		ips = append(ips, f.IPAddress)
	}
	return views.PortRow{ID: p.ID, Name: p.Name, MAC: p.MACAddress, IPs: strings.Join(ips, ", "), Owner: p.DeviceOwner,
		Device: p.DeviceID, Status: p.Status}
}

func (h *Handler) networkDelete(c *fiber.Ctx) error {
	err := h.cfg.Network.DeleteNetwork(c.UserContext(), api.Token(c), api.Param(c, "id"))
	return h.netDone(c, err, "/project/networks", "net.deleted_flash")
}

func (h *Handler) subnetCreate(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	name, cidr := strings.TrimSpace(c.FormValue("name")), strings.TrimSpace(c.FormValue("cidr"))
	_, err := h.cfg.Network.CreateSubnet(c.UserContext(), api.Token(c), subnetInput(c, id, name, cidr, false))
	return h.netDone(c, err, "/project/networks/"+id, "net.subnet_created_flash", cidr)
}

func (h *Handler) subnetDelete(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	s, err := h.cfg.Network.Subnet(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	err = h.cfg.Network.DeleteSubnet(ctx, tok, s.ID)
	return h.netDone(c, err, "/project/networks/"+s.NetworkID, "net.subnet_deleted_flash")
}

// externalNetworks are the networks a gateway or floating IP may use.
func (h *Handler) externalNetworks(c *fiber.Ctx) ([]views.Ref, map[string]string, error) {
	nets, err := h.cfg.Network.Networks(c.UserContext(), api.Token(c))
	if err != nil {
		return nil, nil, err
	}
	var out []views.Ref
	names := map[string]string{}
	for _, n := range nets {
		names[n.ID] = n.Name
		if n.External {
			out = append(out, views.Ref{ID: n.ID, Name: n.Name})
		}
	}
	return out, names, nil
}

func (h *Handler) routerList(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	rs, err := h.cfg.Network.Routers(ctx, tok)
	if err != nil {
		return err
	}
	ext, names, err := h.externalNetworks(c)
	if err != nil {
		return err
	}
	v := views.RouterList{Page: h.page(c, "routers", "router.title"), External: ext}
	ifaces := h.routerInterfaces(c)
	for _, r := range rs {
		row := routerRow(r, names)
		row.Interfaces = len(ifaces[r.ID])
		v.Routers = append(v.Routers, row)
	}
	return render(c, views.RouterListPage(v))
}

// routerInterfaces lists the interface ports of the routers the caller
// sees, by router, in one query (nil when they cannot be read: the
// pages show no interfaces rather than fail).
func (h *Handler) routerInterfaces(c *fiber.Ctx) map[string][]model.Port {
	ps, err := h.cfg.Network.Ports(c.UserContext(), api.Token(c), store.PortFilter{DeviceOwner: model.OwnerRouterInterface})
	if err != nil {
		return nil
	}
	out := map[string][]model.Port{}
	for _, p := range ps {
		out[p.DeviceID] = append(out[p.DeviceID], p)
	}
	return out
}

func routerRow(r model.Router, names map[string]string) views.RouterRow {
	row := views.RouterRow{ID: r.ID, Name: r.Name, Status: upDown(r.AdminStateUp), Gateway: names[r.GatewayNetID]}
	for _, ip := range r.GatewayIPs {
		row.GatewayIP = ip.IPAddress
	}
	return row
}

func (h *Handler) routerCreate(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("name"))
	in := network.RouterInput{Name: &name}
	if ext := c.FormValue("external"); ext != "" {
		in.Gateway = &network.GatewayInput{NetworkID: ext}
	}
	r, err := h.cfg.Network.CreateRouter(c.UserContext(), api.Token(c), in)
	if err != nil {
		return h.netDone(c, err, "/project/routers", "")
	}
	return h.netDone(c, nil, "/project/routers/"+r.ID, "router.created_flash", name)
}

func (h *Handler) routerDetail(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	r, err := h.cfg.Network.Router(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	ext, names, err := h.externalNetworks(c)
	if err != nil {
		return err
	}
	v := views.RouterDetail{Page: h.page(c, "routers", "router.detail_title", r.Name), Router: routerRow(r, names), External: ext}
	v.Router.Gateway = r.GatewayNetID
	ports, err := h.cfg.Network.Ports(ctx, tok, storePortFilter("", r.ID))
	if err != nil {
		return err
	}
	attached := map[string]bool{}
	for _, p := range ports {
		if p.DeviceOwner == model.OwnerRouterInterface {
			v.Interfaces = append(v.Interfaces, portRow(p))
			for _, f := range p.FixedIPs {
				attached[f.SubnetID] = true
			}
		}
	}
	subnets, err := h.cfg.Network.Subnets(ctx, tok)
	if err != nil {
		return err
	}
	for _, s := range subnets {
		if !attached[s.ID] && s.GatewayIP != "" && s.ProjectID == tok.ProjectID && !slices.ContainsFunc(ext, func(e views.Ref) bool { return e.ID == s.NetworkID }) {
			v.Subnets = append(v.Subnets, views.Ref{ID: s.ID, Name: fmt.Sprintf("%s (%s)", s.CIDR, names[s.NetworkID])})
		}
	}
	return render(c, views.RouterDetailPage(v))
}

func (h *Handler) routerDelete(c *fiber.Ctx) error {
	err := h.cfg.Network.DeleteRouter(c.UserContext(), api.Token(c), api.Param(c, "id"))
	return h.netDone(c, err, "/project/routers", "router.deleted_flash")
}

func (h *Handler) routerGateway(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	var in network.RouterInput
	if ext := c.FormValue("external"); ext != "" {
		in.Gateway = &network.GatewayInput{NetworkID: ext}
	}
	_, err := h.cfg.Network.UpdateRouter(c.UserContext(), api.Token(c), id, in, true)
	return h.netDone(c, err, "/project/routers/"+id, "router.gateway_flash")
}

func (h *Handler) routerAddInterface(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	_, err := h.cfg.Network.AddRouterInterface(c.UserContext(), api.Token(c), id, c.FormValue("subnet"), "")
	return h.netDone(c, err, "/project/routers/"+id, "router.interface_added_flash")
}

func (h *Handler) routerRemoveInterface(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	_, err := h.cfg.Network.RemoveRouterInterface(c.UserContext(), api.Token(c), id, "", c.FormValue("port"))
	return h.netDone(c, err, "/project/routers/"+id, "router.interface_removed_flash")
}

func (h *Handler) groupList(c *fiber.Ctx) error {
	gs, err := h.cfg.Network.SecurityGroups(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	v := views.SecurityGroupList{Page: h.page(c, "security-groups", "sg.title")}
	for _, g := range gs {
		if g.ProjectID != api.Token(c).ProjectID {
			continue // an admin's list has every project's; the page is the project's
		}
		v.Groups = append(v.Groups, views.SecurityGroupRow{ID: g.ID, Name: g.Name, Description: g.Description, Rules: len(g.Rules), Default: g.IsDefault})
	}
	return render(c, views.SecurityGroupListPage(v))
}

func (h *Handler) groupCreate(c *fiber.Ctx) error {
	name, desc := strings.TrimSpace(c.FormValue("name")), strings.TrimSpace(c.FormValue("description"))
	g, err := h.cfg.Network.CreateSecurityGroup(c.UserContext(), api.Token(c), network.GroupInput{Name: &name, Description: &desc})
	if err != nil {
		return h.netDone(c, err, "/project/security_groups", "")
	}
	return h.netDone(c, nil, "/project/security_groups/"+g.ID, "sg.created_flash", name)
}

func (h *Handler) groupDelete(c *fiber.Ctx) error {
	err := h.cfg.Network.DeleteSecurityGroup(c.UserContext(), api.Token(c), api.Param(c, "id"))
	return h.netDone(c, err, "/project/security_groups", "sg.deleted_flash")
}

// rulePresets are the rule editor's common rules, Horizon's list.
var rulePresets = []string{"ssh", "http", "https", "icmp", "all-from-group", "tcp", "udp", "all"}

func (h *Handler) groupDetail(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	g, err := h.cfg.Network.SecurityGroup(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	all, err := h.cfg.Network.SecurityGroups(ctx, tok)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, o := range all {
		names[o.ID] = o.Name
	}
	v := views.SecurityGroupDetail{Page: h.page(c, "security-groups", "sg.detail_title", g.Name), Presets: rulePresets,
		Group: views.SecurityGroupRow{ID: g.ID, Name: g.Name, Description: g.Description, Default: g.IsDefault}}
	for _, r := range g.Rules {
		row := views.RuleRow{ID: r.ID, Direction: r.Direction, Ethertype: r.Ethertype, Protocol: r.Protocol, Remote: r.RemoteIPPrefix}
		if row.Protocol == "" {
			row.Protocol = "any"
		}
		switch {
		case r.PortRangeMin != nil && r.PortRangeMax != nil && *r.PortRangeMin == *r.PortRangeMax:
			row.Ports = strconv.Itoa(*r.PortRangeMin)
		case r.PortRangeMin != nil && r.PortRangeMax != nil:
			row.Ports = fmt.Sprintf("%d-%d", *r.PortRangeMin, *r.PortRangeMax)
		case r.PortRangeMin != nil:
			row.Ports = strconv.Itoa(*r.PortRangeMin)
		default:
			row.Ports = "any"
		}
		if r.RemoteGroupID != "" {
			row.Remote = names[r.RemoteGroupID]
		}
		if row.Remote == "" {
			row.Remote = "any"
		}
		v.Rules = append(v.Rules, row)
	}
	return render(c, views.SecurityGroupDetailPage(v))
}

// ruleCreate adds a preset rule (SSH, HTTP, HTTPS, ICMP, all from this
// group) or a custom TCP/UDP/any rule with a port or range and a CIDR.
func (h *Handler) ruleCreate(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	in := network.RuleInput{GroupID: &id, Direction: ptr(c.FormValue("direction"))}
	if *in.Direction == "" {
		in.Direction = ptr("ingress")
	}
	var proto any
	var portMin, portMax int
	switch c.FormValue("preset") {
	case "ssh":
		proto, portMin, portMax = "tcp", 22, 22
	case "http":
		proto, portMin, portMax = "tcp", 80, 80
	case "https":
		proto, portMin, portMax = "tcp", 443, 443
	case "icmp":
		proto = "icmp"
	case "all-from-group":
		in.RemoteGroupID = &id
	case "tcp", "udp":
		proto = c.FormValue("preset")
		lo, hi, ok := portRange(c.FormValue("port"))
		if !ok {
			h.flash(c, "error", "sg.bad_port")
			return c.Redirect("/project/security_groups/"+id, fiber.StatusSeeOther)
		}
		portMin, portMax = lo, hi
	case "all":
	default:
		h.flash(c, "error", "sg.bad_preset")
		return c.Redirect("/project/security_groups/"+id, fiber.StatusSeeOther)
	}
	if proto != nil {
		in.Protocol = &proto
	}
	if portMin > 0 {
		in.PortRangeMin, in.PortRangeMax = &portMin, &portMax
	}
	if cidr := strings.TrimSpace(c.FormValue("cidr")); cidr != "" && in.RemoteGroupID == nil {
		in.RemoteIPPrefix = &cidr
	}
	_, err := h.cfg.Network.CreateSecurityGroupRule(c.UserContext(), api.Token(c), in)
	return h.netDone(c, err, "/project/security_groups/"+id, "sg.rule_added_flash")
}

// portRange reads "8080" or "8000-8100".
func portRange(s string) (int, int, bool) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b := a
	var err2 error
	if found {
		b, err2 = strconv.Atoi(strings.TrimSpace(hi))
	}
	return a, b, err1 == nil && err2 == nil && a >= 1 && b <= 65535 && a <= b
}

func (h *Handler) ruleDelete(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	r, err := h.cfg.Network.SecurityGroupRule(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	err = h.cfg.Network.DeleteSecurityGroupRule(ctx, tok, r.ID)
	return h.netDone(c, err, "/project/security_groups/"+r.GroupID, "sg.rule_deleted_flash")
}

func (h *Handler) floatingList(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	fips, err := h.cfg.Network.FloatingIPs(ctx, tok)
	if err != nil {
		return err
	}
	pools, names, err := h.externalNetworks(c)
	if err != nil {
		return err
	}
	targets, labels, err := h.floatingTargets(c)
	if err != nil {
		return err
	}
	v := views.FloatingIPList{Page: h.page(c, "floating-ips", "fip.title"), Pools: pools, Targets: targets}
	for _, f := range fips {
		if f.ProjectID != tok.ProjectID {
			continue
		}
		v.IPs = append(v.IPs, views.FloatingIPRow{ID: f.ID, Address: f.Address, Pool: names[f.NetworkID],
			MappedTo: labels[f.PortID], Status: f.Status()})
	}
	return render(c, views.FloatingIPListPage(v))
}

// floatingTargets are the project's instance ports a floating IP may be
// mapped to, labelled "server: address".
func (h *Handler) floatingTargets(c *fiber.Ctx) ([]views.Ref, map[string]string, error) {
	ctx, tok := c.UserContext(), api.Token(c)
	servers, err := h.compute.List(ctx, tok, computeListAll())
	if err != nil {
		return nil, nil, err
	}
	labels := map[string]string{}
	var out []views.Ref
	for _, s := range servers {
		for _, n := range s.NICs {
			for _, ip := range n.IPs {
				if ip.Type == "fixed" && ip.Version == 4 {
					label := s.Name + ": " + ip.Address
					labels[n.PortID] = label
					out = append(out, views.Ref{ID: n.PortID, Name: label})
					break
				}
			}
		}
	}
	return out, labels, nil
}

func (h *Handler) floatingAllocate(c *fiber.Ctx) error {
	pool := c.FormValue("pool")
	f, err := h.cfg.Network.CreateFloatingIP(c.UserContext(), api.Token(c), network.FloatingIPInput{NetworkID: &pool})
	return h.netDone(c, err, "/project/floating_ips", "fip.allocated_flash", f.Address)
}

func (h *Handler) floatingAssociate(c *fiber.Ctx) error {
	port := c.FormValue("port")
	_, err := h.cfg.Network.UpdateFloatingIP(c.UserContext(), api.Token(c), api.Param(c, "id"),
		network.FloatingIPInput{PortID: network.PortOf(port)})
	return h.netDone(c, err, floatingBack(c), "fip.associated_flash")
}

func (h *Handler) floatingDisassociate(c *fiber.Ctx) error {
	_, err := h.cfg.Network.UpdateFloatingIP(c.UserContext(), api.Token(c), api.Param(c, "id"),
		network.FloatingIPInput{PortID: network.PortOf("")})
	return h.netDone(c, err, floatingBack(c), "fip.disassociated_flash")
}

func (h *Handler) floatingRelease(c *fiber.Ctx) error {
	err := h.cfg.Network.DeleteFloatingIP(c.UserContext(), api.Token(c), api.Param(c, "id"))
	return h.netDone(c, err, "/project/floating_ips", "fip.released_flash")
}

// floatingBack is where a floating IP form returns: the instance page it
// came from (its "next" field), else the list.
func floatingBack(c *fiber.Ctx) string {
	if next := c.FormValue("next"); strings.HasPrefix(next, "/project/instances/") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/project/floating_ips"
}

func storePortFilter(networkID, deviceID string) store.PortFilter {
	return store.PortFilter{NetworkID: networkID, DeviceID: deviceID}
}

// computeListAll lists every server of the caller's project.
func computeListAll() compute.ListOptions { return compute.ListOptions{} }

// instanceNetworks fills an instance page's addresses, security groups
// and Associate floating IP form.
func (h *Handler) instanceNetworks(c *fiber.Ctx, in model.Instance, v *views.InstanceDetail) error {
	seen := map[string]bool{}
	for _, n := range in.NICs {
		nv := views.NICView{PortID: n.PortID, Network: n.NetworkName, MAC: n.MAC}
		for _, ip := range n.IPs {
			if ip.Type == "floating" {
				nv.Floating = append(nv.Floating, ip.Address)
			} else {
				nv.Fixed = append(nv.Fixed, ip.Address)
			}
		}
		v.NICs = append(v.NICs, nv)
		for _, g := range n.Groups {
			if !seen[g] {
				seen[g] = true
				v.SecGroups = append(v.SecGroups, g)
			}
		}
	}
	slices.Sort(v.SecGroups)
	if h.cfg.Network == nil || len(in.NICs) == 0 {
		return nil
	}
	ctx, tok := c.UserContext(), api.Token(c)
	fips, err := h.cfg.Network.FloatingIPs(ctx, tok)
	if err != nil {
		return err
	}
	for _, f := range fips {
		if f.PortID == "" && f.ProjectID == in.ProjectID {
			v.FreeFloating = append(v.FreeFloating, views.Ref{ID: f.ID, Name: f.Address})
		}
	}
	v.Pools, _, err = h.externalNetworks(c)
	return err
}

// instanceFloatingIP maps a floating IP (a free one, or "new:<network>"
// allocated now) to one of the instance's ports, and goes back to it.
func (h *Handler) instanceFloatingIP(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	id := api.Param(c, "id")
	back := "/project/instances/" + id
	in, err := h.compute.Get(ctx, tok, id)
	if err != nil {
		return err
	}
	if err := policy.Check(tok, policy.ServerAction, policy.Target{ProjectID: in.ProjectID}); err != nil {
		return err
	}
	fip := c.FormValue("floating")
	if pool, ok := strings.CutPrefix(fip, "new:"); ok {
		f, err := h.cfg.Network.CreateFloatingIP(ctx, tok, network.FloatingIPInput{NetworkID: &pool})
		if err != nil {
			return h.netDone(c, err, back, "")
		}
		fip = f.ID
	}
	_, err = h.cfg.Network.UpdateFloatingIP(ctx, tok, fip, network.FloatingIPInput{PortID: network.PortOf(c.FormValue("port"))})
	return h.netDone(c, err, back, "fip.associated_flash")
}
