package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestPortalLabelsAndGroups: the instance page's Metadata and Tags
// editors set and remove keys and tags (the API agrees; a refused value
// is a message, not an error page); Project > Server Groups creates a
// group with a policy, which the launch dialog then offers, and deletes
// it.
func TestPortalLabelsAndGroups(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "pl-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	r := tc.CreateServer(t, demo, map[string]any{"name": "web", "flavorRef": "1", "imageRef": tc.ActiveImage(t)})
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", time.Minute)
	b := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, b.Login("demo", tc.DemoPass))
	post := func(path string, form url.Values) {
		t.Helper()
		form.Set("_csrf", tok)
		if p := b.Post(path, form); p.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", path, p.Status, p.Body)
		}
	}
	server := func() map[string]any {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil, "OpenStack-API-Version", "compute 2.26").JSON(t)["server"].(map[string]any)
	}
	inst := "/project/instances/" + id
	post(inst+"/metadata", url.Values{"key": {"role"}, "value": {"web"}})
	post(inst+"/metadata", url.Values{"key": {"tier one"}, "value": {"a/b"}})
	post(inst+"/tags", url.Values{"tag": {"blue"}})
	s := server()
	if md := s["metadata"].(map[string]any); md["role"] != "web" || md["tier one"] != "a/b" {
		t.Errorf("metadata after the editor: %v", md)
	}
	if tags := s["tags"].([]any); len(tags) != 1 || tags[0] != "blue" {
		t.Errorf("tags after the editor: %v", tags)
	}
	page := b.Get(inst).Body
	if !strings.Contains(page, `data-testid="metadata-tier one"`) || !strings.Contains(page, `data-testid="tag-blue"`) {
		t.Error("the page does not show the key and the tag")
	}
	post(inst+"/metadata/"+url.PathEscape("tier one")+"/delete", url.Values{})
	post(inst+"/tags/blue/delete", url.Values{})
	post(inst+"/tags", url.Values{"tag": {"a,b"}}) // refused (commas are not allowed in tags)
	if p := b.Get(inst); !strings.Contains(p.Body, "Refused") {
		t.Error("a refused tag shows no message")
	}
	s = server()
	if md := s["metadata"].(map[string]any); len(md) != 1 || md["role"] != "web" {
		t.Errorf("metadata after removing a key: %v", md)
	}
	if tags := s["tags"].([]any); len(tags) != 0 {
		t.Errorf("tags after removing: %v", tags)
	}

	// The list's row menu offers what the table allows now, and its
	// actions come back to the list.
	list := b.Get("/project/instances").Body
	if !strings.Contains(list, `data-testid="row-web-stop"`) || strings.Contains(list, `data-testid="row-web-start"`) {
		t.Errorf("row menu of an active instance:\n%s", between(list, `data-testid="row-menu-web"`, `</details>`))
	}
	req, _ := http.NewRequest("POST", tc.URL+inst+"/stop", strings.NewReader(url.Values{"_csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", tc.URL+"/project/instances")
	if p := b.Do(req); p.Status != http.StatusSeeOther || p.Location != "/project/instances" {
		t.Errorf("stop from the row menu: %d to %q, want 303 to the list", p.Status, p.Location)
	}
	tc.WaitStatus(t, demo, id, "SHUTOFF", time.Minute)
	if list := b.Get("/project/instances").Body; !strings.Contains(list, `data-testid="row-web-start"`) {
		t.Error("row menu of a stopped instance lacks start")
	}

	post("/project/server_groups", url.Values{"name": {"spread"}, "policy": {"anti-affinity"}})
	gs := tc.Do(t, "GET", "/compute/v2.1/os-server-groups", demo, nil).JSON(t)["server_groups"].([]any)
	if len(gs) != 1 || gs[0].(map[string]any)["name"] != "spread" || gs[0].(map[string]any)["policies"].([]any)[0] != "anti-affinity" {
		t.Fatalf("groups after the form: %v", gs)
	}
	gid := gs[0].(map[string]any)["id"].(string)
	if list := b.Get("/project/server_groups").Body; !strings.Contains(list, `data-testid="group-row-spread"`) {
		t.Error("the group is not listed")
	}
	if launch := b.Get("/project/instances/launch").Body; !strings.Contains(launch, gid) {
		t.Error("the launch dialog does not offer the new group")
	}
	post("/project/server_groups", url.Values{"name": {"x"}, "policy": {"nonsense"}})
	if p := b.Get("/project/server_groups"); !strings.Contains(p.Body, "Refused") {
		t.Error("a refused policy shows no message")
	}
	post("/project/server_groups/"+gid+"/delete", url.Values{})
	if gs := tc.Do(t, "GET", "/compute/v2.1/os-server-groups", demo, nil).JSON(t)["server_groups"].([]any); len(gs) != 0 {
		t.Errorf("groups after delete: %v", gs)
	}
}
