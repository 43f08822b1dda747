// Package datapath applies a netspec.Host document to one hypervisor
// host's kernel, as Neutron's linuxbridge, DHCP and L3 agents do together,
// with the kernel's own parts driven through their standard tools (ip,
// bridge, nft, dnsmasq):
//
//	               host namespace (Config.HostNetns)
//	VM tap ──┐
//	VM tap ──┼── brq<net11> ── uplink: none (local) | phys (flat)
//	         │        │                | phys.<vid> (vlan) | vxlan-<vni>
//	tap<dhcp port11>  tap<router port11>
//	   │ veth             │ veth
//	qdhcp-<net>        qrouter-<router>
//	 ns-<port11>        qr-<port11> (internal, the subnet's gateway)
//	 dnsmasq            qg-<port11> (on the external network's bridge,
//	 169.254.169.254     gateway and floating IPs, default route)
//	 (metadata proxy,   nft "ip nimbus-nat": floating DNAT/SNAT, SNAT
//	  in the agent)     ip_forward=1 (there only)
//
// Security groups are nftables tables named <NamePrefix>nimbus in the
// bridge and inet families of the host namespace (filter.go says why two).
//
// Apply is a reconcile: it reads what is there, changes what differs,
// logs each change at Info and removes objects of ours the document no
// longer has. Objects of ours are named: bridges brq*, taps tap* on them,
// vxlan-* devices, VLAN devices on our bridges, namespaces
// <NamePrefix>qdhcp-* and <NamePrefix>qrouter-*, the filter tables.
// Nothing else in the host's namespace is touched.
package datapath
