// Package metadata is what a guest learns about itself, in OpenStack's
// formats: meta_data.json and network_data.json (the same on the config
// drive the agent writes and from the metadata service the controller
// serves at 169.254.169.254), and the EC2-style tree cloud-init reads.
// One home for both, so a guest sees the same answers either way.
package metadata

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/netspec"
)

// Instance is what the documents say about an instance.
type Instance struct {
	ID, Name, Hostname, AZ, ProjectID string
	LaunchIndex                       int
	Meta                              map[string]string
	KeyName, KeyData                  string
	// AdminPass is a rescue system's password (config drive only).
	AdminPass string
	NICs      []NIC
}

// NIC is a network interface as network_data.json describes it.
type NIC struct {
	PortID, NetworkID, MAC string
	MTU                    int
	// FixedIPs and FloatingIPs are the NIC's addresses (IPv4 first).
	FixedIPs, FloatingIPs []string
}

// MetaData is openstack/<version>/meta_data.json.
func MetaData(in Instance) map[string]any {
	meta := in.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	host := in.Hostname
	if host == "" {
		host = in.Name
	}
	md := map[string]any{
		"uuid": in.ID, "name": in.Name, "hostname": host, "launch_index": in.LaunchIndex,
		"availability_zone": in.AZ, "project_id": in.ProjectID, "meta": meta,
		"public_keys": map[string]string{}, "devices": []any{},
	}
	if in.KeyName != "" && in.KeyData != "" {
		md["public_keys"] = map[string]string{in.KeyName: in.KeyData}
		md["keys"] = []map[string]string{{"name": in.KeyName, "type": "ssh", "data": in.KeyData}}
	}
	if in.AdminPass != "" {
		md["admin_pass"] = in.AdminPass
	}
	return md
}

// NetworkData is openstack/<version>/network_data.json: a link per NIC
// (the tap's name as its id, as Nova), each configured by DHCP.
func NetworkData(nics []NIC) map[string]any {
	links, networks := []map[string]any{}, []map[string]any{}
	for i, n := range nics {
		link := netspec.TapDevice(n.PortID)
		links = append(links, map[string]any{"id": link, "vif_id": n.PortID, "type": "bridge",
			"ethernet_mac_address": n.MAC, "mtu": n.MTU})
		networks = append(networks, map[string]any{"id": fmt.Sprintf("network%d", i), "type": "ipv4_dhcp",
			"link": link, "network_id": n.NetworkID})
	}
	return map[string]any{"links": links, "networks": networks, "services": []any{}}
}

func first(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Versions are the OpenStack metadata versions served, oldest first.
var Versions = []string{"2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30", "2016-10-06",
	"2017-02-22", "2018-08-27", "2020-10-14", "latest"}

// EC2Versions are the EC2-style versions served.
var EC2Versions = []string{"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
	"2008-09-01", "2009-04-04", "latest"}

// EC2 is the EC2-style meta-data tree: a leaf is a string, a directory a
// map (listed with a trailing slash, as EC2's index).
func EC2(in Instance) map[string]any {
	local, public := "", ""
	for _, n := range in.NICs {
		if local == "" && len(n.FixedIPs) > 0 {
			local = n.FixedIPs[0]
		}
		if public == "" && len(n.FloatingIPs) > 0 {
			public = n.FloatingIPs[0]
		}
	}
	host := in.Hostname
	if host == "" {
		host = in.Name
	}
	tree := map[string]any{
		"ami-id": "ami-00000001", "ami-launch-index": fmt.Sprint(in.LaunchIndex), "ami-manifest-path": "FIXME",
		"hostname": host, "instance-action": "none", "instance-id": ec2ID(in.ID), "instance-type": "",
		"local-hostname": host, "local-ipv4": local, "public-hostname": host, "public-ipv4": public,
		"placement":       map[string]any{"availability-zone": in.AZ},
		"reservation-id":  "r-" + first(in.ID, 8),
		"security-groups": "default",
	}
	if in.KeyName != "" && in.KeyData != "" {
		tree["public-keys"] = map[string]any{"0": map[string]any{"openssh-key": in.KeyData}}
	}
	return tree
}

// ec2ID is an EC2-style id for an instance (Nova's i-%08x of its row id;
// Nimbus has no row ids, so the uuid's first 8 hex digits).
func ec2ID(id string) string { return "i-" + strings.ReplaceAll(first(id, 8), "-", "") }

// EC2Lookup walks tree along path ("public-keys/0/openssh-key") and
// returns the leaf, or a directory's listing; false when nothing is there.
// public-keys lists as "0=<key name>", as EC2.
func EC2Lookup(tree map[string]any, path, keyName string) (string, bool) {
	var node any = tree
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if path == "" || strings.Trim(path, "/") == "" {
		parts = nil
	}
	for i, p := range parts {
		dir, ok := node.(map[string]any)
		if !ok {
			return "", false
		}
		if i > 0 && parts[i-1] == "public-keys" && strings.Contains(p, "=") {
			p = p[:strings.Index(p, "=")]
		}
		if node, ok = dir[p]; !ok {
			return "", false
		}
	}
	switch v := node.(type) {
	case string:
		return v, true
	case map[string]any:
		names := make([]string, 0, len(v))
		for k, child := range v {
			if len(parts) > 0 && parts[len(parts)-1] == "public-keys" {
				names = append(names, k+"="+keyName)
				continue
			}
			if _, dir := child.(map[string]any); dir {
				k += "/"
			}
			names = append(names, k)
		}
		sort.Strings(names)
		return strings.Join(names, "\n"), true
	}
	return "", false
}
