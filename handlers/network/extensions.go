package network

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	netsvc "github.com/nimbus-cloud/nimbus/internal/network"
)

// extensions are exactly the Neutron API extensions this API implements:
// clients (openstacksdk, tempest, Nova) decide what to send from this list.
var extensions = []struct{ alias, name, description string }{
	{"security-group", "security-group", "The security groups extension."},
	{"router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."},
	{"ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"},
	{"extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"},
	{"external-net", "Neutron external network", "Adds external network attribute to network resource."},
	{"provider", "Provider Network", "Expose mapping of virtual networks to physical networks"},
	{"quotas", "Quota management support", "Expose functions for quotas management per project"},
	{"quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project"},
	{"allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"},
	{"port-security", "Port Security", "Provides port security"},
	{"binding", "Port Binding", "Expose port bindings of a virtual port to external application"},
	{"net-mtu", "Network MTU", "Provides MTU attribute for a network resource."},
	{"standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"},
	{"standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."},
	{"standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."},
	{"project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."},
	{"pagination", "Pagination support", "Extension that indicates that pagination is enabled."},
	{"sorting", "Sorting support", "Extension that indicates that sorting is enabled."},
	{"stateful-security-group", "Stateful security group", "Indicates if the security group is stateful or not"},
}

func extensionJSON(i int) fiber.Map {
	e := extensions[i]
	return fiber.Map{"alias": e.alias, "name": e.name, "description": e.description,
		"updated": "2013-01-01T00:00:00-00:00", "links": []fiber.Map{}}
}

func (h *Handler) extensions(c *fiber.Ctx) error {
	out := make([]fiber.Map, len(extensions))
	for i := range extensions {
		out[i] = extensionJSON(i)
	}
	return c.JSON(fiber.Map{"extensions": out})
}

func (h *Handler) extension(c *fiber.Ctx) error {
	alias := api.Param(c, "alias")
	for i, e := range extensions {
		if e.alias == alias {
			return c.JSON(fiber.Map{"extension": extensionJSON(i)})
		}
	}
	return &netsvc.Error{Type: "HTTPNotFound", Err: fault.NotFound("Extension with alias %s does not exist", alias)}
}
