package datapath

import (
	"strconv"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// Linux interface names hold at most 15 characters (IFNAMSIZ - 1).
const maxIfName = 15

// Name prefixes, as Neutron's linuxbridge agent and its DHCP and L3
// agents name things, so an operator used to Neutron finds their way.
const (
	bridgePrefix   = "brq"
	tapPrefix      = netspec.TapPrefix
	vxlanPrefix    = "vxlan-"
	dhcpIfPrefix   = "ns-"
	routerIfPrefix = "qr-"
	gwIfPrefix     = "qg-"
	dhcpNSPrefix   = "qdhcp-"
	routerNSPrefix = "qrouter-"
	// natTable is the router namespace's NAT table (the namespace is
	// all ours, so it needs no prefix).
	natTable = "nimbus-nat"
)

// short is the first 11 characters of an id, Neutron's device suffix.
func short(id string) string {
	if len(id) > 11 {
		return id[:11]
	}
	return id
}

func bridgeName(networkID string) string { return bridgePrefix + short(networkID) }
func tapName(portID string) string       { return netspec.TapDevice(portID) }
func dhcpIfName(portID string) string    { return dhcpIfPrefix + short(portID) }
func routerIfName(portID string) string  { return routerIfPrefix + short(portID) }
func gwIfName(portID string) string      { return gwIfPrefix + short(portID) }
func vxlanName(vni int) string           { return vxlanPrefix + strconv.Itoa(vni) }

// vlanName is "<phys>.<vid>", the physical interface's name cut so the
// whole fits in 15 characters.
func vlanName(phys string, vid int) string {
	suffix := "." + strconv.Itoa(vid)
	if len(phys)+len(suffix) > maxIfName {
		phys = phys[:maxIfName-len(suffix)]
	}
	return phys + suffix
}

func (d *Datapath) dhcpNS(networkID string) string {
	return d.cfg.NamePrefix + dhcpNSPrefix + networkID
}
func (d *Datapath) routerNS(routerID string) string {
	return d.cfg.NamePrefix + routerNSPrefix + routerID
}

// filterTable is the name of our filter tables (bridge and inet).
func (d *Datapath) filterTable() string { return d.cfg.NamePrefix + "nimbus" }

// nsKind says which kind of namespace of ours name is (dhcpNSPrefix or
// routerNSPrefix) and for which id; "" for any other namespace.
func (d *Datapath) nsKind(name string) (kind, id string) {
	for _, k := range []string{dhcpNSPrefix, routerNSPrefix} {
		if rest, ok := strings.CutPrefix(name, d.cfg.NamePrefix+k); ok && rest != "" {
			return k, rest
		}
	}
	return "", ""
}
