package portal_test

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

var imageRowRe = regexp.MustCompile(`data-testid="image-row-([^"]+)"`)

// TestImageListSortAndBulkDelete: the images list sorts on the server by
// the column chosen, both ways; its bulk delete removes the selected
// images in one request and answers each one's result: a protected
// image and another project's refuse, the others go.
func TestImageListSortAndBulkDelete(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	ids := map[string]string{}
	for _, n := range []string{"beta", "alpha", "gamma", "locked"} {
		ids[n] = tc.CreateImage(t, demo, map[string]any{"name": n, "disk_format": "raw", "container_format": "bare",
			"protected": n == "locked"})["id"].(string)
	}
	otherTok := tc.Token(t, tc.NewProjectMember(t, "img-other"), controllertest.MemberPassword, "img-other")
	theirs := tc.CreateImage(t, otherTok, map[string]any{"name": "theirs", "disk_format": "raw", "container_format": "bare"})["id"].(string)

	b := tc.NewFormClient(t)
	csrf := controllertest.CSRFOf(t, b.Login("demo", tc.DemoPass))
	names := func(path string) []string {
		var out []string
		for _, m := range imageRowRe.FindAllStringSubmatch(b.Get(path).Body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	asc := []string{"alpha", "beta", "gamma", "locked"}
	if got := names("/project/images?sort=name&dir=asc"); !slices.Equal(got, asc) {
		t.Errorf("by name, ascending: %v", got)
	}
	desc := slices.Clone(asc)
	slices.Reverse(desc)
	if got := names("/project/images?sort=name"); !slices.Equal(got, desc) {
		t.Errorf("by name, descending: %v", got)
	}
	page := b.Get("/project/images?sort=name&dir=asc").Body
	if !strings.Contains(page, `aria-sort="ascending"`) || !strings.Contains(page, `href="/project/images?sort=name"`) {
		t.Error("the name header does not show the sort or offer the other way")
	}
	if strings.Contains(page, `data-testid="bulk-select-locked"`) {
		t.Error("a protected image can be selected for deletion")
	}

	f := url.Values{"_csrf": {csrf}, "action": {"delete"}}
	for _, id := range []string{ids["alpha"], ids["beta"], ids["locked"], theirs} {
		f.Add("id", id)
	}
	p := b.Post("/project/images/bulk", f)
	if p.Status != 200 {
		t.Fatalf("bulk delete: %d %s", p.Status, p.Body)
	}
	for id, want := range map[string]string{ids["alpha"]: "bulk-ok", ids["beta"]: "bulk-ok", ids["locked"]: "bulk-refused", theirs: "bulk-refused"} {
		i := strings.Index(p.Body, `data-testid="bulk-row-`+id+`"`)
		if i < 0 || !strings.Contains(p.Body[i:i+strings.Index(p.Body[i:], "</li>")], want) {
			t.Errorf("result of %s: want %s in %s", id, want, p.Body)
		}
	}
	if got := names("/project/images?sort=name&dir=asc"); !slices.Equal(got, []string{"gamma", "locked"}) {
		t.Errorf("after the bulk delete: %v", got)
	}
	if r := tc.Do(t, "GET", "/image/v2/images/"+theirs, otherTok, nil); r.Status != 200 {
		t.Errorf("another project's image after the bulk delete: %d", r.Status)
	}
}
