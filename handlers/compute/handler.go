// Package compute serves the Nova v2.1 API at /compute: version documents,
// microversion negotiation, Nova's error shapes, and one file per
// resource.
package compute

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// MinVersion and MaxVersion bound the microversions served. Every
// behaviour a version in this range promises for the resources here is
// implemented; raise MaxVersion only with the changes it brings.
var (
	MinVersion = Version{Major: 2, Minor: 1}
	MaxVersion = Version{Major: 2, Minor: 56}
)

// Version is a compute API microversion.
type Version = api.Version

// Handler serves the Compute API.
type Handler struct {
	svc       *compute.Service
	log       *slog.Logger
	publicURL string
	auth      fiber.Handler
	rendered  *renderedServers
}

// New returns a Handler.
func New(svc *compute.Service, v api.Validator, log *slog.Logger, publicURL string) *Handler {
	return &Handler{svc: svc, log: log.With("component", "compute-api"), publicURL: publicURL, auth: api.Authenticate(v),
		rendered: newRenderedServers(50000)}
}

// Register mounts the API.
func (h *Handler) Register(r fiber.Router) {
	r.Get("/compute", h.versions)
	r.Get("/compute/", h.versions)
	v := r.Group("/compute/v2.1", h.microversion)
	v.Get("/", h.version)
	a := v.Group("", h.auth)
	a.Get("/flavors", h.listFlavors(false))
	a.Get("/flavors/detail", h.listFlavors(true))
	a.Post("/flavors", h.createFlavor)
	a.Get("/flavors/:id", h.showFlavor)
	a.Put("/flavors/:id", h.updateFlavor)
	a.Delete("/flavors/:id", h.deleteFlavor)
	a.Get("/flavors/:id/os-extra_specs", h.listExtraSpecs)
	a.Post("/flavors/:id/os-extra_specs", h.createExtraSpecs)
	a.Get("/flavors/:id/os-extra_specs/:key", h.showExtraSpec)
	a.Put("/flavors/:id/os-extra_specs/:key", h.updateExtraSpec)
	a.Delete("/flavors/:id/os-extra_specs/:key", h.deleteExtraSpec)
	a.Get("/flavors/:id/os-flavor-access", h.listFlavorAccess)
	a.Post("/flavors/:id/action", h.flavorAction)
	h.registerServerGroups(a)
	h.registerMigrations(a)
	h.registerAggregates(a)
	a.Post("/servers", h.createServer)
	a.Get("/servers", h.listServers(false))
	a.Get("/servers/detail", h.listServers(true))
	a.Get("/servers/:id", h.showServer)
	a.Put("/servers/:id", h.updateServer)
	a.Delete("/servers/:id", h.deleteServer)
	a.Post("/servers/:id/action", h.serverAction)
	a.Post("/servers/:id/remote-consoles", h.remoteConsole)
	a.Get("/servers/:id/os-instance-actions", h.listActions)
	a.Get("/servers/:id/os-instance-actions/:req", h.showAction)
	a.Get("/servers/:id/ips", h.serverIPs)
	a.Get("/servers/:id/diagnostics", h.serverDiagnostics)
	a.Get("/os-simple-tenant-usage", h.listUsage)
	a.Get("/os-simple-tenant-usage/:tenant", h.showUsage)
	a.Get("/servers/:id/ips/:network", h.serverNetworkIPs)
	a.Get("/servers/:id/os-security-groups", h.serverSecurityGroups)
	h.registerInterfaces(a)
	h.registerVolumes(a)
	h.registerMetadata(a)
	a.Get("/limits", h.limits)
	a.Get("/os-quota-sets/:project", h.showQuotas(false))
	a.Get("/os-quota-sets/:project/detail", h.showQuotas(true))
	a.Get("/os-quota-sets/:project/defaults", h.defaultQuotas)
	a.Put("/os-quota-sets/:project", h.updateQuotas)
	a.Delete("/os-quota-sets/:project", h.resetQuotas)
	a.Get("/os-hypervisors", h.listHypervisors(false))
	a.Get("/os-hypervisors/detail", h.listHypervisors(true))
	a.Get("/os-hypervisors/statistics", h.hypervisorStats)
	a.Get("/os-hypervisors/:id", h.showHypervisor)
	a.Get("/os-hypervisors/:id/search", h.searchHypervisors(false))
	a.Get("/os-hypervisors/:id/servers", h.searchHypervisors(true))
	a.Get("/os-services", h.listServices)
	a.Put("/os-services/:action", h.updateService)
	a.Get("/os-availability-zone", h.availabilityZones(false))
	a.Get("/os-availability-zone/detail", h.availabilityZones(true))
	a.Get("/os-keypairs", h.listKeyPairs)
	a.Post("/os-keypairs", h.createKeyPair)
	a.Get("/os-keypairs/:name", h.showKeyPair)
	a.Delete("/os-keypairs/:name", h.deleteKeyPair)
}

type localKey int

const keyVersion localKey = iota

// microversion reads OpenStack-API-Version (or the older
// X-OpenStack-Nova-API-Version), refuses versions outside the range with
// 406, and says which version answered.
func (h *Handler) microversion(c *fiber.Ctx) error {
	v := MinVersion
	raw := ""
	if hdr := c.Get("OpenStack-API-Version"); hdr != "" {
		for _, part := range strings.Split(hdr, ",") {
			svc, val, _ := strings.Cut(strings.TrimSpace(part), " ")
			if strings.EqualFold(svc, "compute") {
				raw = strings.TrimSpace(val)
			}
		}
	} else if hdr := c.Get("X-OpenStack-Nova-API-Version"); hdr != "" {
		raw = hdr
	}
	if raw != "" {
		if strings.EqualFold(raw, "latest") {
			v = MaxVersion
		} else {
			p, ok := api.ParseVersion(raw)
			if !ok {
				return fault.Invalid("OpenStack-API-Version", "Version %s is not a valid compute microversion", raw)
			}
			if !p.AtLeast(MinVersion.Major, MinVersion.Minor) || !MaxVersion.AtLeast(p.Major, p.Minor) {
				return &versionError{raw}
			}
			v = p
		}
	}
	c.Locals(keyVersion, v)
	c.Set("X-Compute-Request-Id", api.ReqID(c)) // Nova's name for x-openstack-request-id, which clients read
	c.Set("OpenStack-API-Version", "compute "+v.String())
	c.Set("X-OpenStack-Nova-API-Version", v.String())
	c.Set(fiber.HeaderVary, "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
	return c.Next()
}

type versionError struct{ asked string }

func (e *versionError) Error() string {
	return fmt.Sprintf("Version %s is not supported by the API. Minimum is %s and maximum is %s.", e.asked, MinVersion, MaxVersion)
}

func version(c *fiber.Ctx) Version {
	v, ok := c.Locals(keyVersion).(Version)
	if !ok {
		return MinVersion
	}
	return v
}

func (h *Handler) versionDoc() fiber.Map {
	return fiber.Map{
		"id": "v2.1", "status": "CURRENT", "version": MaxVersion.String(), "min_version": MinVersion.String(),
		"updated": "2013-07-23T11:33:21Z",
		"links":   []fiber.Map{{"rel": "self", "href": h.publicURL + "/compute/v2.1/"}},
		"media-types": []fiber.Map{{"base": "application/json",
			"type": "application/vnd.openstack.compute+json;version=2.1"}},
	}
}

func (h *Handler) versions(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"versions": []fiber.Map{h.versionDoc()}})
}

func (h *Handler) version(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"version": h.versionDoc()})
}

// WriteError renders err as Nova does: {"itemNotFound": {"code": 404,
// "message": "..."}}. 401s keep keystonemiddleware's shape.
func (h *Handler) WriteError(c *fiber.Ctx, err error) error {
	var ve *versionError
	if errors.As(err, &ve) {
		return c.Status(fiber.StatusNotAcceptable).JSON(fiber.Map{"computeFault": fiber.Map{
			"code": fiber.StatusNotAcceptable, "message": ve.Error()}})
	}
	status := api.Status(err)
	if status == fiber.StatusUnauthorized {
		return api.WriteError(c, h.log, err)
	}
	api.Prepare(c, h.log, err, status)
	key := map[int]string{400: "badRequest", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
		409: "conflictingRequest", 413: "overLimit", 429: "overLimit", 501: "notImplemented", 503: "serviceUnavailable"}[status]
	if key == "" {
		key = "computeFault"
	}
	return c.Status(status).JSON(fiber.Map{key: fiber.Map{"code": status, "message": message(err, status)}})
}

// message strips the sentinel suffixes our errors carry (": not found"),
// leaving the sentence meant for the caller.
func message(err error, status int) string {
	msg := api.Message(err, status)
	for _, s := range []error{fault.ErrNotFound, fault.ErrConflict, fault.ErrForbidden} {
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	return msg
}

// decode reads a JSON body into v, refusing malformed JSON with 400.
func decode(c *fiber.Ctx, v any) error {
	if len(c.Body()) == 0 {
		return fault.Invalid("", "The request body is empty")
	}
	if err := json.Unmarshal(c.Body(), v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fault.Invalid(te.Field, "Invalid input for field/attribute %s.", te.Field)
		}
		return fault.Invalid("", "Malformed request body")
	}
	return nil
}

// empty answers status with no body, as Nova's 202s (and the 200 of an
// extra spec's delete) have: fiber's SendStatus would write the status
// text ("Accepted") as the body, which clients try to read as JSON.
func empty(c *fiber.Ctx, status int) error {
	c.Status(status)
	return nil
}
