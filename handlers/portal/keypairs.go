package portal

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/views"
)

// Project > Key Pairs: the signed-in user's own key pairs (Nova keeps
// them per user, not per project).

func (h *Handler) keyPairList(c *fiber.Ctx) error {
	ks, err := h.compute.KeyPairs(c.UserContext(), api.Token(c), "")
	if err != nil {
		return err
	}
	v := views.KeyPairList{Page: h.page(c, "keypairs", "keypairs.title")}
	for _, k := range ks {
		v.KeyPairs = append(v.KeyPairs, views.KeyPairRow{Name: k.Name, Fingerprint: k.Fingerprint, Type: k.Type})
	}
	return render(c, views.KeyPairListPage(v))
}

func (h *Handler) keyPairFormPage(c *fiber.Ctx, f views.Form, imp bool) error {
	title := "keypairs.create_title"
	if imp {
		title = "keypairs.import_title"
	}
	return render(c, views.KeyPairFormPage(views.KeyPairForm{Page: h.page(c, "keypairs", title), Form: f, Import: imp}))
}

func (h *Handler) keyPairNew(c *fiber.Ctx) error {
	return h.keyPairFormPage(c, views.Form{}, false)
}

func (h *Handler) keyPairImportPage(c *fiber.Ctx) error {
	return h.keyPairFormPage(c, views.Form{}, true)
}

// keyPairCreate generates a key pair and answers with its private key,
// which is never stored: this page is the only time it is shown (and it
// is not cacheable: signed-in pages are no-store).
func (h *Handler) keyPairCreate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := readForm(c, "name")
	k, priv, err := h.compute.CreateKeyPair(ctx, api.Token(c), compute.KeyPairInput{Name: strings.TrimSpace(f.V("name"))})
	if keyPairFieldError(ctx, &f, err) {
		c.Status(fiber.StatusUnprocessableEntity)
		return h.keyPairFormPage(c, f, false)
	}
	if err != nil {
		return err
	}
	return render(c, views.KeyPairCreatedPage(views.KeyPairCreated{
		Page: h.page(c, "keypairs", "keypairs.created_title", k.Name),
		Name: k.Name, Fingerprint: k.Fingerprint, PrivateKey: priv,
	}))
}

func (h *Handler) keyPairImport(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := readForm(c, "name", "public_key")
	in := compute.KeyPairInput{Name: strings.TrimSpace(f.V("name")), PublicKey: strings.TrimSpace(f.V("public_key"))}
	if in.PublicKey == "" {
		f.Errors["public_key"] = i18n.T(ctx, "form.required")
	}
	var err error
	if len(f.Errors) == 0 {
		var k model.KeyPair
		k, _, err = h.compute.CreateKeyPair(ctx, api.Token(c), in)
		if err == nil {
			h.flash(c, "ok", "keypairs.imported", k.Name)
			return c.Redirect("/project/key_pairs", fiber.StatusSeeOther)
		}
	}
	if len(f.Errors) > 0 || keyPairFieldError(ctx, &f, err) {
		c.Status(fiber.StatusUnprocessableEntity)
		return h.keyPairFormPage(c, f, true)
	}
	return err
}

// keyPairFieldError puts a refused key pair next to its field: bad names
// and keys, a name in use, or the key pair quota reached.
func keyPairFieldError(ctx context.Context, f *views.Form, err error) bool {
	var v *fault.Validation
	var oq *fault.OverQuota
	switch {
	case err == nil:
		return false
	case errors.As(err, &v) && v.Field == "name":
		f.Errors["name"] = i18n.T(ctx, "keypairs.error_name")
		return true
	case errors.As(err, &v) && v.Field == "public_key":
		if _, ok := f.Values["public_key"]; ok {
			f.Errors["public_key"] = i18n.T(ctx, "keypairs.error_public_key")
			return true
		}
	case errors.As(err, &oq):
		f.Errors["name"] = i18n.T(ctx, "keypairs.over_quota", oq.Limit)
		return true
	}
	return fieldError(ctx, f, err, "name")
}

func (h *Handler) keyPairDelete(c *fiber.Ctx) error {
	name, err := url.PathUnescape(api.Param(c, "name"))
	if err != nil {
		return fault.ErrNotFound
	}
	if err := h.compute.DeleteKeyPair(c.UserContext(), api.Token(c), name, ""); err != nil {
		return err
	}
	h.flash(c, "ok", "keypairs.deleted", name)
	return c.Redirect("/project/key_pairs", fiber.StatusSeeOther)
}
