package portal_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestAdminListsSortAndSearch: Admin > Projects, Users and Flavors sort
// on the server by the column chosen, both ways, and keep the rows any
// of whose texts contain the search, shown as a chip that removes it and
// keeps the sort.
func TestAdminListsSortAndSearch(t *testing.T) {
	tc := controllertest.New(t, nil)
	for _, n := range []string{"zulu-team", "alpha-team", "mike-team"} {
		tc.NewProjectMember(t, n)
	}
	admin := tc.NewFormClient(t)
	admin.Login("admin", tc.AdminPass)
	rowsOf := func(kind, path string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`data-testid="`+kind+`-row-([^"]+)"`).FindAllStringSubmatch(admin.Get(path).Body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	if got := rowsOf("project", "/admin/projects?q=-team&sort=name&dir=asc"); !slices.Equal(got, []string{"alpha-team", "mike-team", "zulu-team"}) {
		t.Errorf("projects, searched and by name: %v", got)
	}
	if got := rowsOf("project", "/admin/projects?q=TEAM&sort=name"); !slices.Equal(got, []string{"zulu-team", "mike-team", "alpha-team"}) {
		t.Errorf("projects, searched (any case) and by name descending: %v", got)
	}
	if got := rowsOf("user", "/admin/users?q=alpha"); !slices.Equal(got, []string{"alpha-team-user"}) {
		t.Errorf("users searched: %v", got)
	}
	flavors := rowsOf("flavor", "/admin/flavors?sort=ram&dir=asc")
	if len(flavors) < 2 || flavors[0] != "m1.tiny" {
		t.Errorf("flavors by RAM: %v", flavors)
	}
	page := admin.Get("/admin/projects?q=alpha&sort=name&dir=asc").Body
	if !strings.Contains(page, `data-testid="chip-q"`) || !strings.Contains(page, `href="/admin/projects?dir=asc&amp;sort=name" class="ml-1`) {
		t.Error("the search chip is missing or its link drops the sort")
	}
	if !strings.Contains(page, `aria-sort="ascending"`) {
		t.Error("the sorted column says nothing of it")
	}
}
