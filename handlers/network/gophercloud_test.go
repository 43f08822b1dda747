package network_test

import (
	"context"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/routers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/subnets"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestGophercloudFlow is what Terraform's OpenStack provider does, through
// gophercloud (the SDK it is built on): network, subnet, router with the
// cloud's external gateway and an interface, a port with a chosen
// address, a server on that port, a floating IP on the port; read back;
// then destroyed in Terraform's order, leaving nothing behind.
func TestGophercloudFlow(t *testing.T) {
	tc := controllertest.New(t, map[string]string{"NIMBUS_PUBLIC_NETWORK": "172.24.4.0/24"})
	tc.StartAgent(t, "gc-host")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: tc.URL + "/identity/v3",
		Username: "demo", Password: tc.DemoPass, DomainName: "Default", TenantName: "demo"})
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	ep := gophercloud.EndpointOpts{Region: "RegionOne"}
	netc, err := openstack.NewNetworkV2(provider, ep)
	if err != nil {
		t.Fatalf("network client: %v", err)
	}
	comp, err := openstack.NewComputeV2(provider, ep)
	if err != nil {
		t.Fatalf("compute client: %v", err)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	pages, err := networks.List(netc, networks.ListOpts{Name: "public"}).AllPages(ctx)
	must("list networks", err)
	pubs, err := networks.ExtractNetworks(pages)
	must("extract networks", err)
	if len(pubs) != 1 {
		t.Fatalf("public networks: %v", pubs)
	}
	net, err := networks.Create(ctx, netc, networks.CreateOpts{Name: "tf-net"}).Extract()
	must("create network", err)
	sub, err := subnets.Create(ctx, netc, subnets.CreateOpts{NetworkID: net.ID, CIDR: "10.60.0.0/24", IPVersion: gophercloud.IPv4,
		Name: "tf-sub", DNSNameservers: []string{"192.0.2.53"}}).Extract()
	must("create subnet", err)
	r, err := routers.Create(ctx, netc, routers.CreateOpts{Name: "tf-router", GatewayInfo: &routers.GatewayInfo{NetworkID: pubs[0].ID}}).Extract()
	must("create router", err)
	_, err = routers.AddInterface(ctx, netc, r.ID, routers.AddInterfaceOpts{SubnetID: sub.ID}).Extract()
	must("add router interface", err)
	port, err := ports.Create(ctx, netc, ports.CreateOpts{NetworkID: net.ID, Name: "tf-port",
		FixedIPs: []ports.IP{{SubnetID: sub.ID, IPAddress: "10.60.0.20"}}}).Extract()
	must("create port", err)
	srv, err := servers.Create(ctx, comp, servers.CreateOpts{Name: "tf-vm", FlavorRef: "1", ImageRef: img,
		Networks: []servers.Network{{Port: port.ID}}}, nil).Extract()
	must("create server", err)
	must("wait ACTIVE", servers.WaitForStatus(ctx, comp, srv.ID, "ACTIVE"))
	fip, err := floatingips.Create(ctx, netc, floatingips.CreateOpts{FloatingNetworkID: pubs[0].ID, PortID: port.ID}).Extract()
	must("create floating IP", err)
	if fip.FixedIP != "10.60.0.20" || fip.RouterID != r.ID {
		t.Errorf("floating IP: %+v", fip)
	}

	// Read back, as terraform refresh does.
	got, err := servers.Get(ctx, comp, srv.ID).Extract()
	must("get server", err)
	addrs, ok := got.Addresses["tf-net"].([]any)
	if !ok || len(addrs) != 2 {
		t.Errorf("server addresses: %v", got.Addresses)
	}
	p, err := ports.Get(ctx, netc, port.ID).Extract()
	must("get port", err)
	if p.DeviceID != srv.ID {
		t.Errorf("port's device: %q, want the server", p.DeviceID)
	}

	// Destroy in Terraform's order.
	must("delete floating IP", floatingips.Delete(ctx, netc, fip.ID).ExtractErr())
	must("delete server", servers.Delete(ctx, comp, srv.ID).ExtractErr())
	controllertest.WaitFor(t, time.Minute, "the server gone", func() bool {
		_, err := servers.Get(ctx, comp, srv.ID).Extract()
		return gophercloud.ResponseCodeIs(err, 404)
	})
	must("delete port", ports.Delete(ctx, netc, port.ID).ExtractErr())
	_, err = routers.RemoveInterface(ctx, netc, r.ID, routers.RemoveInterfaceOpts{SubnetID: sub.ID}).Extract()
	must("remove router interface", err)
	must("delete router", routers.Delete(ctx, netc, r.ID).ExtractErr())
	must("delete subnet", subnets.Delete(ctx, netc, sub.ID).ExtractErr())
	must("delete network", networks.Delete(ctx, netc, net.ID).ExtractErr())
	var left int
	if err := tc.Server.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM routers) + (SELECT count(*) FROM floating_ips) +
		(SELECT count(*) FROM ports WHERE network_id <> $1)`, pubs[0].ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("after destroy, %d routers, floating IPs and ports remain (%v)", left, err)
	}
}
