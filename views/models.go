// Package views holds the portal's templ components and the view models
// they render. Templates never query anything: handlers build a view model
// shaped like the screen and pass it in. Every visible string goes through
// t(), the message catalogue.
package views

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/i18n"
)

// t looks a message up in the catalogue.
func t(ctx context.Context, key string, args ...any) string { return i18n.T(ctx, key, args...) }

// Page is what the shell around every signed-in page needs.
type Page struct {
	Title     string // already translated
	Active    string // nav key of the current page
	UserName  string
	Project   Ref
	Projects  []Ref // projects the user may switch to
	IsAdmin   bool
	CSRF      string
	Flash     string // a one-time notice, already translated
	FlashKind string // "ok" or "error"
	Path      string // the page's own path and query: where the language switcher returns
	LiveSince string // the change feed's position when the page was rendered: its event stream starts there
	Volumes   bool   // the cloud has block storage: Project > Volumes is in the menu
}

// Ref names something by id and name.
type Ref struct {
	ID   string
	Name string
}

// NavItem is one entry of the left navigation.
type NavItem struct {
	Key   string // also its data-testid suffix
	Label string // catalogue key
	Href  string
}

// ProjectNav and AdminNav are the two sections of the navigation, as
// Horizon lays them out.
var (
	ProjectNav = []NavItem{
		{"overview", "nav.overview", "/project/"},
		{"instances", "nav.instances", "/project/instances"},
		{"images", "nav.images", "/project/images"},
		{"volumes", "nav.volumes", "/project/volumes"},
		{"keypairs", "nav.keypairs", "/project/key_pairs"},
		{"server-groups", "nav.server_groups", "/project/server_groups"},
		{"networks", "nav.networks", "/project/networks"},
		{"routers", "nav.routers", "/project/routers"},
		{"security-groups", "nav.security_groups", "/project/security_groups"},
		{"floating-ips", "nav.floating_ips", "/project/floating_ips"},
		{"topology", "nav.topology", "/project/network_topology"},
		{"usage", "nav.usage", "/project/usage"},
	}
	AdminNav = []NavItem{
		{"admin-instances", "nav.all_instances", "/admin/instances"},
		{"admin-projects", "nav.projects", "/admin/projects"},
		{"admin-users", "nav.users", "/admin/users"},
		{"admin-flavors", "nav.flavors", "/admin/flavors"},
		{"admin-quotas", "nav.quotas", "/admin/quotas"},
		{"admin-volume-types", "nav.volume_types", "/admin/volume_types"},
		{"admin-hypervisors", "nav.hypervisors", "/admin/hypervisors"},
		{"admin-services", "nav.services", "/admin/services"},
		{"admin-aggregates", "nav.aggregates", "/admin/aggregates"},
		{"admin-networks", "nav.admin_networks", "/admin/networks"},
		{"admin-usage", "nav.admin_usage", "/admin/usage"},
	}
)

// Form carries a form's values and its errors by field name.
type Form struct {
	Values map[string]string
	Errors map[string]string // already translated
}

// V returns the value of field.
func (f Form) V(field string) string { return f.Values[field] }

// E returns the error of field.
func (f Form) E(field string) string { return f.Errors[field] }

// Login is the sign-in page.
type Login struct {
	Path     string // this page, for the language switcher
	Error    string // already translated
	Username string
	Next     string
	CSRF     string
}

// Overview is the project overview page.
type Overview struct {
	Page
	ProjectName string
	Roles       []string
	Limits      []Limit
	Usage       []QuotaUse
	ExpiresAt   string
}

// Limit is one quota line.
type Limit struct {
	Label string // catalogue key
	Limit int
}

// Placeholder is a page whose feature has not landed yet.
type Placeholder struct {
	Page
	Feature string // catalogue key of the feature's name
}

// ErrorPage is the 403/404/500 page.
type ErrorPage struct {
	Status   int
	Title    string // translated
	Message  string // translated
	SignedIn bool
}
