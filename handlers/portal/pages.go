package portal

import (
	"slices"
	"sort"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/seed"
	"github.com/nimbus-cloud/nimbus/internal/volume"
	"github.com/nimbus-cloud/nimbus/views"
)

// quotaOrder is the order limits are shown in.
var quotaOrder = []string{"instances", "cores", "ram", "key_pairs", "metadata_items", "server_groups", "server_group_members", "images"}

func (h *Handler) overview(c *fiber.Ctx) error {
	tok := api.Token(c)
	if err := policy.Check(tok, policy.ViewProject, policy.Target{ProjectID: tok.ProjectID}); err != nil {
		return err
	}
	limits, err := h.store.QuotaLimits(c.UserContext(), tok.ProjectID)
	if err != nil {
		return err
	}
	o := views.Overview{Page: h.page(c, "overview", "overview.title"), ProjectName: tok.ProjectName,
		ExpiresAt: i18n.Time(c.UserContext(), sess(c).Expires)}
	for _, r := range tok.Roles {
		o.Roles = append(o.Roles, r.Name)
	}
	sort.Strings(o.Roles)
	order := quotaOrder
	if h.cfg.Volumes != nil {
		order = append(slices.Clone(order), volume.QuotaResources...)
	}
	for _, r := range order {
		if n, ok := limits[r]; ok {
			o.Limits = append(o.Limits, views.Limit{Label: "quota." + r, Limit: n})
		}
	}
	// The volume charts (volumes, gigabytes, snapshots) follow the
	// compute ones where the cloud has block storage.
	charts := append([]string{"instances", "cores", "ram", "key_pairs"}, volume.QuotaResources...)
	if o.Usage, err = h.quotaUses(c, tok.ProjectID, charts...); err != nil {
		return err
	}
	return render(c, views.OverviewPage(o))
}

// placeholder serves a page whose feature lands with a later issue; it
// says so plainly rather than pretending.
func (h *Handler) placeholder(active, title, feature string, op policy.Op) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok := api.Token(c)
		if !policy.Allowed(tok, op, policy.Target{ProjectID: tok.ProjectID}) {
			return fault.ErrForbidden
		}
		return render(c, views.PlaceholderPage(views.Placeholder{Page: h.page(c, active, title), Feature: feature}))
	}
}

// openrc downloads an RC file for the current user and project. The
// password is never written into it; the script asks for it.
func (h *Handler) openrc(c *fiber.Ctx) error {
	tok := api.Token(c)
	rc := seed.RC(seed.RCParams{AuthURL: h.cfg.PublicURL + "/identity/v3", Region: h.cfg.Region,
		ProjectID: tok.ProjectID, ProjectName: tok.ProjectName, UserName: tok.UserName})
	c.Set(fiber.HeaderContentType, "application/x-sh; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+safeFilename(tok.ProjectName)+`-openrc.sh"`)
	return c.SendString(rc)
}

// safeFilename keeps letters, digits, dot, dash and underscore.
func safeFilename(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '.' || r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			out = append(out, r)
		} else {
			out = append(out, '_')
		}
	}
	if len(out) == 0 {
		return "project"
	}
	return string(out)
}
