package portal

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/views"
)

// Project > Network Topology: the project's networks as vertical bars
// (external ones first), each router between the networks it joins, each
// instance beside its first network, and a line for every attachment
// labelled with its address. Laid out here, drawn by the template as SVG.

const (
	topoTop     = 60  // y of the bars' tops (their names above)
	topoColumn  = 240 // distance between network bars
	topoRow     = 50  // distance between nodes stacked under each other
	topoLeft    = 60
	topoNodeGap = 120 // from a bar to the nodes beside it
)

func (h *Handler) topology(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	nets, err := h.cfg.Network.Networks(ctx, tok)
	if err != nil {
		return err
	}
	subnets, err := h.cfg.Network.Subnets(ctx, tok)
	if err != nil {
		return err
	}
	routers, err := h.cfg.Network.Routers(ctx, tok)
	if err != nil {
		return err
	}
	servers, err := h.compute.List(ctx, tok, computeListAll())
	if err != nil {
		return err
	}
	cidrs := map[string][]string{}
	for _, s := range subnets {
		cidrs[s.NetworkID] = append(cidrs[s.NetworkID], s.CIDR)
	}
	v := views.Topology{Page: h.page(c, "topology", "topo.title")}
	x := map[string]int{}
	var ordered []model.Network
	for _, external := range []bool{true, false} {
		for _, n := range nets {
			if n.External == external && (n.ProjectID == tok.ProjectID || n.External || n.Shared) {
				ordered = append(ordered, n)
			}
		}
	}
	for i, n := range ordered {
		x[n.ID] = topoLeft + i*topoColumn
	}
	rows := map[string]int{} // nodes already beside each network
	place := func(kind, name, href string, networks []string, labels []string) {
		var known []string
		for _, id := range networks {
			if _, ok := x[id]; ok {
				known = append(known, id)
			}
		}
		if len(known) == 0 {
			return
		}
		home := known[0]
		y := topoTop + 40 + rows[home]*topoRow
		rows[home]++
		nx := x[home] + topoNodeGap
		v.Nodes = append(v.Nodes, views.TopoNode{Kind: kind, Name: name, Href: href, X: nx, Y: y})
		for i, id := range known {
			label := ""
			if i < len(labels) {
				label = labels[i]
			}
			v.Links = append(v.Links, views.TopoLink{X1: x[id] + 8, Y1: y, X2: nx, Y2: y, Label: label})
		}
	}
	ifaces := h.routerInterfaces(c)
	for _, r := range routers {
		var on, labels []string
		if r.GatewayNetID != "" {
			on = append(on, r.GatewayNetID)
			var ips []string
			for _, ip := range r.GatewayIPs {
				ips = append(ips, ip.IPAddress)
			}
			labels = append(labels, strings.Join(ips, ","))
		}
		for _, p := range ifaces[r.ID] {
			on = append(on, p.NetworkID)
			labels = append(labels, portRow(p).IPs)
		}
		place("router", r.Name, "/project/routers/"+r.ID, on, labels)
	}
	for _, s := range servers {
		var on, labels []string
		for _, n := range s.NICs {
			on = append(on, n.NetworkID)
			var ips []string
			for _, ip := range n.IPs {
				ips = append(ips, ip.Address)
			}
			labels = append(labels, strings.Join(ips, ","))
		}
		place("instance", s.Name, "/project/instances/"+s.ID, on, labels)
	}
	most := 1
	for _, n := range rows {
		most = max(most, n)
	}
	height := topoTop + 60 + most*topoRow
	for _, n := range ordered {
		v.Networks = append(v.Networks, views.TopoNetwork{Name: n.Name, CIDRs: strings.Join(cidrs[n.ID], " "), X: x[n.ID],
			Y: topoTop, H: height - topoTop - 20, External: n.External})
	}
	v.Width = topoLeft + max(1, len(ordered))*topoColumn + 60
	v.Height = height
	return render(c, views.TopologyPage(v))
}
