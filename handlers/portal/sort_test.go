package portal_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

var rowNameRe = regexp.MustCompile(`data-testid="instance-row-([^"]+)"`)

// rowNames are the instance rows' names in a page, in its order.
func rowNames(body string) []string {
	var out []string
	for _, m := range rowNameRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// sortedRowNames are the instance rows' names in a page, sorted.
func sortedRowNames(body string) []string {
	out := rowNames(body)
	slices.Sort(out)
	return out
}

// TestInstanceSort: the list sorts on the server by the column chosen,
// both ways, and its pages follow the sort (keyset on the column and id);
// the API takes Nova's sort_key and sort_dir the same way and refuses a
// key it does not know.
func TestInstanceSort(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "sort-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	names := []string{"delta", "alpha", "echo", "charlie", "bravo"}
	for _, n := range names {
		tc.ActiveServer(t, demo, n, img)
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)

	// API: two pages of two, then the rest, by name ascending.
	var got []string
	marker := ""
	for page := 0; page < 3; page++ {
		q := "/compute/v2.1/servers?sort_key=display_name&sort_dir=asc&limit=2"
		if marker != "" {
			q += "&marker=" + marker
		}
		for _, s := range tc.Do(t, "GET", q, demo, nil).JSON(t)["servers"].([]any) {
			got = append(got, s.(map[string]any)["name"].(string))
			marker = s.(map[string]any)["id"].(string)
		}
	}
	if !slices.Equal(got, sorted) {
		t.Errorf("API by name, pages of 2: %v, want %v", got, sorted)
	}
	if r := tc.Do(t, "GET", "/compute/v2.1/servers?sort_key=display_name&sort_dir=desc", demo, nil); r.Status == 200 {
		var desc []string
		for _, s := range r.JSON(t)["servers"].([]any) {
			desc = append(desc, s.(map[string]any)["name"].(string))
		}
		want := slices.Clone(sorted)
		slices.Reverse(want)
		if !slices.Equal(desc, want) {
			t.Errorf("API by name descending: %v, want %v", desc, want)
		}
	}
	for _, q := range []string{"sort_key=password", "sort_key=display_name&sort_dir=sideways"} {
		if r := tc.Do(t, "GET", "/compute/v2.1/servers?"+q, demo, nil); r.Status != 400 {
			t.Errorf("%s: %d, want 400", q, r.Status)
		}
	}

	// Portal: the header sorts; the row fragment keeps the sort.
	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	rows := rowNames
	p := b.Get("/project/instances?sort=display_name&dir=asc")
	if got := rows(p.Body); !slices.Equal(got, sorted) {
		t.Errorf("portal by name: %v, want %v", got, sorted)
	}
	if !strings.Contains(p.Body, `aria-sort="ascending"`) || !strings.Contains(p.Body, `href="/project/instances?dir=asc&amp;sort=vm_state"`) {
		t.Error("the headers do not say the sort or offer another")
	}
	if !strings.Contains(p.Body, `/project/instances/rows?dir=asc&amp;sort=display_name&amp;v=`) {
		t.Error("the live rows lose the sort")
	}
	if p := b.Get("/project/instances?sort=display_name"); !slices.Equal(rows(p.Body)[:1], []string{"echo"}) {
		t.Errorf("portal by name descending starts %v", rows(p.Body))
	}
	if p := b.Get("/project/instances?sort=password&dir=up"); p.Status != 200 {
		t.Errorf("an unknown sort: %d, want the list in its own order", p.Status)
	}
}
