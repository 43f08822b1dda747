package views

// Project > Networks, Routers, Security Groups, Floating IPs and Network
// Topology.

// NetworkList is Project > Networks.
type NetworkList struct {
	Page
	Networks []NetworkRow
	Form     Form
}

// NetworkRow is one network.
type NetworkRow struct {
	ID, Name, Status string
	Subnets          []string // CIDRs
	Shared, External bool
	Own              bool // the project's: it may delete it
}

// NetworkDetail is one network with its subnets and ports.
type NetworkDetail struct {
	Page
	Network NetworkRow
	Subnets []SubnetRow
	Ports   []PortRow
	Form    Form
}

// SubnetRow is one subnet.
type SubnetRow struct {
	ID, Name, CIDR, Gateway, Pools string
	DHCP                           bool
}

// PortRow is one port.
type PortRow struct {
	ID, Name, MAC, IPs, Owner, Device, Status string
}

// RouterList is Project > Routers.
type RouterList struct {
	Page
	Routers  []RouterRow
	External []Ref // networks a gateway may be on
	Form     Form
}

// RouterRow is one router.
type RouterRow struct {
	ID, Name, Status, Gateway, GatewayIP string
	Interfaces                           int
}

// RouterDetail is one router with its interfaces.
type RouterDetail struct {
	Page
	Router     RouterRow
	Interfaces []PortRow
	Subnets    []Ref // subnets an interface may be added on
	External   []Ref
}

// SecurityGroupList is Project > Security Groups.
type SecurityGroupList struct {
	Page
	Groups []SecurityGroupRow
	Form   Form
}

// SecurityGroupRow is one security group.
type SecurityGroupRow struct {
	ID, Name, Description string
	Rules                 int
	Default               bool
}

// SecurityGroupDetail is one group's rules and the rule editor.
type SecurityGroupDetail struct {
	Page
	Group   SecurityGroupRow
	Rules   []RuleRow
	Presets []string
	Groups  []Ref // remote groups
	Form    Form
}

// RuleRow is one rule, worded for people.
type RuleRow struct {
	ID, Direction, Ethertype, Protocol, Ports, Remote string
}

// FloatingIPList is Project > Floating IPs.
type FloatingIPList struct {
	Page
	IPs     []FloatingIPRow
	Pools   []Ref // external networks
	Targets []Ref // instance ports a floating IP may be mapped to ("server: address")
	Form    Form
}

// FloatingIPRow is one floating IP.
type FloatingIPRow struct {
	ID, Address, Pool, MappedTo, Status string
}

// Topology is Project > Network Topology: networks as columns, routers
// and instances joined to them, drawn as server-rendered SVG.
type Topology struct {
	Page
	Width, Height int
	Networks      []TopoNetwork
	Nodes         []TopoNode
	Links         []TopoLink
}

// TopoNetwork is a network's bar.
type TopoNetwork struct {
	Name, CIDRs string
	X, Y, H     int
	External    bool
}

// TopoNode is a router or an instance.
type TopoNode struct {
	Name, Kind, Href string
	X, Y             int
}

// TopoLink joins a node to a network bar.
type TopoLink struct {
	X1, Y1, X2, Y2 int
	Label          string
}

// AdminNetworkList is Admin > Networks: every project's networks with
// their segments, and a form making a provider (external, shared) one.
type AdminNetworkList struct {
	Page
	Networks []AdminNetworkRow
	Types    []string
	Form     Form
}

// AdminNetworkRow is one network as an admin sees it.
type AdminNetworkRow struct {
	ID, Name, Project, Type, PhysicalNetwork, Segment, Subnets string
	External, Shared                                           bool
}
