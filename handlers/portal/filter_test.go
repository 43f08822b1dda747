package portal_test

import (
	"html"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestInstanceFilters: the list filters on the server by flavor, image
// and (admins) host as well as name and status; each filter in force is
// a chip whose link drops it and keeps the others; the live rows keep
// the filters; a member's host filter is ignored, as Nova ignores it.
func TestInstanceFilters(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "filter-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img1, img2 := tc.ActiveImage(t), tc.ActiveImage(t)
	tc.ActiveServer(t, demo, "a", img1)
	tc.ActiveServer(t, demo, "b", img2)
	r := tc.CreateServer(t, demo, map[string]any{"name": "c", "flavorRef": "2", "imageRef": img1})
	if r.Status != 202 {
		t.Fatalf("create c: %d %s", r.Status, r.Body)
	}
	tc.WaitStatus(t, demo, r.JSON(t)["server"].(map[string]any)["id"].(string), "ACTIVE", 20*time.Second)

	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	rows := sortedRowNames
	for q, want := range map[string][]string{
		"image=" + img1:                    {"a", "c"},
		"flavor=2":                         {"c"},
		"image=" + img1 + "&flavor=1":      {"a"},
		"image=" + img2 + "&status=ACTIVE": {"b"},
		"host=elsewhere":                   {"a", "b", "c"}, // a member's host filter: ignored
	} {
		if got := rows(b.Get("/project/instances?" + q).Body); !slices.Equal(got, want) {
			t.Errorf("?%s: rows %v, want %v", q, got, want)
		}
	}
	page := b.Get("/project/instances?image=" + img1 + "&flavor=1").Body
	for _, chip := range []string{"chip-image", "chip-flavor"} {
		if !strings.Contains(page, `data-testid="`+chip+`"`) {
			t.Errorf("no %s chip", chip)
		}
	}
	if strings.Contains(page, `data-testid="chip-host"`) || strings.Contains(page, `data-testid="filter-host"`) {
		t.Error("a member is offered a host filter")
	}
	// The flavor chip's link keeps the image filter and drops its own.
	i := strings.Index(page, `data-testid="chip-flavor"`)
	j := strings.Index(page[i:], `href="`) + i + len(`href="`)
	link := html.UnescapeString(page[j : j+strings.Index(page[j:], `"`)])
	if !strings.Contains(link, "image="+img1) || strings.Contains(link, "flavor=") {
		t.Errorf("the flavor chip's link %q", link)
	}
	if got := rows(b.Get(link).Body); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("after removing the flavor chip: %v", got)
	}
	// The live rows ask for the same filters.
	if !strings.Contains(html.UnescapeString(page), "/project/instances/rows?flavor=1&image="+img1) {
		t.Error("the live rows' URL drops the filters")
	}

	admin := tc.NewFormClient(t)
	admin.Login("admin", tc.AdminPass)
	if got := rows(admin.Get("/admin/instances?host=filter-host").Body); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("admin, host=filter-host: %v", got)
	}
	all := admin.Get("/admin/instances?host=elsewhere").Body
	if got := rows(all); len(got) != 0 || !strings.Contains(all, `data-testid="chip-host"`) {
		t.Errorf("admin, host=elsewhere: %v", got)
	}
}
