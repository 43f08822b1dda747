// Package volume serves the Block Storage API (Cinder v3) at /volume/v3:
// volumes, snapshots, volume types, quotas and limits, with Cinder's
// error bodies and microversion header. Paths with the project id
// (/volume/v3/{project_id}/volumes) and without it (3.67) both work.
package volume

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	volsvc "github.com/nimbus-cloud/nimbus/internal/volume"
)

// The microversions served. 3.42 (extend an attached volume) is refused
// by the service for now with Cinder's own 400 (docs/volumes.md).
var (
	MinVersion = Version{Major: 3, Minor: 0}
	MaxVersion = Version{Major: 3, Minor: 60}
)

// Version is a block storage microversion.
type Version = api.Version

// Handler serves the Block Storage API.
type Handler struct {
	svc       *volsvc.Service
	log       *slog.Logger
	publicURL string
	auth      fiber.Handler
}

// New returns a Handler.
func New(svc *volsvc.Service, v api.Validator, log *slog.Logger, publicURL string) *Handler {
	return &Handler{svc: svc, log: log.With("component", "volume-api"), publicURL: publicURL, auth: api.Authenticate(v)}
}

// Register mounts the API.
func (h *Handler) Register(r fiber.Router) {
	r.Get("/volume", h.versions)
	r.Get("/volume/", h.versions)
	v := r.Group("/volume/v3", stripProject, h.microversion)
	v.Get("/", h.version)
	a := v.Group("", h.auth)
	a.Get("/volumes", h.listVolumes(false))
	a.Get("/volumes/detail", h.listVolumes(true))
	a.Get("/volumes/summary", h.volumeSummary)
	a.Post("/volumes", h.createVolume)
	a.Get("/volumes/:id", h.showVolume)
	a.Put("/volumes/:id", h.updateVolume)
	a.Delete("/volumes/:id", h.deleteVolume)
	a.Post("/volumes/:id/action", h.volumeAction)
	a.Get("/volumes/:id/metadata", h.volumeMetadata)
	a.Post("/volumes/:id/metadata", h.setVolumeMetadata(false))
	a.Put("/volumes/:id/metadata", h.setVolumeMetadata(true))
	a.Get("/volumes/:id/metadata/:key", h.volumeMetadataItem)
	a.Put("/volumes/:id/metadata/:key", h.setVolumeMetadataItem)
	a.Delete("/volumes/:id/metadata/:key", h.deleteVolumeMetadataItem)
	a.Get("/snapshots", h.listSnapshots(false))
	a.Get("/snapshots/detail", h.listSnapshots(true))
	a.Post("/snapshots", h.createSnapshot)
	a.Get("/snapshots/:id", h.showSnapshot)
	a.Put("/snapshots/:id", h.updateSnapshot)
	a.Delete("/snapshots/:id", h.deleteSnapshot)
	a.Get("/snapshots/:id/metadata", h.snapshotMetadata)
	a.Post("/snapshots/:id/metadata", h.setSnapshotMetadata(false))
	a.Put("/snapshots/:id/metadata", h.setSnapshotMetadata(true))
	a.Get("/snapshots/:id/metadata/:key", h.snapshotMetadataItem)
	a.Put("/snapshots/:id/metadata/:key", h.setSnapshotMetadataItem)
	a.Delete("/snapshots/:id/metadata/:key", h.deleteSnapshotMetadataItem)
	a.Get("/types", h.listTypes)
	a.Get("/types/default", h.defaultType)
	a.Post("/types", h.createType)
	a.Get("/types/:id", h.showType)
	a.Put("/types/:id", h.updateType)
	a.Delete("/types/:id", h.deleteType)
	a.Get("/types/:id/extra_specs", h.listExtraSpecs)
	a.Post("/types/:id/extra_specs", h.setExtraSpecs)
	a.Get("/types/:id/extra_specs/:key", h.showExtraSpec)
	a.Put("/types/:id/extra_specs/:key", h.updateExtraSpec)
	a.Delete("/types/:id/extra_specs/:key", h.deleteExtraSpec)
	a.Get("/os-quota-sets/:project", h.showQuotas(false))
	a.Get("/os-quota-sets/:project/defaults", h.showQuotas(true))
	a.Put("/os-quota-sets/:project", h.updateQuotas)
	a.Delete("/os-quota-sets/:project", h.resetQuotas)
	a.Get("/limits", h.limits)
	a.Get("/extensions", h.extensions)
	a.Get("/os-availability-zone", h.zones)
}

// collections are the first path segments of the API's own routes: any
// other first segment is a project id (the paths before 3.67).
var collections = map[string]bool{"volumes": true, "snapshots": true, "types": true, "os-quota-sets": true, "limits": true,
	"extensions": true, "os-availability-zone": true, "": true}

var projectSegment = regexp.MustCompile(`^[0-9a-zA-Z_-]{1,64}$`)

// stripProject drops the project id of /volume/v3/{project_id}/...: the
// project is the token's (or, for admins' quota calls, the one named
// after the collection).
func stripProject(c *fiber.Ctx) error {
	rest := strings.TrimPrefix(c.Path(), "/volume/v3/")
	if rest == c.Path() {
		return c.Next()
	}
	first, tail, _ := strings.Cut(rest, "/")
	if collections[first] || !projectSegment.MatchString(first) {
		return c.Next()
	}
	c.Path("/volume/v3/" + tail)
	return c.RestartRouting()
}

type localKey int

const keyVersion localKey = iota

// microversion reads OpenStack-API-Version: volume 3.x, refuses versions
// outside the range with 406, and says which version answered.
func (h *Handler) microversion(c *fiber.Ctx) error {
	v := MinVersion
	for _, part := range strings.Split(c.Get("OpenStack-API-Version"), ",") {
		svc, raw, _ := strings.Cut(strings.TrimSpace(part), " ")
		if !strings.EqualFold(svc, "volume") {
			continue
		}
		raw = strings.TrimSpace(raw)
		if strings.EqualFold(raw, "latest") {
			v = MaxVersion
			continue
		}
		p, ok := api.ParseVersion(raw)
		if !ok {
			return fault.Invalid("OpenStack-API-Version", "Invalid API version %s.", raw)
		}
		if !p.AtLeast(MinVersion.Major, MinVersion.Minor) || !MaxVersion.AtLeast(p.Major, p.Minor) {
			return &versionError{raw}
		}
		v = p
	}
	c.Locals(keyVersion, v)
	c.Set("OpenStack-API-Version", "volume "+v.String())
	c.Set(fiber.HeaderVary, "OpenStack-API-Version")
	return c.Next()
}

type versionError struct{ asked string }

func (e *versionError) Error() string {
	return fmt.Sprintf("Version %s is not supported by the API. Minimum is %s and maximum is %s.", e.asked, MinVersion, MaxVersion)
}

func version(c *fiber.Ctx) Version {
	if v, ok := c.Locals(keyVersion).(Version); ok {
		return v
	}
	return MinVersion
}

func (h *Handler) versionDoc() fiber.Map {
	return fiber.Map{
		"id": "v3.0", "status": "CURRENT", "version": MaxVersion.String(), "min_version": MinVersion.String(),
		"updated": "2023-01-01T00:00:00Z",
		"links":   []fiber.Map{{"rel": "self", "href": h.publicURL + "/volume/v3/"}},
		"media-types": []fiber.Map{{"base": "application/json",
			"type": "application/vnd.openstack.volume+json;version=3"}},
	}
}

func (h *Handler) versions(c *fiber.Ctx) error {
	return c.Status(fiber.StatusMultipleChoices).JSON(fiber.Map{"versions": []fiber.Map{h.versionDoc()}})
}

func (h *Handler) version(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"versions": []fiber.Map{h.versionDoc()}})
}

// WriteError renders err as Cinder does: {"itemNotFound": {"code": 404,
// "message": "..."}}. An exceeded quota is Cinder's 413 overLimit; a
// refusal of the state table its 400.
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
	var ref *volsvc.Refusal
	var oq *fault.OverQuota
	msg := ""
	switch {
	case errors.As(err, &ref):
		status, msg = fiber.StatusBadRequest, ref.Message
	case errors.As(err, &oq):
		status = fiber.StatusRequestEntityTooLarge
		msg = quotaMessage(oq)
	}
	api.Prepare(c, h.log, err, status)
	if msg == "" {
		msg = api.Message(err, status)
		var v *fault.Validation
		if errors.As(err, &v) {
			msg = v.Message
		}
		for _, s := range []error{fault.ErrNotFound, fault.ErrConflict, fault.ErrForbidden} {
			msg = strings.TrimSuffix(msg, ": "+s.Error())
		}
	}
	key := map[int]string{400: "badRequest", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
		409: "conflictingRequest", 413: "overLimit", 429: "overLimit", 503: "serviceUnavailable"}[status]
	if key == "" {
		key = "computeFault"
	}
	return c.Status(status).JSON(fiber.Map{key: fiber.Map{"code": status, "message": msg}})
}

// quotaMessage is Cinder's sentence for an exceeded quota.
func quotaMessage(oq *fault.OverQuota) string {
	if oq.Resource == "per_volume_gigabytes" {
		return fmt.Sprintf("VolumeSizeExceedsLimit: Requested volume size %dG is larger than maximum allowed limit %dG.", oq.Requested, oq.Limit)
	}
	if strings.HasPrefix(oq.Resource, "gigabytes") {
		return fmt.Sprintf("VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed %s quota. Requested %dG, quota is %dG and %dG has been consumed.",
			oq.Resource, oq.Requested, oq.Limit, oq.Used)
	}
	what := "VolumeLimitExceeded: Maximum number of volumes allowed (%d) exceeded for quota '%s'."
	if strings.HasPrefix(oq.Resource, "snapshots") {
		what = "SnapshotLimitExceeded: Maximum number of snapshots allowed (%d) exceeded for quota '%s'."
	}
	return fmt.Sprintf(what, oq.Limit, oq.Resource)
}

// decode reads {"<key>": {...}} into v, refusing malformed JSON and a
// missing key with 400.
func decode(c *fiber.Ctx, key string, v any) error {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(c.Body(), &outer); err != nil || outer == nil {
		return fault.Invalid("", "Malformed request body")
	}
	inner, ok := outer[key]
	if !ok {
		return fault.Invalid("", "Missing required element '%s' in request body.", key)
	}
	if err := json.Unmarshal(inner, v); err != nil {
		var fv *fault.Validation
		if errors.As(err, &fv) {
			return fv
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fault.Invalid(te.Field, "Invalid input for field/attribute %s.", te.Field)
		}
		return fault.Invalid("", "Malformed request body")
	}
	return nil
}

// flexInt reads an integer given as a number or a string ("1"), as
// Cinder's validators take both; anything else is 400.
type flexInt struct {
	set bool
	n   int
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s := strings.Trim(string(b), `"`)
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fault.Invalid("size", "Invalid input received: '%s' is not an integer.", s)
	}
	f.set, f.n = true, n
	return nil
}

// flexBool reads a boolean given as JSON or as Cinder's words.
type flexBool struct {
	set bool
	b   bool
}

func (f *flexBool) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	v, err := volsvc.ParseBool(strings.Trim(string(b), `"`))
	if err != nil {
		return err
	}
	f.set, f.b = true, v
	return nil
}

// extensions lists none: what Nimbus offers is in the microversions.
func (h *Handler) extensions(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"extensions": []any{}})
}

// zones is Cinder's availability zone list: volumes are in "nova".
func (h *Handler) zones(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"availabilityZoneInfo": []fiber.Map{{"zoneName": "nova", "zoneState": fiber.Map{"available": true}}}})
}

// empty answers with status and no body, as Cinder's actions do.
func empty(c *fiber.Ctx, status int) error {
	c.Status(status)
	return nil
}
