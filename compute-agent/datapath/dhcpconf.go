package datapath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// metadataAddr is the metadata service's address (Nova's and EC2's).
const metadataAddr = "169.254.169.254"

// dnsmasqConf is what one network's dnsmasq is started with and reads.
type dnsmasqConf struct {
	Args  []string // command line after "dnsmasq"
	Hosts string   // --dhcp-hostsfile: one static lease a line
	Opts  string   // --dhcp-optsfile: options per subnet tag
}

// hostnameRE is what dnsmasq takes as a host name in a hostsfile line.
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// dnsmasqConfig builds one network's dnsmasq configuration: static leases
// only (a range per IPv4 subnet, "static": no dynamic pool), the subnet's
// gateway, DNS servers and host routes, and with metadata a host route to
// 169.254.169.254 through the DHCP server's own address (Neutron's
// isolated metadata). Files live in dir; the server listens on iface.
// A bad lease or subnet is left out and reported.
func dnsmasqConfig(dir, iface string, dhcp netspec.DHCP, metadata bool, leaseTime time.Duration) (dnsmasqConf, error) {
	var errs []error
	c := dnsmasqConf{Args: []string{
		"--conf-file=", // nothing from /etc/dnsmasq.conf
		"--no-hosts", "--no-resolv", "--port=0",
		"--bind-interfaces", "--interface=" + iface, "--except-interface=lo",
		"--pid-file=" + filepath.Join(dir, "pid"),
		"--dhcp-hostsfile=" + filepath.Join(dir, "hosts"),
		"--dhcp-optsfile=" + filepath.Join(dir, "opts"),
		"--dhcp-leasefile=" + filepath.Join(dir, "leases"),
		"--log-facility=" + filepath.Join(dir, "log"),
		"--dhcp-authoritative",
	}}
	var servers []netip.Prefix
	for _, s := range dhcp.IPs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("dhcp address %q: %w", s, err))
			continue
		}
		servers = append(servers, p)
	}
	var subnets []netip.Prefix
	var opts strings.Builder
	for _, sn := range dhcp.Subnets {
		cidr, err := netip.ParsePrefix(sn.CIDR)
		if err != nil || !cidr.Addr().Is4() {
			// IPv6 subnets get no DHCPv6 here (SLAAC or nothing).
			if err != nil {
				errs = append(errs, fmt.Errorf("subnet %s: bad cidr %q", sn.ID, sn.CIDR))
			}
			continue
		}
		cidr = cidr.Masked()
		subnets = append(subnets, cidr)
		tag := "subnet-" + sn.ID
		if strings.ContainsAny(sn.ID, ", \n") {
			errs = append(errs, fmt.Errorf("subnet %q: bad id", sn.ID))
			continue
		}
		mask := net.IP(net.CIDRMask(cidr.Bits(), 32)).String()
		c.Args = append(c.Args, fmt.Sprintf("--dhcp-range=set:%s,%s,static,%s,%ds", tag, cidr.Addr(), mask, int(leaseTime.Seconds())))

		var routes []string // option 121 pairs: destination, next hop
		if metadata {
			for _, s := range servers {
				if cidr.Contains(s.Addr()) {
					routes = append(routes, metadataAddr+"/32", s.Addr().String())
					break
				}
			}
		}
		for _, r := range sn.Routes {
			dst, err1 := netip.ParsePrefix(r.Destination)
			hop, err2 := netip.ParseAddr(r.NextHop)
			if err1 != nil || err2 != nil || !dst.Addr().Is4() || !hop.Is4() {
				errs = append(errs, fmt.Errorf("subnet %s: bad route %s via %s", sn.ID, r.Destination, r.NextHop))
				continue
			}
			routes = append(routes, dst.Masked().String(), hop.String())
		}
		gw, gwErr := netip.ParseAddr(sn.Gateway)
		if sn.Gateway != "" && (gwErr != nil || !gw.Is4()) {
			errs = append(errs, fmt.Errorf("subnet %s: bad gateway %q", sn.ID, sn.Gateway))
		}
		hasGW := sn.Gateway != "" && gwErr == nil && gw.Is4()
		if hasGW {
			fmt.Fprintf(&opts, "tag:%s,option:router,%s\n", tag, gw)
		} else {
			fmt.Fprintf(&opts, "tag:%s,option:router\n", tag) // empty: send none
		}
		var dns []string
		for _, s := range sn.DNS {
			if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
				dns = append(dns, a.String())
			}
		}
		if len(dns) > 0 {
			fmt.Fprintf(&opts, "tag:%s,option:dns-server,%s\n", tag, strings.Join(dns, ","))
		}
		if len(routes) > 0 {
			// A client given option 121 ignores option 3 (RFC 3442), so
			// the default route goes in too.
			if hasGW {
				routes = append(routes, "0.0.0.0/0", gw.String())
			}
			list := strings.Join(routes, ",")
			fmt.Fprintf(&opts, "tag:%s,option:classless-static-route,%s\n", tag, list)
			fmt.Fprintf(&opts, "tag:%s,249,%s\n", tag, list) // Windows' older option
		}
	}

	var hosts strings.Builder
	for _, l := range dhcp.Leases {
		hw, err := net.ParseMAC(l.MAC)
		ip, ipErr := netip.ParseAddr(l.IP)
		if err != nil || ipErr != nil {
			errs = append(errs, fmt.Errorf("lease %s %s: bad address", l.MAC, l.IP))
			continue
		}
		if !ip.Is4() || !containsAny(subnets, ip) {
			continue
		}
		line := hw.String() + "," + ip.String()
		if hostnameRE.MatchString(l.Hostname) {
			line += "," + l.Hostname
		}
		hosts.WriteString(line + "\n")
	}
	c.Hosts, c.Opts = hosts.String(), opts.String()
	return c, errors.Join(errs...)
}

func containsAny(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
