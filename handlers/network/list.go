package network

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	netsvc "github.com/nimbus-cloud/nimbus/internal/network"
)

// Neutron's list conventions, one home for every collection: any
// attribute is a filter (repeated: any of the values), fields= picks the
// attributes answered, sort_key/sort_dir order, limit/marker page with a
// "<collection>_links" next link.

var listParams = map[string]bool{"fields": true, "limit": true, "marker": true, "sort_key": true,
	"sort_dir": true, "page_reverse": true}

// list filters, sorts, pages and trims items and answers them as plural.
func (h *Handler) list(c *fiber.Ctx, plural string, items []fiber.Map) error {
	args := c.Context().QueryArgs()
	filters := map[string][]string{}
	args.VisitAll(func(k, v []byte) {
		if !listParams[string(k)] {
			filters[string(k)] = append(filters[string(k)], string(v))
		}
	})
	var out []fiber.Map
	for _, it := range items {
		if matches(it, filters) {
			out = append(out, it)
		}
	}
	if err := sortItems(c, out); err != nil {
		return err
	}
	body := fiber.Map{}
	if l := c.Query("limit"); l != "" {
		limit, err := strconv.Atoi(l)
		if err != nil || limit < 0 {
			return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("limit", "Limit must be an integer 0 or greater and not '%s'", l)}
		}
		if m := c.Query("marker"); m != "" {
			i := slices.IndexFunc(out, func(it fiber.Map) bool { return it["id"] == m })
			if i < 0 {
				return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("marker", "Marker %s not found", m)}
			}
			out = out[i+1:]
		}
		if limit > 0 && len(out) > limit {
			out = out[:limit]
			q := url.Values{}
			args.VisitAll(func(k, v []byte) {
				if string(k) != "marker" {
					q.Add(string(k), string(v))
				}
			})
			q.Set("marker", fmt.Sprint(out[limit-1]["id"]))
			body[plural+"_links"] = []fiber.Map{{"rel": "next",
				"href": h.publicURL + "/networking/v2.0/" + plural + "?" + q.Encode()}}
		}
	}
	trimmed := make([]fiber.Map, len(out))
	for i, it := range out {
		trimmed[i] = fields(c, it)
	}
	body[plural] = trimmed
	return c.JSON(body)
}

// matches: every filter has a value equal to the item's attribute (its
// string form; lists match when they hold the value). fixed_ips filters
// read "ip_address=..." or "subnet_id=...".
func matches(it fiber.Map, filters map[string][]string) bool {
	for k, vs := range filters {
		v, ok := it[k]
		if !ok {
			continue // an attribute this resource does not have: ignored, as Neutron without filter validation
		}
		if !slices.ContainsFunc(vs, func(want string) bool { return equalAttr(k, v, want) }) {
			return false
		}
	}
	return true
}

func equalAttr(key string, v any, want string) bool {
	switch x := v.(type) {
	case nil:
		return want == "" || strings.EqualFold(want, "none") || strings.EqualFold(want, "null")
	case bool:
		b, err := strconv.ParseBool(strings.ToLower(want))
		return err == nil && b == x
	case []string:
		return slices.Contains(x, want)
	case []fiber.Map:
		if key == "fixed_ips" {
			k, val, _ := strings.Cut(want, "=")
			return slices.ContainsFunc(x, func(m fiber.Map) bool { return fmt.Sprint(m[k]) == val })
		}
		return false
	}
	return fmt.Sprint(v) == want
}

// sortItems orders items by sort_key/sort_dir pairs (default: as stored).
func sortItems(c *fiber.Ctx, items []fiber.Map) error {
	args := c.Context().QueryArgs()
	var keys, dirs []string
	for _, k := range args.PeekMulti("sort_key") {
		keys = append(keys, string(k))
	}
	for _, d := range args.PeekMulti("sort_dir") {
		dirs = append(dirs, string(d))
	}
	if len(keys) == 0 {
		return nil
	}
	for i, d := range dirs {
		if d != "asc" && d != "desc" {
			return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("sort_dir", "%s is an invalid value for sort_dir, valid values are 'asc' and 'desc'", dirs[i])}
		}
	}
	if len(items) > 0 {
		for _, k := range keys {
			if _, ok := items[0][k]; !ok {
				return &netsvc.Error{Type: "HTTPBadRequest", Err: fault.Invalid("sort_key", "%s is an invalid attribute for sort_keys", k)}
			}
		}
	}
	sort.SliceStable(items, func(i, j int) bool {
		for n, k := range keys {
			a, b := fmt.Sprint(items[i][k]), fmt.Sprint(items[j][k])
			if a == b {
				continue
			}
			if n < len(dirs) && dirs[n] == "desc" {
				return a > b
			}
			return a < b
		}
		return false
	})
	return nil
}

// fields keeps only the attributes fields= names (all without it).
func fields(c *fiber.Ctx, m fiber.Map) fiber.Map {
	fs := c.Context().QueryArgs().PeekMulti("fields")
	if len(fs) == 0 {
		return m
	}
	out := fiber.Map{}
	for _, f := range fs {
		for _, name := range strings.Split(string(f), ",") {
			if v, ok := m[name]; ok {
				out[name] = v
			}
		}
	}
	return out
}
