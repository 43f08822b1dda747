package model

import "time"

// Network is a Neutron network with its segment.
type Network struct {
	ID           string
	ProjectID    string
	Name         string
	Description  string
	AdminStateUp bool
	Shared       bool
	External     bool
	IsDefault    bool
	MTU          int
	PortSecurity bool
	// Segment (provider attributes): local, flat, vlan or vxlan.
	NetworkType     string
	PhysicalNetwork string
	SegmentationID  int
	Subnets         []string // subnet ids, oldest first
	Revision        int
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// AllocationPool is a range of addresses IPAM hands out, both ends in.
type AllocationPool struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// HostRoute is a route DHCP gives a subnet's clients.
type HostRoute struct {
	Destination string `json:"destination"`
	NextHop     string `json:"nexthop"`
}

// Subnet is an address block on a network.
type Subnet struct {
	ID          string
	NetworkID   string
	ProjectID   string
	Name        string
	Description string
	IPVersion   int
	CIDR        string
	GatewayIP   string // "" when the subnet has no gateway
	EnableDHCP  bool
	Pools       []AllocationPool
	DNS         []string
	HostRoutes  []HostRoute
	Revision    int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// FixedIP is one of a port's addresses.
type FixedIP struct {
	SubnetID  string `json:"subnet_id"`
	IPAddress string `json:"ip_address"`
}

// AddressPair is an extra address (and MAC) a port may send from.
type AddressPair struct {
	IPAddress  string `json:"ip_address"`
	MACAddress string `json:"mac_address"`
}

// Port device owners Neutron uses.
const (
	OwnerDHCP            = "network:dhcp"
	OwnerRouterInterface = "network:router_interface"
	OwnerRouterGateway   = "network:router_gateway"
	OwnerFloatingIP      = "network:floatingip"
	// OwnerCompute prefixes an instance's port owner ("compute:nova",
	// the zone after the colon).
	OwnerCompute = "compute:"
)

// Port statuses.
const (
	PortActive = "ACTIVE"
	PortDown   = "DOWN"
	PortBuild  = "BUILD"
)

// Port is a network attachment: an instance's NIC, a DHCP server, a
// router interface or gateway, a floating IP's address.
type Port struct {
	ID             string
	NetworkID      string
	ProjectID      string
	Name           string
	Description    string
	MACAddress     string
	AdminStateUp   bool
	Status         string
	DeviceID       string
	DeviceOwner    string
	PortSecurity   bool
	AddressPairs   []AddressPair
	Host           string
	FixedIPs       []FixedIP
	SecurityGroups []string
	Revision       int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SecurityGroup is a set of rules ports share.
type SecurityGroup struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	IsDefault   bool
	Stateful    bool
	Rules       []SecurityGroupRule
	Revision    int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SecurityGroupRule allows one kind of traffic in or out.
type SecurityGroupRule struct {
	ID             string
	GroupID        string
	ProjectID      string
	Direction      string // ingress, egress
	Ethertype      string // IPv4, IPv6
	Protocol       string // "" is any
	PortRangeMin   *int
	PortRangeMax   *int
	RemoteIPPrefix string
	RemoteGroupID  string
	Description    string
	Revision       int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Router joins subnets and, through its gateway, an external network.
type Router struct {
	ID           string
	ProjectID    string
	Name         string
	Description  string
	AdminStateUp bool
	GatewayNetID string // "" without a gateway
	GatewayPort  string
	EnableSNAT   bool
	// GatewayIPs are the gateway port's addresses.
	GatewayIPs []FixedIP
	Routes     []HostRoute
	Host       string
	Revision   int
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// FloatingIP is an external address mapped to a port's fixed address.
type FloatingIP struct {
	ID             string
	ProjectID      string
	Description    string
	NetworkID      string
	FloatingPortID string
	Address        string
	PortID         string
	FixedIP        string
	RouterID       string
	Revision       int
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Status is the floating IP's: ACTIVE while mapped, DOWN otherwise.
func (f FloatingIP) Status() string {
	if f.PortID != "" {
		return "ACTIVE"
	}
	return "DOWN"
}

// NIC is one of an instance's network interfaces, as its network info
// cache (instances.network_info) holds it.
type NIC struct {
	PortID      string `json:"port_id"`
	NetworkID   string `json:"network_id"`
	NetworkName string `json:"network_name"`
	MAC         string `json:"mac"`
	MTU         int    `json:"mtu"`
	// Created: Nova made the port for this instance and deletes it with
	// it; a port the user gave is only unbound.
	Created bool         `json:"created"`
	IPs     []NICAddress `json:"ips"`
	// Groups are the port's security groups, by name.
	Groups []string `json:"groups,omitempty"`
}

// NICAddress is an address of a NIC: fixed, or a floating IP mapped to it.
type NICAddress struct {
	Address string `json:"addr"`
	Version int    `json:"version"`
	Type    string `json:"type"` // fixed, floating
}
