package portal_test

import (
	"context"
	"encoding/csv"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestUsage: os-simple-tenant-usage and the portal's Usage pages count
// the hours each instance ran inside the period asked, deleted ones
// included, as Nova does; a project sees its own usage only; the CSV
// export is the page's table.
func TestUsage(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "usage-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	kept := tc.ActiveServer(t, demo, "kept", img)
	gone := tc.ActiveServer(t, demo, "gone", img)
	if r := tc.Do(t, "DELETE", "/compute/v2.1/servers/"+gone, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, 20*time.Second, "gone deleted", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+gone, demo, nil).Status == 404
	})
	// kept runs since three hours ago; gone ran from two hours ago to one.
	now := time.Now().UTC().Truncate(time.Second)
	pool := tc.Server.Pool()
	ctx := context.Background()
	for id, times := range map[string][2]any{kept: {now.Add(-3 * time.Hour), nil}, gone: {now.Add(-2 * time.Hour), now.Add(-time.Hour)}} {
		if _, err := pool.Exec(ctx, `UPDATE instances SET launched_at = $2, terminated_at = $3 WHERE id = $1`, id, times[0], times[1]); err != nil {
			t.Fatal(err)
		}
	}
	iso := func(d time.Duration) string { return now.Add(d).Format("2006-01-02T15:04:05") }
	project := tc.Do(t, "GET", "/compute/v2.1/servers/"+kept, demo, nil).JSON(t)["server"].(map[string]any)["tenant_id"].(string)
	show := func(token, from, to string) (int, map[string]any) {
		r := tc.Do(t, "GET", "/compute/v2.1/os-simple-tenant-usage/"+project+"?start="+from+"&end="+to, token, nil)
		if r.Status != 200 {
			return r.Status, nil
		}
		return 200, r.JSON(t)["tenant_usage"].(map[string]any)
	}
	near := func(got any, want float64) bool { f, _ := got.(float64); return math.Abs(f-want) < 0.01 }

	_, u := show(demo, iso(-4*time.Hour), iso(0))
	servers, _ := u["server_usages"].([]any)
	if len(servers) != 2 || !near(u["total_hours"], 4) || !near(u["total_vcpus_usage"], 4) || !near(u["total_memory_mb_usage"], 4*512) {
		t.Fatalf("usage of the last 4 hours: %v", u)
	}
	for _, s := range servers {
		s := s.(map[string]any)
		switch s["instance_id"] {
		case kept:
			if !near(s["hours"], 3) || s["state"] != "active" || s["ended_at"] != nil {
				t.Errorf("kept: %v", s)
			}
		case gone:
			if !near(s["hours"], 1) || s["state"] != "terminated" || s["ended_at"] == nil {
				t.Errorf("gone: %v", s)
			}
		}
	}
	// The last half hour: gone had ended; kept counts from the start.
	if _, u := show(demo, iso(-30*time.Minute), iso(0)); len(u["server_usages"].([]any)) != 1 || !near(u["total_hours"], 0.5) {
		t.Errorf("usage of the last half hour: %v", u)
	}
	// Before anything ran: nothing, as Nova's empty object.
	if _, u := show(demo, iso(-10*time.Hour), iso(-5*time.Hour)); len(u) != 0 {
		t.Errorf("usage before anything ran: %v", u)
	}
	for _, q := range []string{"start=yesterday", "start=" + iso(0) + "&end=" + iso(-time.Hour)} {
		r := tc.Do(t, "GET", "/compute/v2.1/os-simple-tenant-usage/"+project+"?"+q, demo, nil)
		if r.Status != 400 || !strings.Contains(string(r.Body), "badRequest") {
			t.Errorf("%s: %d %s, want Nova's 400", q, r.Status, r.Body)
		}
	}
	// An empty project id is no route (tempest's negative test), not the list.
	if r := tc.Do(t, "GET", "/compute/v2.1/os-simple-tenant-usage/?start="+iso(-time.Hour), tc.AdminToken(t), nil); r.Status != 404 {
		t.Errorf("usage of an empty project id: %d, want 404", r.Status)
	}
	other := tc.NewProjectMember(t, "usage-other")
	otherTok := tc.Token(t, other, controllertest.MemberPassword, "usage-other")
	if st, _ := show(otherTok, iso(-4*time.Hour), iso(0)); st != 404 {
		t.Errorf("another project's usage: %d, want 404", st)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/os-simple-tenant-usage", otherTok, nil); r.Status != 403 {
		t.Errorf("every project's usage as a member: %d, want 403", r.Status)
	}
	all := tc.Do(t, "GET", "/compute/v2.1/os-simple-tenant-usage?detailed=1&start="+iso(-4*time.Hour)+"&end="+iso(0), tc.AdminToken(t), nil)
	if us := all.JSON(t)["tenant_usages"].([]any); len(us) != 1 || us[0].(map[string]any)["tenant_id"] != project {
		t.Errorf("every project's usage: %s", all.Body)
	}

	// The portal: this month so far by default; the table, and as CSV.
	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	day := now.Format("2006-01-02")
	start := now.Add(-24 * time.Hour).Format("2006-01-02")
	page := b.Get("/project/usage?start=" + start + "&end=" + day).Body
	for _, want := range []string{`data-testid="usage-row-` + kept + `"`, `data-testid="usage-row-` + gone + `"`, ">4.00<"} {
		if !strings.Contains(page, want) {
			t.Errorf("the Usage page lacks %s", want)
		}
	}
	res := b.Get("/project/usage.csv?start=" + start + "&end=" + day)
	rows, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "instance_id" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("usage CSV: %v %v\n%s", rows, err, res.Body)
	}
	if p := b.Get("/project/usage?start=2026-02-30"); !strings.Contains(p.Body, `data-testid="error-start"`) {
		t.Errorf("a bad date is not shown as the field's error")
	}
	admin := tc.NewFormClient(t)
	admin.Login("admin", tc.AdminPass)
	if p := admin.Get("/admin/usage?start=" + start + "&end=" + day).Body; !strings.Contains(p, `data-testid="usage-row-`+project+`"`) {
		t.Errorf("Admin > Usage does not list the demo project")
	}
}
