// Package metadata serves the metadata service at /metadata, which the
// agents' proxies in each network's DHCP namespace forward 169.254.169.254
// to: Nova's OpenStack tree (meta_data.json, network_data.json,
// user_data) and the EC2-style tree cloud-init reads. A request names its
// instance in X-Instance-ID, signed by the proxy with the shared secret
// (X-Instance-ID-Signature, HMAC-SHA256, Nova's scheme); the proxy took
// the id from the DHCP lease of the request's source address, and the
// datapath drops spoofed sources, so one VM cannot read another's data.
package metadata

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	md "github.com/nimbus-cloud/nimbus/internal/metadata"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// Handler serves the metadata service.
type Handler struct {
	svc    *compute.Service
	secret []byte
	log    *slog.Logger
}

// New returns a Handler checking signatures made with secret.
func New(svc *compute.Service, secret string, log *slog.Logger) *Handler {
	return &Handler{svc: svc, secret: []byte(secret), log: log.With("component", "metadata")}
}

// Register mounts the service.
func (h *Handler) Register(r fiber.Router) {
	r.Get("/metadata", h.root)
	r.Get("/metadata/*", h.serve)
}

// WriteError answers in plain text, as Nova's metadata service.
func (h *Handler) WriteError(c *fiber.Ctx, err error) error {
	status := api.Status(err)
	api.Prepare(c, h.log, err, status)
	return c.Status(status).SendString(api.Message(err, status))
}

func (h *Handler) root(c *fiber.Ctx) error {
	return c.SendString(strings.Join(md.EC2Versions, "\n") + "\nopenstack")
}

// instance checks the proxy's signature and returns the instance it names.
func (h *Handler) instance(c *fiber.Ctx) (model.Instance, error) {
	id := c.Get("X-Instance-ID")
	sig, err := hex.DecodeString(c.Get("X-Instance-ID-Signature"))
	mac := hmac.New(sha256.New, h.secret)
	mac.Write([]byte(id))
	if id == "" || err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return model.Instance{}, fiber.NewError(fiber.StatusForbidden, "Invalid proxy request signature.")
	}
	in, err := h.svc.MetadataInstance(c.UserContext(), id)
	if err != nil {
		return in, err
	}
	// The source must be one of the instance's own fixed addresses.
	if src := c.Get("X-Forwarded-For"); src != "" {
		if !slices.ContainsFunc(in.NICs, func(n model.NIC) bool {
			return slices.ContainsFunc(n.IPs, func(a model.NICAddress) bool { return a.Type == "fixed" && a.Address == src })
		}) {
			return in, fault.NotFound("Instance %s has no address %s.", id, src)
		}
	}
	return in, nil
}

// about is what the documents say about in.
func about(in model.Instance) md.Instance {
	out := md.Instance{ID: in.ID, Name: in.Name, AZ: in.AvailabilityZone, ProjectID: in.ProjectID,
		LaunchIndex: in.LaunchIndex, Meta: in.Metadata, KeyName: in.KeyName, KeyData: in.KeyData}
	for _, n := range in.NICs {
		nic := md.NIC{PortID: n.PortID, NetworkID: n.NetworkID, MAC: n.MAC, MTU: n.MTU}
		for _, a := range n.IPs {
			if a.Type == "floating" {
				nic.FloatingIPs = append(nic.FloatingIPs, a.Address)
			} else {
				nic.FixedIPs = append(nic.FixedIPs, a.Address)
			}
		}
		out.NICs = append(out.NICs, nic)
	}
	return out
}

func (h *Handler) serve(c *fiber.Ctx) error {
	path := strings.Trim(api.Param(c, "*"), "/")
	in, err := h.instance(c)
	if err != nil {
		return err
	}
	a := about(in)
	switch {
	case path == "openstack":
		return c.SendString(strings.Join(md.Versions, "\n"))
	case strings.HasPrefix(path, "openstack/"):
		return h.openstack(c, a, in, strings.TrimPrefix(path, "openstack/"))
	}
	version, rest, _ := strings.Cut(path, "/")
	if !slices.Contains(md.EC2Versions, version) {
		return fault.NotFound("Not found: %s", path)
	}
	switch {
	case rest == "":
		return c.SendString("meta-data/\nuser-data")
	case rest == "user-data":
		return userData(c, in)
	case rest == "meta-data" || strings.HasPrefix(rest, "meta-data/"):
		v, ok := md.EC2Lookup(md.EC2(a), strings.TrimPrefix(strings.TrimPrefix(rest, "meta-data"), "/"), in.KeyName)
		if !ok {
			return fault.NotFound("Not found: %s", path)
		}
		return c.SendString(v)
	}
	return fault.NotFound("Not found: %s", path)
}

func (h *Handler) openstack(c *fiber.Ctx, a md.Instance, in model.Instance, path string) error {
	version, file, _ := strings.Cut(path, "/")
	if !slices.Contains(md.Versions, version) {
		return fault.NotFound("Not found: %s", path)
	}
	switch file {
	case "":
		return c.SendString("meta_data.json\nuser_data\nvendor_data.json\nvendor_data2.json\nnetwork_data.json")
	case "meta_data.json":
		return jsonAnswer(c, md.MetaData(a))
	case "network_data.json":
		return jsonAnswer(c, md.NetworkData(a.NICs))
	case "vendor_data.json", "vendor_data2.json":
		return jsonAnswer(c, map[string]any{})
	case "user_data":
		return userData(c, in)
	}
	return fault.NotFound("Not found: %s", path)
}

func jsonAnswer(c *fiber.Ctx, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}

func userData(c *fiber.Ctx, in model.Instance) error {
	if in.UserData == "" {
		return fault.NotFound("No user data")
	}
	b, err := base64.StdEncoding.DecodeString(in.UserData)
	if err != nil {
		return errors.New("stored user data is not base64")
	}
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	return c.Send(b)
}
