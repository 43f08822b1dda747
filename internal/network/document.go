package network

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/netspec"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// The hosts' datapath documents (netspec): what each host's bridges,
// taps, filters, DHCP servers and routers should be, computed from the
// desired state in PostgreSQL. Instances' ports run on their instance's
// host; DHCP servers and routers run on the network node.

// DocumentInput is what, besides the database, shapes the documents.
type DocumentInput struct {
	Hosts       []string                     // every host that gets a document
	NetworkNode string                       // runs DHCP and routers ("": the first host)
	Agents      map[string]netspec.AgentInfo // by host
	Metadata    *netspec.Metadata
}

// Documents computes every host's document (generations left 0).
func (s *Service) Documents(ctx context.Context, in DocumentInput) (map[string]netspec.Host, error) {
	node := in.NetworkNode
	if node == "" && len(in.Hosts) > 0 {
		node = slices.Min(in.Hosts)
	}
	bound, err := s.store.BoundPorts(ctx, "")
	if err != nil {
		return nil, err
	}
	service, err := s.store.ServicePorts(ctx)
	if err != nil {
		return nil, err
	}
	subnets, err := s.store.AllSubnets(ctx)
	if err != nil {
		return nil, err
	}
	routers, err := s.store.Routers(ctx, "")
	if err != nil {
		return nil, err
	}
	floating, err := s.store.MappedFloatingIPs(ctx)
	if err != nil {
		return nil, err
	}
	subnetByID := map[string]model.Subnet{}
	for _, sn := range subnets {
		subnetByID[sn.ID] = sn
	}

	// Which networks each host needs, and so which hosts each network is on.
	need := map[string]map[string]bool{}
	add := func(host, network string) {
		if need[host] == nil {
			need[host] = map[string]bool{}
		}
		need[host][network] = true
	}
	for _, h := range in.Hosts {
		need[h] = map[string]bool{}
	}
	for _, p := range bound {
		add(p.Host, p.NetworkID)
	}
	for _, p := range service {
		if p.DeviceOwner == model.OwnerDHCP && !hasDHCPSubnet(p, subnetByID) {
			continue
		}
		add(node, p.NetworkID)
	}
	var netIDs []string
	seen := map[string]bool{}
	for _, nets := range need {
		for id := range nets {
			if !seen[id] {
				seen[id] = true
				netIDs = append(netIDs, id)
			}
		}
	}
	networks, err := s.store.NetworksByID(ctx, netIDs)
	if err != nil {
		return nil, err
	}
	netByID := map[string]model.Network{}
	for _, n := range networks {
		netByID[n.ID] = n
	}

	// Security groups and the members' addresses for remote-group rules.
	var groupIDs []string
	for _, p := range bound {
		groupIDs = append(groupIDs, p.SecurityGroups...)
	}
	slices.Sort(groupIDs)
	groupIDs = slices.Compact(groupIDs)
	groups, err := s.store.GroupsByID(ctx, groupIDs)
	if err != nil {
		return nil, err
	}
	var remotes []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.RemoteGroupID != "" {
				remotes = append(remotes, r.RemoteGroupID)
			}
		}
	}
	members, err := s.store.GroupMemberAddresses(ctx, remotes)
	if err != nil {
		return nil, err
	}
	groupByID := map[string]netspec.Group{}
	for _, g := range groups {
		groupByID[g.ID] = specGroup(g, members)
	}

	docs := map[string]netspec.Host{}
	for host, nets := range need {
		doc := netspec.Host{Host: host, Networks: []netspec.Network{}, Ports: []netspec.Port{}, Groups: []netspec.Group{},
			Routers: []netspec.Router{}}
		agent := in.Agents[host]
		usedGroups := map[string]bool{}
		for _, p := range bound {
			if p.Host != host {
				continue
			}
			sp := netspec.Port{ID: p.ID, NetworkID: p.NetworkID, Device: netspec.TapDevice(p.ID), MAC: p.MACAddress,
				InstanceID: p.DeviceID, PortSecurity: p.PortSecurity, Groups: p.SecurityGroups}
			for _, f := range p.FixedIPs {
				sp.IPs = append(sp.IPs, f.IPAddress)
			}
			for _, ap := range p.AddressPairs {
				mac := ap.MACAddress
				if mac == "" {
					mac = p.MACAddress
				}
				sp.AddressPairs = append(sp.AddressPairs, netspec.AddressPair{IP: ap.IPAddress, MAC: mac})
			}
			for _, g := range p.SecurityGroups {
				usedGroups[g] = true
			}
			doc.Ports = append(doc.Ports, sp)
		}
		for _, id := range sortedKeys(usedGroups) {
			if g, ok := groupByID[id]; ok {
				doc.Groups = append(doc.Groups, g)
			}
		}
		for _, id := range sortedKeys(nets) {
			n, ok := netByID[id]
			if !ok {
				continue
			}
			sn := netspec.Network{ID: n.ID, Type: n.NetworkType, PhysicalNetwork: n.PhysicalNetwork, SegmentationID: n.SegmentationID, MTU: n.MTU}
			switch {
			case n.NetworkType == netspec.TypeVXLAN && agent.VTEP == "":
				sn.Type, sn.SegmentationID = netspec.TypeLocal, 0
			case n.NetworkType == netspec.TypeVXLAN:
				sn.VTEP = agent.VTEP
				for other, onets := range need {
					if other != host && onets[id] && in.Agents[other].VTEP != "" {
						sn.Peers = append(sn.Peers, in.Agents[other].VTEP)
					}
				}
				sort.Strings(sn.Peers)
			case (n.NetworkType == netspec.TypeFlat || n.NetworkType == netspec.TypeVLAN) &&
				!slices.Contains(agent.PhysicalNetworks, n.PhysicalNetwork):
				sn.Type, sn.PhysicalNetwork, sn.SegmentationID = netspec.TypeLocal, "", 0
			}
			if host == node {
				sn.DHCP = dhcpOf(n, service, bound, subnetByID, in.Metadata != nil)
			}
			doc.Networks = append(doc.Networks, sn)
		}
		if host == node {
			doc.Metadata = in.Metadata
			for _, r := range routers {
				if sr, ok := specRouter(r, service, subnetByID, floating); ok {
					doc.Routers = append(doc.Routers, sr)
				}
			}
		}
		docs[host] = doc
	}
	return docs, nil
}

func hasDHCPSubnet(p model.Port, subnets map[string]model.Subnet) bool {
	for _, f := range p.FixedIPs {
		if subnets[f.SubnetID].EnableDHCP {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// withPrefix is an address with its subnet's prefix length ("10.0.0.2/24").
func withPrefix(ip string, sn model.Subnet) string {
	p, err := netip.ParsePrefix(sn.CIDR)
	if err != nil {
		return ip
	}
	return netip.PrefixFrom(netip.MustParseAddr(ip), p.Bits()).String()
}

// dhcpOf is a network's DHCP server: its port, the IPv4 subnets with DHCP
// on, and a static lease for every bound port on them.
func dhcpOf(n model.Network, service []model.Port, bound []store.BoundPort, subnets map[string]model.Subnet, metadata bool) *netspec.DHCP {
	var port *model.Port
	for i := range service {
		if service[i].NetworkID == n.ID && service[i].DeviceOwner == model.OwnerDHCP {
			port = &service[i]
		}
	}
	if port == nil {
		return nil
	}
	d := &netspec.DHCP{PortID: port.ID, MAC: port.MACAddress, Metadata: metadata}
	served := map[string]bool{}
	for _, f := range port.FixedIPs {
		sn := subnets[f.SubnetID]
		if !sn.EnableDHCP || sn.IPVersion != 4 {
			continue
		}
		served[sn.ID] = true
		d.IPs = append(d.IPs, withPrefix(f.IPAddress, sn))
		ss := netspec.Subnet{ID: sn.ID, CIDR: sn.CIDR, Gateway: sn.GatewayIP, DNS: sn.DNS}
		for _, r := range sn.HostRoutes {
			ss.Routes = append(ss.Routes, netspec.Route{Destination: r.Destination, NextHop: r.NextHop})
		}
		d.Subnets = append(d.Subnets, ss)
	}
	if len(d.Subnets) == 0 {
		return nil
	}
	for _, p := range bound {
		if p.NetworkID != n.ID {
			continue
		}
		for _, f := range p.FixedIPs {
			if served[f.SubnetID] {
				d.Leases = append(d.Leases, netspec.Lease{MAC: p.MACAddress, IP: f.IPAddress,
					Hostname: hostname(p.InstanceName), InstanceID: p.DeviceID})
				break
			}
		}
	}
	return d
}

// hostname makes an instance's name a DNS label, as Nova's hostname.
func hostname(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '-' || r == ' ' || r == '_' || r == '.':
			b.WriteByte('-')
		}
	}
	h := strings.Trim(b.String(), "-")
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	return h
}

// specGroup is a group's rules as the filter applies them, remote groups
// resolved to their members' addresses.
func specGroup(g model.SecurityGroup, members map[string][]string) netspec.Group {
	sg := netspec.Group{ID: g.ID, Rules: []netspec.Rule{}}
	for _, r := range g.Rules {
		sr := netspec.Rule{Direction: r.Direction, Ethertype: r.Ethertype, Protocol: r.Protocol,
			PortMin: r.PortRangeMin, PortMax: r.PortRangeMax, RemoteCIDR: r.RemoteIPPrefix, RemoteGroup: r.RemoteGroupID}
		if r.RemoteGroupID != "" {
			for _, ip := range members[r.RemoteGroupID] {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					if p, perr := netip.ParsePrefix(ip); perr == nil {
						a = p.Addr()
					} else {
						continue
					}
				}
				if (a.Is4() && r.Ethertype == "IPv4") || (!a.Is4() && r.Ethertype == "IPv6") {
					sr.RemoteIPs = append(sr.RemoteIPs, ip)
				}
			}
			if len(sr.RemoteIPs) == 0 {
				continue // a group with no members (of this family) allows nothing
			}
		}
		sg.Rules = append(sg.Rules, sr)
	}
	return sg
}

// specRouter is a router's namespace: its interfaces, gateway, routes and
// floating IPs; false for a router with nothing to do.
func specRouter(r model.Router, service []model.Port, subnets map[string]model.Subnet, floating []model.FloatingIP) (netspec.Router, bool) {
	if !r.AdminStateUp {
		return netspec.Router{}, false
	}
	sr := netspec.Router{ID: r.ID}
	for _, p := range service {
		if p.DeviceID != r.ID {
			continue
		}
		for _, f := range p.FixedIPs {
			sn := subnets[f.SubnetID]
			if sn.IPVersion != 4 {
				continue
			}
			switch p.DeviceOwner {
			case model.OwnerRouterInterface:
				sr.Interfaces = append(sr.Interfaces, netspec.RouterInterface{PortID: p.ID, NetworkID: p.NetworkID,
					MAC: p.MACAddress, IP: withPrefix(f.IPAddress, sn)})
			case model.OwnerRouterGateway:
				if sr.Gateway == nil {
					sr.Gateway = &netspec.Gateway{PortID: p.ID, NetworkID: p.NetworkID, MAC: p.MACAddress,
						IP: withPrefix(f.IPAddress, sn), NextHop: sn.GatewayIP, SNAT: r.EnableSNAT}
				}
			}
		}
	}
	for _, rt := range r.Routes {
		sr.Routes = append(sr.Routes, netspec.Route{Destination: rt.Destination, NextHop: rt.NextHop})
	}
	for _, f := range floating {
		if f.RouterID == r.ID && sr.Gateway != nil {
			sr.Floating = append(sr.Floating, netspec.FloatingIP{IP: f.Address, FixedIP: f.FixedIP})
		}
	}
	return sr, len(sr.Interfaces) > 0 || sr.Gateway != nil
}
