package portal

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/views"
)

// Admin > Networks: every project's networks with their segments; make a
// provider network (external for floating IPs, or shared) with its subnet.

func (h *Handler) registerAdminNetworks(a fiber.Router) {
	a.Get("/networks", h.adminNetworkList)
	a.Post("/networks", h.adminNetworkCreate)
	a.Post("/networks/:id/delete", h.adminNetworkDelete)
}

func (h *Handler) adminNetworkList(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	nets, err := h.cfg.Network.Networks(ctx, tok)
	if err != nil {
		return err
	}
	subnets, err := h.cfg.Network.Subnets(ctx, tok)
	if err != nil {
		return err
	}
	cidrs := map[string][]string{}
	for _, s := range subnets {
		cidrs[s.NetworkID] = append(cidrs[s.NetworkID], s.CIDR)
	}
	projects := map[string]string{}
	if ps, err := h.svc.Projects(ctx, tok, store.ProjectFilter{}); err == nil {
		for _, p := range ps {
			projects[p.ID] = p.Name
		}
	}
	v := views.AdminNetworkList{Page: h.page(c, "admin-networks", "adminnet.title"), Types: []string{"flat", "vlan", "vxlan", "local"}}
	for _, n := range nets {
		row := views.AdminNetworkRow{ID: n.ID, Name: n.Name, Project: projects[n.ProjectID], Type: n.NetworkType,
			PhysicalNetwork: n.PhysicalNetwork, Subnets: strings.Join(cidrs[n.ID], ", "), External: n.External, Shared: n.Shared}
		if n.SegmentationID != 0 {
			row.Segment = strconv.Itoa(n.SegmentationID)
		}
		v.Networks = append(v.Networks, row)
	}
	return render(c, views.AdminNetworkListPage(v))
}

// adminNetworkCreate makes a provider network and, with a CIDR, its
// subnet (DHCP off on an external network: its addresses are the routers'
// and floating IPs'); a refused subnet takes the network back.
func (h *Handler) adminNetworkCreate(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	name, typ := strings.TrimSpace(c.FormValue("name")), c.FormValue("type")
	in := network.NetworkInput{Name: &name, NetworkType: &typ, External: ptr(c.FormValue("external") == "on"),
		Shared: ptr(c.FormValue("shared") == "on")}
	if phys := strings.TrimSpace(c.FormValue("physical_network")); phys != "" {
		in.PhysicalNetwork = &phys
	}
	if seg := strings.TrimSpace(c.FormValue("segment")); seg != "" {
		n, err := strconv.Atoi(seg)
		if err != nil {
			h.flash(c, "error", "adminnet.bad_segment")
			return c.Redirect("/admin/networks", fiber.StatusSeeOther)
		}
		in.SegmentationID = &n
	}
	n, err := h.cfg.Network.CreateNetwork(ctx, tok, in)
	if err != nil {
		return h.netDone(c, err, "/admin/networks", "")
	}
	if cidr := strings.TrimSpace(c.FormValue("cidr")); cidr != "" {
		sub := subnetInput(c, n.ID, name+"-subnet", cidr, false)
		if *in.External {
			sub.EnableDHCP = ptr(false)
		}
		if _, err := h.cfg.Network.CreateSubnet(ctx, tok, sub); err != nil {
			if derr := h.cfg.Network.DeleteNetwork(ctx, tok, n.ID); derr != nil {
				h.log.Warn("take back a network whose subnet was refused", "network_id", n.ID, "error", derr)
			}
			return h.netDone(c, err, "/admin/networks", "")
		}
	}
	return h.netDone(c, nil, "/admin/networks", "net.created_flash", name)
}

func (h *Handler) adminNetworkDelete(c *fiber.Ctx) error {
	err := h.cfg.Network.DeleteNetwork(c.UserContext(), api.Token(c), api.Param(c, "id"))
	return h.netDone(c, err, "/admin/networks", "net.deleted_flash")
}
