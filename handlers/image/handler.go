// Package image serves the Glance v2 API at /image. Uploads and downloads
// stream between the socket and the image file; nothing holds an image
// whole in memory.
package image

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	imgsvc "github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Handler serves the Image API.
type Handler struct {
	// Secret signs the download URLs handed to agents in build jobs.
	Secret    []byte
	svc       *imgsvc.Service
	log       *slog.Logger
	publicURL string
}

// New returns a Handler.
func New(svc *imgsvc.Service, v api.Validator, log *slog.Logger, publicURL string) (*Handler, fiber.Handler) {
	return &Handler{svc: svc, log: log.With("component", "image-api"), publicURL: publicURL}, api.Authenticate(v)
}

// IsUpload tells the body limiter which requests stream image data.
// The portal's upload page streams to PUT /project/images/:id/file, with
// its CSRF token in X-CSRF-Token: without that header the portal's CSRF
// check would look for the token in the body (reading all of it), so the
// body stays limited and the check refuses it.
func IsUpload(c *fiber.Ctx) bool {
	return IsUploadRequest(c.Method(), c.Path(), c.Get("X-CSRF-Token") != "")
}

// IsUploadRequest is IsUpload's rule on the request line and whether it
// carries X-CSRF-Token, for the server's read timeout, which is chosen
// before there is a fiber.Ctx.
func IsUploadRequest(method, path string, csrfHeader bool) bool {
	if method != fiber.MethodPut || !strings.HasSuffix(path, "/file") {
		return false
	}
	switch {
	case strings.HasPrefix(path, "/image/v2/images/"), strings.HasPrefix(path, "/image/nimbus/upload/"),
		strings.HasPrefix(path, "/image/nimbus/disks/"):
		return true
	case strings.HasPrefix(path, "/project/images/"):
		return csrfHeader
	}
	return false
}

// Register mounts the API; auth validates tokens.
func (h *Handler) Register(r fiber.Router, auth fiber.Handler) {
	r.Get("/image", h.versions)
	r.Get("/image/", h.versions)
	r.Get("/image/versions", h.versions)
	r.Get("/image/nimbus/download/:id", h.agentDownload)
	r.Put("/image/nimbus/upload/:id/file", h.agentUpload)
	r.Put("/image/nimbus/disks/:id/file", h.diskPut)
	r.Get("/image/nimbus/disks/:id/file", h.diskGet)
	v2 := r.Group("/image/v2", auth)
	v2.Get("/images", h.list)
	v2.Post("/images", h.create)
	v2.Get("/images/:id", h.show)
	v2.Patch("/images/:id", h.update)
	v2.Delete("/images/:id", h.delete)
	v2.Put("/images/:id/file", h.upload)
	v2.Get("/images/:id/file", h.download)
}

// WriteError renders errors for this API.
func (h *Handler) WriteError(c *fiber.Ctx, err error) error { return api.WriteError(c, h.log, err) }

func (h *Handler) versions(c *fiber.Ctx) error {
	v := fiber.Map{"id": "v2.16", "status": "CURRENT",
		"links": []fiber.Map{{"rel": "self", "href": h.publicURL + "/image/v2/"}}}
	return c.Status(fiber.StatusMultipleChoices).JSON(fiber.Map{"versions": []fiber.Map{v}})
}

const tsLayout = "2006-01-02T15:04:05Z"

// imageJSON is Glance's image representation: fixed attributes plus the
// free-form properties at the top level.
func imageJSON(im model.Image) fiber.Map {
	m := fiber.Map{}
	for k, v := range im.Properties {
		m[k] = v
	}
	nz := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	tags := im.Tags
	if tags == nil {
		tags = []string{}
	}
	m["id"], m["name"], m["status"], m["visibility"] = im.ID, nz(im.Name), im.Status, im.Visibility
	m["protected"], m["os_hidden"], m["owner"] = im.Protected, false, im.Owner
	m["disk_format"], m["container_format"] = nz(im.DiskFormat), nz(im.ContainerFormat)
	m["size"], m["virtual_size"] = im.Size, im.VirtualSize
	m["checksum"], m["os_hash_algo"], m["os_hash_value"] = nz(im.Checksum), nz(im.OSHashAlgo), nz(im.OSHashValue)
	m["min_disk"], m["min_ram"], m["tags"] = im.MinDisk, im.MinRAM, tags
	m["created_at"], m["updated_at"] = im.CreatedAt.UTC().Format(tsLayout), im.UpdatedAt.UTC().Format(tsLayout)
	m["self"], m["file"], m["schema"] = "/v2/images/"+im.ID, "/v2/images/"+im.ID+"/file", "/v2/schemas/image"
	return m
}

// createBody holds the known attributes; everything else is a property.
var createKnown = map[string]bool{"id": true, "name": true, "disk_format": true, "container_format": true,
	"visibility": true, "protected": true, "min_disk": true, "min_ram": true, "tags": true}

func (h *Handler) create(c *fiber.Ctx) error {
	var raw map[string]json.RawMessage
	if err := decode(c.Body(), &raw); err != nil {
		return err
	}
	in := imgsvc.Input{Properties: map[string]string{}}
	for k, v := range raw {
		var err error
		switch k {
		case "id":
			err = json.Unmarshal(v, &in.ID)
		case "name":
			err = json.Unmarshal(v, &in.Name)
		case "disk_format":
			err = json.Unmarshal(v, &in.DiskFormat)
		case "container_format":
			err = json.Unmarshal(v, &in.ContainerFormat)
		case "visibility":
			err = json.Unmarshal(v, &in.Visibility)
		case "protected":
			err = json.Unmarshal(v, &in.Protected)
		case "min_disk":
			err = json.Unmarshal(v, &in.MinDisk)
		case "min_ram":
			err = json.Unmarshal(v, &in.MinRAM)
		case "tags":
			err = json.Unmarshal(v, &in.Tags)
		default:
			var s string
			if err = json.Unmarshal(v, &s); err == nil {
				in.Properties[k] = s
			}
		}
		if err != nil {
			return fault.Invalid(k, "has the wrong type")
		}
	}
	im, err := h.svc.Create(c.UserContext(), api.Token(c), in)
	if err != nil {
		return err
	}
	c.Location("/v2/images/" + im.ID)
	return c.Status(fiber.StatusCreated).JSON(imageJSON(im))
}

func (h *Handler) show(c *fiber.Ctx) error {
	im, err := h.svc.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(imageJSON(im))
}

func (h *Handler) list(c *fiber.Ctx) error {
	if strings.HasSuffix(c.Path(), "/") { // an image id left empty (GET /v2/images/): Glance's 404, not the list
		return fault.NotFound("No image found with ID ")
	}
	f := store.ImageFilter{Name: c.Query("name"), Status: c.Query("status"), Visibility: c.Query("visibility"),
		Owner: c.Query("owner"), DiskFormat: c.Query("disk_format"), Tag: c.Query("tag"), Limit: 25}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fault.Invalid("limit", "must be a non-negative integer")
		}
		f.Limit = min(n, 1000)
	}
	if f.Limit == 0 {
		f.Limit = 25
	}
	// Glance takes sort=key:dir,... or sort_key/sort_dir; the first key rules.
	f.SortKey, f.SortDesc = "created_at", true
	if v := c.Query("sort"); v != "" {
		first := strings.Split(strings.Split(v, ",")[0], ":")
		f.SortKey = first[0]
		f.SortDesc = len(first) < 2 || first[1] == "desc"
	}
	if v := c.Query("sort_key"); v != "" {
		f.SortKey = v
	}
	if v := c.Query("sort_dir"); v != "" {
		if v != "asc" && v != "desc" {
			return fault.Invalid("sort_dir", "must be asc or desc")
		}
		f.SortDesc = v == "desc"
	}
	if !store.ValidImageSortKey(f.SortKey) {
		return fault.Invalid("sort_key", "cannot sort by %q", f.SortKey)
	}
	// Copy the query strings out of fiber's buffers before the call.
	f.Name, f.Status, f.Visibility = strings.Clone(f.Name), strings.Clone(f.Status), strings.Clone(f.Visibility)
	f.Owner, f.DiskFormat, f.Tag = strings.Clone(f.Owner), strings.Clone(f.DiskFormat), strings.Clone(f.Tag)
	ims, err := h.svc.List(c.UserContext(), api.Token(c), f, strings.Clone(c.Query("marker")))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(ims))
	for i, im := range ims {
		out[i] = imageJSON(im)
	}
	body := fiber.Map{"images": out, "first": "/v2/images", "schema": "/v2/schemas/images"}
	if len(ims) == f.Limit {
		q := c.Context().QueryArgs()
		args := q.String()
		next := "/v2/images?marker=" + ims[len(ims)-1].ID
		for _, part := range strings.Split(args, "&") {
			if part != "" && !strings.HasPrefix(part, "marker=") {
				next += "&" + part
			}
		}
		body["next"] = next
	}
	return c.JSON(body)
}

// patchOp is one operation of an image patch: RFC 6902's form
// ({"op": "replace", "path": "/name", "value": ...}, media type
// application/openstack-images-v2.1-json-patch) or Glance's older one with
// the operation as the key ({"replace": "/name", "value": ...},
// openstack-images-v2.0-json-patch), which tempest and old clients send.
type patchOp struct {
	Op    string
	Path  string
	Value json.RawMessage
}

func (p *patchOp) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	p.Value = m["value"]
	if raw, ok := m["op"]; ok {
		if err := json.Unmarshal(raw, &p.Op); err != nil {
			return err
		}
		return json.Unmarshal(m["path"], &p.Path)
	}
	for _, op := range []string{"add", "replace", "remove"} {
		if raw, ok := m[op]; ok {
			p.Op = op
			return json.Unmarshal(raw, &p.Path)
		}
	}
	return nil // no operation: refused by applyPatch
}

// update applies a JSON patch (see patchOp for the two forms taken).
func (h *Handler) update(c *fiber.Ctx) error {
	var ops []patchOp
	if err := decode(c.Body(), &ops); err != nil {
		return err
	}
	im, err := h.svc.Update(c.UserContext(), api.Token(c), api.Param(c, "id"), func(im *model.Image) error {
		for _, op := range ops {
			if err := applyPatch(im, op.Op, op.Path, op.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(imageJSON(im))
}

func applyPatch(im *model.Image, op, path string, value json.RawMessage) error {
	if !strings.HasPrefix(path, "/") || strings.Count(path, "/") != 1 {
		return fault.Invalid("path", "%q is not an attribute path", path)
	}
	attr := path[1:]
	if op != "add" && op != "replace" && op != "remove" {
		return fault.Invalid("op", "must be add, replace or remove")
	}
	str := func(dst *string) error {
		if op == "remove" {
			*dst = ""
			return nil
		}
		return json.Unmarshal(value, dst)
	}
	num := func(dst *int) error {
		if op == "remove" {
			return fault.Invalid(attr, "cannot be removed")
		}
		return json.Unmarshal(value, dst)
	}
	var err error
	switch attr {
	case "name":
		err = str(&im.Name)
	case "disk_format":
		err = str(&im.DiskFormat)
	case "container_format":
		err = str(&im.ContainerFormat)
	case "visibility":
		if op == "remove" {
			return fault.Invalid(attr, "cannot be removed")
		}
		err = json.Unmarshal(value, &im.Visibility)
	case "protected":
		if op == "remove" {
			return fault.Invalid(attr, "cannot be removed")
		}
		err = json.Unmarshal(value, &im.Protected)
	case "min_disk":
		err = num(&im.MinDisk)
	case "min_ram":
		err = num(&im.MinRAM)
	case "tags":
		if op == "remove" {
			im.Tags = nil
		} else {
			err = json.Unmarshal(value, &im.Tags)
		}
	case "id", "status", "owner", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
		"created_at", "updated_at", "self", "file", "schema", "locations":
		return fault.ErrForbidden
	default:
		_, exists := im.Properties[attr]
		switch {
		case op == "remove" && !exists:
			return fault.Conflict("property %s does not exist", attr)
		case op == "remove":
			delete(im.Properties, attr)
		case op == "replace" && !exists:
			return fault.Conflict("property %s does not exist", attr)
		default:
			var s string
			err = json.Unmarshal(value, &s)
			im.Properties[attr] = s
		}
	}
	if err != nil {
		return fault.Invalid(attr, "has the wrong type")
	}
	return nil
}

func (h *Handler) delete(c *fiber.Ctx) error {
	if err := h.svc.Delete(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// upload streams the request body into the image file.
func (h *Handler) upload(c *fiber.Ctx) error {
	_, err := h.svc.Upload(c.UserContext(), api.Token(c), api.Param(c, "id"), api.SizedBody(c))
	if errors.Is(err, imgsvc.ErrTooLarge) {
		c.Context().SetConnectionClose() // the rest of the body is not read
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// download streams the image file; the checksum goes in Content-MD5 as
// Glance sends it.
func (h *Handler) download(c *fiber.Ctx) error {
	im, f, err := h.svc.Open(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return h.stream(c, im, f)
}

func (h *Handler) stream(c *fiber.Ctx, im model.Image, f *os.File) error {
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set("Content-MD5", im.Checksum)
	c.Set(fiber.HeaderLastModified, im.UpdatedAt.UTC().Format(time.RFC1123))
	size := -1
	if im.Size != nil {
		size = int(*im.Size)
	}
	// fasthttp closes f when the stream is done.
	return c.SendStream(f, size)
}

// agentDownload serves image data to agents, which hold no token: the
// URL's signature (made when the build job was written) stands for one.
func (h *Handler) agentDownload(c *fiber.Ctx) error {
	im, f, err := h.svc.OpenSigned(c.UserContext(), h.Secret, api.Param(c, "id"), c.Query("expires"), c.Query("sig"), time.Now())
	if err != nil {
		return err
	}
	return h.stream(c, im, f)
}

// agentUpload takes a snapshot's data from an agent, which holds no
// token: the URL's signature (made when the snapshot job was written)
// stands for one.
func (h *Handler) agentUpload(c *fiber.Ctx) error {
	_, err := h.svc.UploadSigned(c.UserContext(), h.Secret, api.Param(c, "id"), c.Query("expires"), c.Query("sig"), time.Now(),
		api.SizedBody(c))
	if errors.Is(err, imgsvc.ErrTooLarge) {
		c.Context().SetConnectionClose() // the rest of the body is not read
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// diskPut takes a resized or migrated instance's disk from its source
// agent (signed URL; X-Nimbus-SHA512 says what it sends).
func (h *Handler) diskPut(c *fiber.Ctx) error {
	err := h.svc.PutDisk(c.UserContext(), h.Secret, api.Param(c, "id"), c.Query("expires"), c.Query("sig"),
		c.Get("X-Nimbus-SHA512"), time.Now(), api.BodyReader(c))
	if err != nil {
		c.Context().SetConnectionClose() // the rest of the body may not have been read
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// diskGet gives that disk to the destination agent (signed URL).
func (h *Handler) diskGet(c *fiber.Ctx) error {
	f, err := h.svc.OpenDisk(h.Secret, api.Param(c, "id"), c.Query("expires"), c.Query("sig"), time.Now())
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	return c.SendStream(f, int(fi.Size())) // fasthttp closes f
}

// decode reads a JSON body, refusing malformed JSON with 400.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		return fault.Invalid("", "the request body is empty")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fault.Invalid("", "the request body is not valid JSON of the expected shape")
	}
	return nil
}
