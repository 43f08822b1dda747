package portal_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestAdminAllInstances: the admin's All Instances lists every project's
// instances with their project, filters by project, keeps the filter in
// its live rows, and is refused to members.
func TestAdminAllInstances(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "all-host")
	tc.WaitHosts(t, 1)
	img := tc.ActiveImage(t)
	tc.ActiveServer(t, tc.DemoToken(t), "demo-vm", img)
	otherUser := tc.NewProjectMember(t, "all-other")
	tc.ActiveServer(t, tc.Token(t, otherUser, controllertest.MemberPassword, "all-other"), "other-vm", img)

	a := tc.NewFormClient(t)
	a.Login("admin", tc.AdminPass)
	p := a.Get("/admin/instances")
	if p.Status != 200 {
		t.Fatalf("all instances: %d", p.Status)
	}
	rows := sortedRowNames
	if got := rows(p.Body); !slices.Equal(got, []string{"demo-vm", "other-vm"}) {
		t.Errorf("all instances lists %v", got)
	}
	if !strings.Contains(p.Body, `data-testid="project">all-other<`) || !strings.Contains(p.Body, `data-testid="project">demo<`) {
		t.Error("the rows do not name their projects")
	}
	// The project filter: the other project's id from its option.
	i := strings.Index(p.Body, `>all-other</option>`)
	if i < 0 {
		t.Fatal("no project filter option for all-other")
	}
	opt := p.Body[strings.LastIndex(p.Body[:i], `value="`)+7:]
	pid := opt[:strings.IndexByte(opt, '"')]
	f := a.Get("/admin/instances?project=" + pid)
	if got := rows(f.Body); !slices.Equal(got, []string{"other-vm"}) {
		t.Errorf("filtered by all-other: %v", got)
	}
	if !strings.Contains(f.Body, "/admin/instances/rows?project="+pid) {
		t.Error("the live rows lose the project filter")
	}
	if r := a.Get("/admin/instances/rows?project=" + pid); r.Status != 200 || !slices.Equal(rows(r.Body), []string{"other-vm"}) {
		t.Errorf("rows fragment: %d %v", r.Status, rows(r.Body))
	}

	m := tc.NewFormClient(t)
	m.Login("demo", tc.DemoPass)
	if p := m.Get("/admin/instances"); p.Status != http.StatusForbidden {
		t.Errorf("a member's All Instances: %d, want 403", p.Status)
	}
}
