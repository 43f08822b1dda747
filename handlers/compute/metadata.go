package compute

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// registerMetadata mounts a server's metadata and (from 2.26) tags.
func (h *Handler) registerMetadata(a fiber.Router) {
	a.Get("/servers/:id/metadata", h.listMetadata)
	a.Post("/servers/:id/metadata", h.updateMetadata(false))
	a.Put("/servers/:id/metadata", h.updateMetadata(true))
	a.Get("/servers/:id/metadata/:key", h.showMetadataItem)
	a.Put("/servers/:id/metadata/:key", h.setMetadataItem)
	a.Delete("/servers/:id/metadata/:key", h.deleteMetadataItem)
	a.Get("/servers/:id/tags", since226(h.listTags))
	a.Put("/servers/:id/tags", since226(h.replaceTags))
	a.Delete("/servers/:id/tags", since226(h.deleteTags))
	a.Get("/servers/:id/tags/:tag", since226(h.showTag))
	a.Put("/servers/:id/tags/:tag", since226(h.addTag))
	a.Delete("/servers/:id/tags/:tag", since226(h.deleteTag))
}

// since226 answers 404 below microversion 2.26, as Nova answers a method
// the version asked does not have.
func since226(next fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !version(c).AtLeast(2, 26) {
			return fault.NotFound("The resource could not be found.")
		}
		return next(c)
	}
}

// pathParam is a path segment decoded: metadata keys and tags may hold
// spaces and other characters clients percent-encode.
func pathParam(c *fiber.Ctx, name string) (string, error) {
	v, err := url.PathUnescape(api.Param(c, name))
	if err != nil {
		return "", fault.Invalid(name, "Invalid %s in the URL", name)
	}
	return v, nil
}

// bodyField reads a body of exactly one field, field (Nova's schemas
// refuse any other), and returns that field's JSON.
func bodyField(c *fiber.Ctx, field string) (json.RawMessage, error) {
	var b map[string]json.RawMessage
	if err := decode(c, &b); err != nil {
		return nil, err
	}
	for k := range b {
		if k != field {
			return nil, fault.Invalid(k, "Additional properties are not allowed ('%s' was unexpected)", k)
		}
	}
	raw, ok := b[field]
	if !ok {
		return nil, fault.InvalidAs("required", field, "'%s' is a required property", field)
	}
	return raw, nil
}

// metadataBody reads Nova's {"<field>": {"key": "value", ...}}: that one
// field, an object whose values are strings.
func metadataBody(c *fiber.Ctx, field string) (map[string]string, error) {
	raw, err := bodyField(c, field)
	if err != nil {
		return nil, err
	}
	var md map[string]string
	if err := json.Unmarshal(raw, &md); err != nil || md == nil {
		return nil, fault.Invalid(field, "Invalid input for field/attribute %s. Value: %s. It must be an object of strings", field, raw)
	}
	return md, nil
}

func (h *Handler) listMetadata(c *fiber.Ctx) error {
	md, err := h.svc.Metadata(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"metadata": md})
}

// updateMetadata is POST (merge) and PUT (replace) /metadata: 200 with
// the whole metadata after the change, as Nova.
func (h *Handler) updateMetadata(replace bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		md, err := metadataBody(c, "metadata")
		if err != nil {
			return err
		}
		md, err = h.svc.UpdateMetadata(c.UserContext(), api.Token(c), api.Param(c, "id"), md, replace)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"metadata": md})
	}
}

func (h *Handler) showMetadataItem(c *fiber.Ctx) error {
	key, err := pathParam(c, "key")
	if err != nil {
		return err
	}
	v, err := h.svc.MetadataItem(c.UserContext(), api.Token(c), api.Param(c, "id"), key)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"meta": fiber.Map{key: v}})
}

// setMetadataItem is PUT /metadata/{key} with {"meta": {key: value}}:
// exactly one item, named as in the URL.
func (h *Handler) setMetadataItem(c *fiber.Ctx) error {
	key, err := pathParam(c, "key")
	if err != nil {
		return err
	}
	meta, err := metadataBody(c, "meta")
	if err != nil {
		return err
	}
	if len(meta) != 1 {
		return fault.Invalid("meta", "Invalid input for field/attribute meta: it must have exactly one property")
	}
	v, ok := meta[key]
	if !ok {
		return fault.Invalid("meta", "Request body and URI mismatch")
	}
	if err := h.svc.SetMetadataItem(c.UserContext(), api.Token(c), api.Param(c, "id"), key, v); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"meta": meta})
}

func (h *Handler) deleteMetadataItem(c *fiber.Ctx) error {
	key, err := pathParam(c, "key")
	if err != nil {
		return err
	}
	if err := h.svc.DeleteMetadataItem(c.UserContext(), api.Token(c), api.Param(c, "id"), key); err != nil {
		return err
	}
	return empty(c, fiber.StatusNoContent)
}

func (h *Handler) listTags(c *fiber.Ctx) error {
	tags, err := h.svc.Tags(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tags": tags})
}

// replaceTags is PUT /tags with {"tags": [...]}: 200 with the tags.
func (h *Handler) replaceTags(c *fiber.Ctx) error {
	raw, err := bodyField(c, "tags")
	if err != nil {
		return err
	}
	var tags []string
	if err := json.Unmarshal(raw, &tags); err != nil || tags == nil {
		return fault.Invalid("tags", "Invalid input for field/attribute tags: a list of strings is required")
	}
	tags, err = h.svc.SetTags(c.UserContext(), api.Token(c), api.Param(c, "id"), tags)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tags": tags})
}

func (h *Handler) deleteTags(c *fiber.Ctx) error {
	if err := h.svc.DeleteTags(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return empty(c, fiber.StatusNoContent)
}

// showTag answers 204 when the server has the tag, 404 when not.
func (h *Handler) showTag(c *fiber.Ctx) error {
	tag, err := pathParam(c, "tag")
	if err != nil {
		return err
	}
	if err := h.svc.HasTag(c.UserContext(), api.Token(c), api.Param(c, "id"), tag); err != nil {
		return err
	}
	return empty(c, fiber.StatusNoContent)
}

// addTag is PUT /tags/{tag}, with no body: 201 with the tag's URL in
// Location when added, 204 when the server had it already (as Nova,
// which gives no Location then).
func (h *Handler) addTag(c *fiber.Ctx) error {
	if body := strings.TrimSpace(string(c.Body())); body != "" && body != "null" {
		return fault.Invalid("tag", "Invalid input for field/attribute: the request takes no body")
	}
	tag, err := pathParam(c, "tag")
	if err != nil {
		return err
	}
	id := api.Param(c, "id")
	added, err := h.svc.AddTag(c.UserContext(), api.Token(c), id, tag)
	if err != nil {
		return err
	}
	if !added {
		return empty(c, fiber.StatusNoContent)
	}
	c.Location(h.publicURL + "/compute/v2.1/servers/" + id + "/tags/" + url.PathEscape(tag))
	return empty(c, fiber.StatusCreated)
}

func (h *Handler) deleteTag(c *fiber.Ctx) error {
	tag, err := pathParam(c, "tag")
	if err != nil {
		return err
	}
	if err := h.svc.DeleteTag(c.UserContext(), api.Token(c), api.Param(c, "id"), tag); err != nil {
		return err
	}
	return empty(c, fiber.StatusNoContent)
}

// tagFilters reads the list filters tags, tags-any, not-tags and
// not-tags-any (comma-separated), which Nova takes from 2.26.
func tagFilters(c *fiber.Ctx, o *compute.ListOptions) {
	if !version(c).AtLeast(2, 26) {
		return
	}
	split := func(name string) []string {
		v := c.Query(name)
		if v == "" {
			return nil
		}
		return strings.Split(strings.Clone(v), ",") // fiber reuses v's buffer
	}
	o.Tags, o.TagsAny, o.NotTags, o.NotTagsAny = split("tags"), split("tags-any"), split("not-tags"), split("not-tags-any")
}
