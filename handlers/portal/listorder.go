package portal

import (
	"cmp"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/views"
)

// The admin lists of things counted in tens or hundreds (projects, users,
// flavors) are read whole; the server sorts and searches them in memory
// by ?sort=, ?dir= and ?q=, with the same headers and search chip as
// the lists that page in the database.

// listOrder is such a list's sort and search.
type listOrder struct {
	base, key, q string
	asc          bool
}

// readListOrder reads the list's query; a sort key not in keys is none.
func readListOrder(c *fiber.Ctx, base string, keys []string) listOrder {
	o := listOrder{base: base, key: formValueQ(c, "sort"), asc: formValueQ(c, "dir") == "asc", q: strings.TrimSpace(formValueQ(c, "q"))}
	if !slices.Contains(keys, o.key) {
		o.key, o.asc = "", false
	}
	return o
}

// matches reports whether any of the row's texts contains the search,
// ignoring case.
func (o listOrder) matches(texts ...string) bool {
	if o.q == "" {
		return true
	}
	q := strings.ToLower(o.q)
	for _, s := range texts {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

// view is what the page's headers and search need.
func (o listOrder) view() views.ListOrder {
	q := url.Values{}
	if o.q != "" {
		q.Set("q", o.q)
	}
	return views.ListOrder{Sorting: views.Sorting{Base: o.base, Query: q, Key: o.key, Asc: o.asc}, Q: o.q}
}

// sortRows sorts rows by o's key with the comparison keyed under it
// (descending unless asc); ties keep the list's own order.
func sortRows[T any](rows []T, o listOrder, by map[string]func(a, b T) int) {
	f, ok := by[o.key]
	if !ok {
		return
	}
	slices.SortStableFunc(rows, func(a, b T) int {
		if o.asc {
			return f(a, b)
		}
		return f(b, a)
	})
}

// byText and byInt are the comparisons the lists' columns use.
func byText[T any](field func(T) string) func(a, b T) int {
	return func(a, b T) int { return cmp.Compare(strings.ToLower(field(a)), strings.ToLower(field(b))) }
}

func byInt[T any](field func(T) int) func(a, b T) int {
	return func(a, b T) int { return cmp.Compare(field(a), field(b)) }
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
