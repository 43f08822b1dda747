// Package netspec is the contract between the controller and an agent's
// datapath: the whole network state one host should have, as a document.
// The controller computes a Host from PostgreSQL after every change that
// touches the host and publishes it in Redis; the agent applies the newest
// one at start, when told of a change, and every minute, so whatever
// happened to the host (a reboot, a restart, a deleted bridge) the datapath
// converges to the document. Nothing here is incremental: applying the same
// document twice changes nothing, and an object missing from it is removed.
package netspec

// Host is everything one host's datapath should hold.
type Host struct {
	// Host is the agent's host name.
	Host string `json:"host"`
	// Generation grows with every document the controller publishes for
	// this host; an agent ignores one older than what it applied.
	Generation int64 `json:"generation"`
	// Networks are the networks this host needs a bridge for: those with
	// a port, a DHCP server or a router interface here.
	Networks []Network `json:"networks"`
	// Ports are the instance ports bound to this host (tap devices).
	Ports []Port `json:"ports"`
	// Groups are the security groups the ports use, rules resolved.
	Groups []Group `json:"groups"`
	// Routers are the routers this host runs (their namespaces).
	Routers []Router `json:"routers"`
	// Metadata is where this host's metadata proxies forward and how they
	// sign, when it serves DHCP (nil: no metadata service).
	Metadata *Metadata `json:"metadata,omitempty"`
}

// Metadata is the controller's metadata service as the proxies reach it.
type Metadata struct {
	// URL is the service's base ("http://cloud:8080/metadata").
	URL string `json:"url"`
	// Secret signs instance ids (Nova's metadata_proxy_shared_secret).
	Secret string `json:"secret"`
}

// Network types.
const (
	TypeFlat  = "flat"
	TypeVLAN  = "vlan"
	TypeVXLAN = "vxlan"
	// TypeLocal is a bridge with nothing under it: the network exists on
	// this host only (DevStack's "local"; tests and a one-host cloud).
	TypeLocal = "local"
)

// Network is one network's presence on a host: a Linux bridge, its uplink
// (physical interface, VLAN sub-interface or VXLAN device) and, when this
// host serves DHCP for it, a namespace with dnsmasq and the metadata proxy.
type Network struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// PhysicalNetwork is the flat or VLAN network's physical network
	// name; the agent maps it to one of its interfaces (its own
	// physical_interface_mappings, as Neutron's linuxbridge agent does).
	PhysicalNetwork string `json:"physical_network,omitempty"`
	// PhysicalInterface is the host's interface that carries a flat or
	// VLAN network (from the agent's physical network mappings). When
	// set it wins over the agent's mapping of PhysicalNetwork.
	PhysicalInterface string `json:"physical_interface,omitempty"`
	// SegmentationID is the VLAN id or the VXLAN VNI.
	SegmentationID int `json:"segmentation_id,omitempty"`
	MTU            int `json:"mtu"`
	// VTEP is this host's VXLAN tunnel address, Peers the other hosts'
	// with the network (flooding goes to each, as Neutron's linuxbridge
	// agent without l2population's ARP responder).
	VTEP  string   `json:"vtep,omitempty"`
	Peers []string `json:"peers,omitempty"`
	// DHCP is set when this host serves the network's DHCP.
	DHCP *DHCP `json:"dhcp,omitempty"`
}

// DHCP is a network's DHCP server: its own port on the network, the
// subnets it serves and a static lease per port (no dynamic range).
type DHCP struct {
	PortID string `json:"port_id"`
	MAC    string `json:"mac"`
	// IPs are the server's addresses, with prefix length ("10.0.0.2/24").
	IPs     []string `json:"ips"`
	Subnets []Subnet `json:"subnets"`
	Leases  []Lease  `json:"leases"`
	// Metadata: serve 169.254.169.254 from this namespace (the subnets'
	// clients get a host route to it through the DHCP server's address).
	Metadata bool `json:"metadata"`
}

// Subnet is what DHCP tells clients about a subnet.
type Subnet struct {
	ID      string   `json:"id"`
	CIDR    string   `json:"cidr"`
	Gateway string   `json:"gateway,omitempty"`
	DNS     []string `json:"dns,omitempty"`
	Routes  []Route  `json:"routes,omitempty"`
}

// Route is a host route.
type Route struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nexthop"`
}

// Lease is one static DHCP lease.
type Lease struct {
	MAC      string `json:"mac"`
	IP       string `json:"ip"`
	Hostname string `json:"hostname,omitempty"`
	// InstanceID is the port's device, for the metadata proxy, which
	// names the instance asking by its source address.
	InstanceID string `json:"instance_id,omitempty"`
}

// Port is an instance's port on this host: a tap device on its network's
// bridge, the port's MAC, and its filter.
type Port struct {
	ID        string `json:"id"`
	NetworkID string `json:"network_id"`
	// Device is the tap's name ("tap" and the id's first 11 characters,
	// as Neutron names them), which the domain XML names too.
	Device     string   `json:"device"`
	MAC        string   `json:"mac"`
	IPs        []string `json:"ips"`
	InstanceID string   `json:"instance_id"`
	// PortSecurity off: no anti-spoofing and no security groups.
	PortSecurity bool          `json:"port_security"`
	AddressPairs []AddressPair `json:"address_pairs,omitempty"`
	Groups       []string      `json:"groups,omitempty"`
}

// AddressPair is an extra address (and MAC) a port may send from.
type AddressPair struct {
	IP  string `json:"ip"` // an address or a CIDR
	MAC string `json:"mac"`
}

// Group is a security group with its rules.
type Group struct {
	ID    string `json:"id"`
	Rules []Rule `json:"rules"`
}

// Rule is one security group rule. Remote groups are resolved by the
// controller into RemoteIPs (the members' addresses); an empty remote
// means any address.
type Rule struct {
	Direction string `json:"direction"` // ingress, egress
	Ethertype string `json:"ethertype"` // IPv4, IPv6
	// Protocol is "" (any), "tcp", "udp", "icmp", "icmpv6" or a number.
	Protocol string `json:"protocol,omitempty"`
	// PortMin/PortMax: TCP/UDP port range; for ICMP the type and code.
	PortMin    *int     `json:"port_min,omitempty"`
	PortMax    *int     `json:"port_max,omitempty"`
	RemoteCIDR string   `json:"remote_cidr,omitempty"`
	RemoteIPs  []string `json:"remote_ips,omitempty"`
	// RemoteGroup is kept for reading; RemoteIPs is what is enforced.
	RemoteGroup string `json:"remote_group,omitempty"`
}

// Router is a router namespace: an interface on each attached subnet, an
// external gateway with SNAT, and NAT for floating IPs.
type Router struct {
	ID         string            `json:"id"`
	Interfaces []RouterInterface `json:"interfaces"`
	Gateway    *Gateway          `json:"gateway,omitempty"`
	Routes     []Route           `json:"routes,omitempty"`
	Floating   []FloatingIP      `json:"floating,omitempty"`
}

// RouterInterface is a router's port on an internal network.
type RouterInterface struct {
	PortID    string `json:"port_id"`
	NetworkID string `json:"network_id"`
	MAC       string `json:"mac"`
	// IP with prefix length: the subnet's gateway ("10.0.0.1/24").
	IP string `json:"ip"`
}

// Gateway is a router's port on an external network.
type Gateway struct {
	PortID    string `json:"port_id"`
	NetworkID string `json:"network_id"`
	MAC       string `json:"mac"`
	IP        string `json:"ip"` // with prefix length
	// NextHop is the external subnet's gateway (the default route).
	NextHop string `json:"nexthop,omitempty"`
	SNAT    bool   `json:"snat"`
}

// FloatingIP maps a public address to a port's fixed address.
type FloatingIP struct {
	IP      string `json:"ip"`
	FixedIP string `json:"fixed_ip"`
}

// TapDevice is the host's tap device name for a port ("tap" and the id's
// first 11 characters, as Neutron's Linux bridge agent names them): the
// controller names a port's device with it in documents, build jobs and
// network_data.json, and the agent its service ports' devices.
func TapDevice(portID string) string {
	if len(portID) > 11 {
		portID = portID[:11]
	}
	return TapPrefix + portID
}

// TapPrefix begins every port's tap device name.
const TapPrefix = "tap"
