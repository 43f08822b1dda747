package compute

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

func (h *Handler) flavorLinks(id string) []fiber.Map {
	return []fiber.Map{
		{"rel": "self", "href": h.publicURL + "/compute/v2.1/flavors/" + id},
		{"rel": "bookmark", "href": h.publicURL + "/compute/flavors/" + id},
	}
}

func (h *Handler) flavorJSON(c *fiber.Ctx, f model.Flavor, detail bool) fiber.Map {
	m := fiber.Map{"id": f.ID, "name": f.Name, "links": h.flavorLinks(f.ID)}
	v := version(c)
	if v.AtLeast(2, 55) {
		var d any
		if f.Description != "" {
			d = f.Description
		}
		m["description"] = d
	}
	if !detail {
		return m
	}
	var swap any = ""
	if f.SwapMB > 0 {
		swap = f.SwapMB
	}
	m["ram"], m["disk"], m["vcpus"], m["swap"] = f.RAMMB, f.DiskGB, f.VCPUs, swap
	m["OS-FLV-EXT-DATA:ephemeral"], m["OS-FLV-DISABLED:disabled"] = f.EphemeralGB, false
	m["rxtx_factor"], m["os-flavor-access:is_public"] = f.RXTXFactor, f.IsPublic
	return m
}

func (h *Handler) listFlavors(detail bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		f := store.FlavorFilter{}
		var err error
		if v := c.Query("minRam"); v != "" {
			if f.MinRAM, err = strconv.Atoi(v); err != nil || validate.Int("minRam", f.MinRAM, 0, validate.MaxInt32) != nil {
				return fault.Invalid("minRam", "Invalid minRam filter [%s]", v)
			}
		}
		if v := c.Query("minDisk"); v != "" {
			if f.MinDisk, err = strconv.Atoi(v); err != nil || validate.Int("minDisk", f.MinDisk, 0, validate.MaxInt32) != nil {
				return fault.Invalid("minDisk", "Invalid minDisk filter [%s]", v)
			}
		}
		// Nova: admins see all with is_public=None, public ones by default.
		pub := true
		switch strings.ToLower(c.Query("is_public", "true")) {
		case "none", "":
			f.IsPublic = nil
		case "false", "0", "no", "f":
			pub = false
			f.IsPublic = &pub
		default:
			f.IsPublic = &pub
		}
		fs, err := h.svc.Flavors(c.UserContext(), api.Token(c), f)
		if err != nil {
			return err
		}
		fs, err = pageFlavors(c, fs)
		if err != nil {
			return err
		}
		out := make([]fiber.Map, len(fs))
		for i, fl := range fs {
			out[i] = h.flavorJSON(c, fl, detail)
		}
		return c.JSON(fiber.Map{"flavors": out})
	}
}

// pageFlavors applies sort_key, sort_dir, marker and limit.
func pageFlavors(c *fiber.Ctx, fs []model.Flavor) ([]model.Flavor, error) {
	key, dir := c.Query("sort_key", "flavorid"), c.Query("sort_dir", "asc")
	less := map[string]func(a, b model.Flavor) bool{
		"flavorid":  func(a, b model.Flavor) bool { return a.ID < b.ID },
		"name":      func(a, b model.Flavor) bool { return a.Name < b.Name },
		"memory_mb": func(a, b model.Flavor) bool { return a.RAMMB < b.RAMMB },
		"vcpus":     func(a, b model.Flavor) bool { return a.VCPUs < b.VCPUs },
		"root_gb":   func(a, b model.Flavor) bool { return a.DiskGB < b.DiskGB },
	}[key]
	if less == nil {
		return nil, fault.Invalid("sort_key", "Invalid sort_key %s", key)
	}
	if dir != "asc" && dir != "desc" {
		return nil, fault.Invalid("sort_dir", "Invalid sort_dir %s", dir)
	}
	sort.SliceStable(fs, func(i, j int) bool {
		if dir == "desc" {
			return less(fs[j], fs[i])
		}
		return less(fs[i], fs[j])
	})
	if m := c.Query("marker"); m != "" {
		i := 0
		for i < len(fs) && fs[i].ID != m {
			i++
		}
		if i == len(fs) {
			return nil, fault.Invalid("marker", "marker [%s] not found", m)
		}
		fs = fs[i+1:]
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fault.Invalid("limit", "limit must be a non-negative integer")
		}
		if n < len(fs) {
			fs = fs[:n]
		}
	}
	return fs, nil
}

func (h *Handler) showFlavor(c *fiber.Ctx) error {
	f, err := h.svc.Flavor(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"flavor": h.flavorJSON(c, f, true)})
}

// flavorBody is POST /flavors. Nova's schema takes the numbers as JSON
// numbers or numeric strings ("ram": "512"), and is_public as a boolean
// or one of its string forms.
type flavorBody struct {
	Flavor *struct {
		Name        *string          `json:"name"`
		ID          *json.RawMessage `json:"id"`
		RAM         json.RawMessage  `json:"ram"`
		VCPUs       json.RawMessage  `json:"vcpus"`
		Disk        json.RawMessage  `json:"disk"`
		Ephemeral   json.RawMessage  `json:"OS-FLV-EXT-DATA:ephemeral"`
		Swap        json.RawMessage  `json:"swap"`
		RXTX        json.RawMessage  `json:"rxtx_factor"`
		IsPublic    json.RawMessage  `json:"os-flavor-access:is_public"`
		Description *string          `json:"description"`
	} `json:"flavor"`
}

// digits reads a whole number given as a JSON number or a string of
// digits; absent is def. Nova's pattern (^[0-9]*$) refuses signs, so
// negative numbers only come as JSON numbers, for the range check.
func digits(raw json.RawMessage, field string, def int) (int, error) {
	if len(raw) == 0 {
		return def, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil && s != "" && strings.Trim(s, "0123456789") == "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n, nil
		}
	}
	return 0, fault.Invalid(field, "Invalid input for field/attribute %s. Value: %s. It must be an integer.", field, raw)
}

// boolish reads a JSON boolean or one of the strings Nova takes for one.
func boolish(raw json.RawMessage, field string, def bool) (bool, error) {
	if len(raw) == 0 {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(s) {
		case "true", "1", "yes", "on", "y", "t":
			return true, nil
		case "false", "0", "no", "off", "n", "f":
			return false, nil
		}
	}
	return false, fault.Invalid(field, "Invalid input for field/attribute %s. Value: %s. It is not a boolean.", field, raw)
}

func (h *Handler) createFlavor(c *fiber.Ctx) error {
	var b flavorBody
	if err := decode(c, &b); err != nil {
		return err
	}
	in := b.Flavor
	if in == nil || in.Name == nil || len(in.RAM) == 0 || len(in.VCPUs) == 0 || len(in.Disk) == 0 {
		return fault.Invalid("flavor", "name, ram, vcpus and disk are required")
	}
	if in.Description != nil && !version(c).AtLeast(2, 55) {
		return fault.Invalid("description", "Additional properties are not allowed ('description' was unexpected)")
	}
	f := model.Flavor{Name: *in.Name, RXTXFactor: 1}
	var err error
	for _, n := range []struct {
		raw   json.RawMessage
		field string
		dst   *int
	}{{in.RAM, "ram", &f.RAMMB}, {in.VCPUs, "vcpus", &f.VCPUs}, {in.Disk, "disk", &f.DiskGB},
		{in.Ephemeral, "OS-FLV-EXT-DATA:ephemeral", &f.EphemeralGB}} {
		if *n.dst, err = digits(n.raw, n.field, 0); err != nil {
			return err
		}
	}
	if string(in.Swap) != `""` { // "" is Nova's "no swap"
		if f.SwapMB, err = digits(in.Swap, "swap", 0); err != nil {
			return err
		}
	}
	if f.IsPublic, err = boolish(in.IsPublic, "os-flavor-access:is_public", true); err != nil {
		return err
	}
	if in.ID != nil && string(*in.ID) != "null" {
		var s string
		if err := json.Unmarshal(*in.ID, &s); err != nil {
			var n int
			if err := json.Unmarshal(*in.ID, &n); err != nil {
				return fault.Invalid("id", "must be a string or an integer")
			}
			s = strconv.Itoa(n)
		}
		f.ID = s
	}
	if len(in.RXTX) > 0 {
		var s string
		if json.Unmarshal(in.RXTX, &s) == nil {
			in.RXTX = json.RawMessage(s)
		}
		if err := json.Unmarshal(in.RXTX, &f.RXTXFactor); err != nil {
			return fault.Invalid("rxtx_factor", "Invalid input for field/attribute rxtx_factor. It must be a number.")
		}
	}
	if in.Description != nil {
		f.Description = *in.Description
	}
	out, err := h.svc.CreateFlavor(c.UserContext(), api.Token(c), f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"flavor": h.flavorJSON(c, out, true)})
}

// updateFlavor changes the description (microversion 2.55).
func (h *Handler) updateFlavor(c *fiber.Ctx) error {
	if !version(c).AtLeast(2, 55) {
		return fiber.ErrMethodNotAllowed
	}
	var b struct {
		Flavor *struct {
			Description *string `json:"description"`
		} `json:"flavor"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Flavor == nil || b.Flavor.Description == nil {
		return fault.Invalid("description", "is required")
	}
	f, err := h.svc.UpdateFlavorDescription(c.UserContext(), api.Token(c), api.Param(c, "id"), *b.Flavor.Description)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"flavor": h.flavorJSON(c, f, true)})
}

func (h *Handler) deleteFlavor(c *fiber.Ctx) error {
	if err := h.svc.DeleteFlavor(c.UserContext(), api.Token(c), api.Param(c, "id")); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}

func (h *Handler) listExtraSpecs(c *fiber.Ctx) error {
	specs, err := h.svc.ExtraSpecs(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"extra_specs": specs})
}

func (h *Handler) createExtraSpecs(c *fiber.Ctx) error {
	var b struct {
		ExtraSpecs map[string]string `json:"extra_specs"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.ExtraSpecs == nil {
		return fault.Invalid("extra_specs", "is required")
	}
	if err := h.svc.SetExtraSpecs(c.UserContext(), api.Token(c), api.Param(c, "id"), b.ExtraSpecs); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"extra_specs": b.ExtraSpecs})
}

func (h *Handler) showExtraSpec(c *fiber.Ctx) error {
	key := api.Param(c, "key")
	specs, err := h.svc.ExtraSpecs(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	v, ok := specs[key]
	if !ok {
		return fault.NotFound("Flavor %s has no extra specs with key %s.", api.Param(c, "id"), key)
	}
	return c.JSON(fiber.Map{key: v})
}

func (h *Handler) updateExtraSpec(c *fiber.Ctx) error {
	key := api.Param(c, "key")
	var b map[string]string
	if err := decode(c, &b); err != nil {
		return err
	}
	if _, ok := b[key]; !ok || len(b) != 1 {
		return fault.Invalid("extra_specs", "Request body and URI mismatch")
	}
	if err := h.svc.SetExtraSpecs(c.UserContext(), api.Token(c), api.Param(c, "id"), b); err != nil {
		return err
	}
	return c.JSON(b)
}

func (h *Handler) deleteExtraSpec(c *fiber.Ctx) error {
	if err := h.svc.DeleteExtraSpec(c.UserContext(), api.Token(c), api.Param(c, "id"), api.Param(c, "key")); err != nil {
		return err
	}
	return empty(c, fiber.StatusOK) // Nova: 200 with no body
}

func accessJSON(id string, projects []string) fiber.Map {
	out := make([]fiber.Map, len(projects))
	for i, p := range projects {
		out[i] = fiber.Map{"flavor_id": id, "tenant_id": p}
	}
	return fiber.Map{"flavor_access": out}
}

func (h *Handler) listFlavorAccess(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	ps, err := h.svc.FlavorAccess(c.UserContext(), api.Token(c), id)
	if err != nil {
		return err
	}
	return c.JSON(accessJSON(id, ps))
}

func (h *Handler) flavorAction(c *fiber.Ctx) error {
	var b struct {
		Add    *struct{ Tenant string } `json:"addTenantAccess"`
		Remove *struct{ Tenant string } `json:"removeTenantAccess"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	id := api.Param(c, "id")
	var ps []string
	var err error
	switch {
	case b.Add != nil && b.Add.Tenant != "":
		ps, err = h.svc.SetFlavorAccess(c.UserContext(), api.Token(c), id, b.Add.Tenant, true)
	case b.Remove != nil && b.Remove.Tenant != "":
		ps, err = h.svc.SetFlavorAccess(c.UserContext(), api.Token(c), id, b.Remove.Tenant, false)
	default:
		return fault.Invalid("action", "expected addTenantAccess or removeTenantAccess with a tenant")
	}
	if err != nil {
		return err
	}
	return c.JSON(accessJSON(id, ps))
}
