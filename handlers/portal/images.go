package portal

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/diskimage"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/views"
)

// Project > Images. Creating an image is two steps, as Glance's API is:
// the form makes a queued record, then the upload page sends the data
// with a streamed PUT (never a multipart form, which would be buffered).

func (h *Handler) imageList(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	f := store.ImageFilter{SortKey: "created_at", SortDesc: true}
	sort, asc := formValueQ(c, "sort"), formValueQ(c, "dir") == "asc"
	if slices.Contains(views.ImageSortColumns, sort) {
		f.SortKey, f.SortDesc = sort, !asc
	} else {
		sort, asc = "", false // the list's own order; a sort the columns do not offer is ignored
	}
	ims, err := h.images.List(ctx, tok, f, "")
	if err != nil {
		return err
	}
	v := views.ImageList{
		Page:         h.page(c, "images", "images.title"),
		CanCreate:    policy.Allowed(tok, policy.AddImage, policy.Target{ProjectID: tok.ProjectID}),
		CanPublicize: policy.Allowed(tok, policy.PublicizeImage, policy.Target{}),
		Sort:         sort, SortAsc: asc,
	}
	for _, im := range ims {
		r := views.ImageRow{ID: im.ID, Name: im.Name, Status: im.Status, Visibility: im.Visibility,
			DiskFormat: im.DiskFormat, Owned: im.Owner == tok.ProjectID,
			Created:   i18n.Time(c.UserContext(), im.CreatedAt),
			CanDelete: !im.Protected && policy.Allowed(tok, policy.DeleteImage, policy.Target{ProjectID: im.Owner}),
			CanUpload: im.Status == model.ImageQueued && policy.Allowed(tok, policy.UploadImage, policy.Target{ProjectID: im.Owner}),
			Received:  im.UploadReceived, Total: im.UploadTotal,
		}
		if im.Size != nil {
			r.Size, r.HasSize = *im.Size, true
		}
		v.Images = append(v.Images, r)
	}
	return render(c, views.ImageListPage(v))
}

var imageFields = []string{"name", "disk_format", "visibility", "min_disk", "min_ram"}

// imageForm is the create page's view model; public is offered to those
// who may publicize images (admins) only.
func (h *Handler) imageForm(c *fiber.Ctx, f views.Form) views.ImageForm {
	ctx, tok := c.UserContext(), api.Token(c)
	v := views.ImageForm{Page: h.page(c, "images", "images.create_title"), Form: f,
		DiskFormats: []views.Ref{
			{ID: "qcow2", Name: i18n.T(ctx, "images.format_qcow2")},
			{ID: "raw", Name: i18n.T(ctx, "images.format_raw")},
			{ID: "iso", Name: i18n.T(ctx, "images.format_iso")},
		},
		Visibilities: []views.Ref{
			{ID: "private", Name: i18n.T(ctx, "images.visibility_private")},
			{ID: "shared", Name: i18n.T(ctx, "images.visibility_shared")},
		},
	}
	if policy.Allowed(tok, policy.PublicizeImage, policy.Target{}) {
		v.Visibilities = append(v.Visibilities, views.Ref{ID: "public", Name: i18n.T(ctx, "images.visibility_public")})
	}
	return v
}

func (h *Handler) imageNew(c *fiber.Ctx) error {
	tok := api.Token(c)
	if err := policy.Check(tok, policy.AddImage, policy.Target{ProjectID: tok.ProjectID}); err != nil {
		return err
	}
	f := views.Form{Values: map[string]string{"disk_format": "qcow2", "visibility": "private", "min_disk": "0", "min_ram": "0"}}
	return render(c, views.ImageFormPage(h.imageForm(c, f)))
}

func (h *Handler) imageCreate(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	f := readForm(c, imageFields...)
	in := image.Input{Name: strings.TrimSpace(f.V("name")), DiskFormat: f.V("disk_format"),
		ContainerFormat: "bare", Visibility: f.V("visibility")}
	if in.Name == "" {
		f.Errors["name"] = i18n.T(ctx, "form.required")
	}
	switch in.DiskFormat {
	case "qcow2", "raw", "iso":
	default:
		f.Errors["disk_format"] = i18n.T(ctx, "form.invalid")
	}
	switch in.Visibility {
	case "private", "shared", "public":
	default:
		f.Errors["visibility"] = i18n.T(ctx, "form.invalid")
	}
	in.MinDisk = readWholeNumber(ctx, &f, "min_disk", 0, 0, "images.error_non_negative")
	in.MinRAM = readWholeNumber(ctx, &f, "min_ram", 0, 0, "images.error_non_negative")
	var err error
	if len(f.Errors) == 0 {
		var im model.Image
		im, err = h.images.Create(ctx, tok, in)
		if err == nil {
			h.flash(c, "ok", "images.created_flash", im.Name)
			return c.Redirect("/project/images/"+im.ID+"/upload", fiber.StatusSeeOther)
		}
		var oq *fault.OverQuota
		if errors.As(err, &oq) {
			f.Errors["name"], err = i18n.T(ctx, "images.over_quota", oq.Limit), nil
		}
	}
	if len(f.Errors) > 0 || fieldError(ctx, &f, err, "name") {
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.ImageFormPage(h.imageForm(c, f)))
	}
	return err
}

// readWholeNumber reads a whole number of at least min from field,
// putting errKey next to the field when it is not one. Empty is def when
// def >= min, else a required field left empty.
func readWholeNumber(ctx context.Context, f *views.Form, field string, min, def int, errKey string) int {
	s := strings.TrimSpace(f.V(field))
	if s == "" {
		if def < min {
			f.Errors[field] = i18n.T(ctx, "form.required")
		}
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min {
		f.Errors[field] = i18n.T(ctx, errKey)
		return def
	}
	return n
}

func (h *Handler) imageUploadPage(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	im, err := h.images.Get(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	if err := policy.Check(tok, policy.UploadImage, policy.Target{ProjectID: im.Owner}); err != nil {
		return err
	}
	return render(c, views.ImageUploadPage(views.ImageUpload{
		Page: h.page(c, "images", "images.upload_title", im.Name), ID: im.ID, Name: im.Name,
		DiskFormat: im.DiskFormat, Queued: im.Status == model.ImageQueued,
	}))
}

// imageUpload streams the request body into the image (PUT from the
// upload page's script, with the CSRF token in X-CSRF-Token). The body is
// never read whole: the app streams request bodies, and the body limiter
// lets this route through (handlers/image.IsUpload). Data the image
// service refuses (a backing file, another format than declared, ...) is
// a 400 whose plain-text body says why in the user's language; the page's
// script shows it.
func (h *Handler) imageUpload(c *fiber.Ctx) error {
	ctx := c.UserContext()
	im, err := h.images.Upload(ctx, api.Token(c), api.Param(c, "id"), api.SizedBody(c))
	if errors.Is(err, image.ErrTooLarge) {
		c.Context().SetConnectionClose() // the rest of the body is not read
	}
	var refused *diskimage.Error
	if errors.As(err, &refused) {
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
		return c.Status(fiber.StatusBadRequest).SendString(refusedMessage(ctx, refused))
	}
	if err != nil {
		return err
	}
	h.flash(c, "ok", "images.uploaded", im.Name)
	return c.SendStatus(fiber.StatusNoContent)
}

// refusedKeys are the catalogue's words for each reason an image's data is
// refused.
var refusedKeys = map[diskimage.Reason]string{
	diskimage.ReasonBackingFile:    "images.refused_backing_file",
	diskimage.ReasonDataFile:       "images.refused_data_file",
	diskimage.ReasonEncrypted:      "images.refused_encrypted",
	diskimage.ReasonFormatMismatch: "images.refused_format_mismatch",
	diskimage.ReasonUnsupported:    "images.refused_unsupported_format",
	diskimage.ReasonInvalid:        "images.refused_invalid",
}

// refusedMessage words a refusal in ctx's language.
func refusedMessage(ctx context.Context, e *diskimage.Error) string {
	key, ok := refusedKeys[e.Reason]
	if !ok {
		key = "images.refused_invalid"
	}
	switch e.Reason {
	case diskimage.ReasonFormatMismatch:
		return i18n.T(ctx, key, e.Declared, e.Detected)
	case diskimage.ReasonUnsupported, diskimage.ReasonInvalid:
		return i18n.T(ctx, key, e.Declared)
	}
	return i18n.T(ctx, key)
}

// imageBulkDelete deletes every selected image in one request and
// answers each one's result, as the instance list's bulk actions do.
func (h *Handler) imageBulkDelete(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	ids, err := bulkIDs(c, "images")
	if err != nil {
		return err
	}
	v := views.BulkResult{Action: "delete", Images: true}
	for _, id := range ids {
		r := views.BulkRow{ID: id, Name: id}
		if im, err := h.images.Get(ctx, tok, id); err == nil {
			r.Name = im.Name
		}
		if err := h.images.Delete(ctx, tok, id); err != nil {
			if r.Error = bulkRefusal(ctx, err); r.Error == "" {
				return err // not a refusal: the error page
			}
		}
		v.Rows = append(v.Rows, r)
	}
	return render(c, views.BulkResults(v))
}

func (h *Handler) imageDelete(c *fiber.Ctx) error {
	if err := h.images.Delete(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	h.flash(c, "ok", "images.deleted")
	return c.Redirect("/project/images", fiber.StatusSeeOther)
}

// imageVisibility makes an image public or private (admins: the buttons
// exist for those who may publicize images only).
func (h *Handler) imageVisibility(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	if err := policy.Check(tok, policy.PublicizeImage, policy.Target{}); err != nil {
		return err
	}
	to := formValue(c, "visibility")
	if to != "public" && to != "private" {
		return fault.Invalid("visibility", "must be public or private")
	}
	im, err := h.images.Update(ctx, tok, api.Param(c, "id"), func(im *model.Image) error {
		im.Visibility = to
		return nil
	})
	if err != nil {
		return err
	}
	if to == "public" {
		h.flash(c, "ok", "images.made_public", im.Name)
	} else {
		h.flash(c, "ok", "images.made_private", im.Name)
	}
	return c.Redirect("/project/images", fiber.StatusSeeOther)
}
