package views

import (
	"net/url"

	"github.com/a-h/templ"
)

// Sorting is a list's sort on the server: the column key and direction,
// and the list's path and other query values (filters), which every
// header's link keeps. Any list with sortable columns uses it.
type Sorting struct {
	Base  string
	Query url.Values
	Key   string // "" : the list's own order
	Asc   bool
}

// Link is a column header's link: sorted by key, ascending first, the
// other way when it is the sort already; back to the first page.
func (s Sorting) Link(key string) templ.SafeURL {
	q := url.Values{}
	for k, v := range s.Query {
		q[k] = v
	}
	q.Del("marker")
	q.Set("sort", key)
	q.Del("dir")
	if s.Key != key || !s.Asc {
		q.Set("dir", "asc")
	}
	return templ.SafeURL(s.Base + "?" + q.Encode())
}

// Aria is a column header's aria-sort.
func (s Sorting) Aria(key string) string {
	switch {
	case s.Key != key:
		return "none"
	case s.Asc:
		return "ascending"
	}
	return "descending"
}

// ListOrder is an admin list's sort and search (?q=, a text any of a
// row's columns contains).
type ListOrder struct {
	Sorting
	Q string
}

// WithoutQ is the list's link with its sort and no search.
func (o ListOrder) WithoutQ() templ.SafeURL {
	q := url.Values{}
	if o.Key != "" {
		q.Set("sort", o.Key)
		if o.Asc {
			q.Set("dir", "asc")
		}
	}
	if len(q) == 0 {
		return templ.SafeURL(o.Base)
	}
	return templ.SafeURL(o.Base + "?" + q.Encode())
}
