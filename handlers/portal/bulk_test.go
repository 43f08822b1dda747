package portal_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestPortalBulkActions: the instance list's selection acts on several
// instances in one request and answers each one's result — accepted,
// refused in its state, or not found (another project's); bad requests
// are 400, and a request without the form token 403.
func TestPortalBulkActions(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "bulk-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	ids := map[string]string{}
	for _, name := range []string{"a", "b", "c"} {
		r := tc.CreateServer(t, demo, map[string]any{"name": name, "flavorRef": "1", "imageRef": img})
		ids[name] = r.JSON(t)["server"].(map[string]any)["id"].(string)
	}
	otherTok := tc.Token(t, tc.NewProjectMember(t, "bulk-other"), controllertest.MemberPassword, "bulk-other")
	r := tc.CreateServer(t, otherTok, map[string]any{"name": "theirs", "flavorRef": "1", "imageRef": img})
	theirs := r.JSON(t)["server"].(map[string]any)["id"].(string)
	for _, id := range append([]string{theirs}, ids["a"], ids["b"], ids["c"]) {
		tok := demo
		if id == theirs {
			tok = otherTok
		}
		tc.WaitStatus(t, tok, id, "ACTIVE", time.Minute)
	}

	b := tc.NewFormClient(t)
	csrf := controllertest.CSRFOf(t, b.Login("demo", tc.DemoPass))
	list := b.Get("/project/instances")
	for _, want := range []string{`data-testid="bulk-form"`, `data-testid="bulk-select-a"`, `data-testid="bulk-stop"`} {
		if !strings.Contains(list.Body, want) {
			t.Fatalf("the instance list lacks %s", want)
		}
	}
	bulk := func(action string, which ...string) controllertest.Page {
		t.Helper()
		f := url.Values{"_csrf": {csrf}, "action": {action}}
		for _, id := range which {
			f.Add("id", id)
		}
		return b.Post("/project/instances/bulk", f)
	}
	p := bulk("stop", ids["a"], ids["b"], theirs)
	if p.Status != 200 {
		t.Fatalf("bulk stop: %d %s", p.Status, p.Body)
	}
	result := func(p controllertest.Page, id string) string {
		t.Helper()
		i := strings.Index(p.Body, `data-testid="bulk-row-`+id+`"`)
		if i < 0 {
			t.Fatalf("no result for %s in %s", id, p.Body)
		}
		row := p.Body[i:]
		row = row[:strings.Index(row, "</li>")]
		switch {
		case strings.Contains(row, `data-testid="bulk-ok"`):
			return "ok"
		case strings.Contains(row, `data-testid="bulk-refused"`):
			return "refused"
		}
		return "?"
	}
	for id, want := range map[string]string{ids["a"]: "ok", ids["b"]: "ok", theirs: "refused"} {
		if got := result(p, id); got != want {
			t.Errorf("bulk stop of %s: %s, want %s", id, got, want)
		}
	}
	if strings.Contains(p.Body, "theirs") {
		t.Error("the result names another project's instance")
	}
	tc.WaitStatus(t, demo, ids["a"], "SHUTOFF", time.Minute)
	tc.WaitStatus(t, demo, ids["b"], "SHUTOFF", time.Minute)
	if s := tc.Do(t, "GET", "/compute/v2.1/servers/"+ids["c"], demo, nil).JSON(t)["server"].(map[string]any)["status"]; s != "ACTIVE" {
		t.Errorf("c, not selected, is %v", s)
	}
	if s := tc.Do(t, "GET", "/compute/v2.1/servers/"+theirs, otherTok, nil).JSON(t)["server"].(map[string]any)["status"]; s != "ACTIVE" {
		t.Errorf("another project's instance is %v", s)
	}
	// Stopped already: refused in its state, the other accepted.
	p = bulk("stop", ids["a"], ids["c"])
	if result(p, ids["a"]) != "refused" || result(p, ids["c"]) != "ok" {
		t.Errorf("stop of a stopped and a running instance: %s", p.Body)
	}

	for what, p := range map[string]controllertest.Page{
		"unknown action":            bulk("explode", ids["a"]),
		"no instances":              bulk("stop"),
		"rebuild (one by one only)": bulk("rebuild", ids["a"]),
	} {
		if p.Status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", what, p.Status)
		}
	}
	if p := b.Post("/project/instances/bulk", url.Values{"action": {"delete"}, "id": {ids["a"]}}); p.Status != http.StatusForbidden {
		t.Errorf("without the form token: %d, want 403", p.Status)
	}
	p = bulk("delete", ids["a"], ids["b"])
	if result(p, ids["a"]) != "ok" || result(p, ids["b"]) != "ok" {
		t.Fatalf("bulk delete: %s", p.Body)
	}
	controllertest.WaitFor(t, time.Minute, "a and b gone", func() bool {
		return tc.Do(t, "GET", "/compute/v2.1/servers/"+ids["a"], demo, nil).Status == 404 &&
			tc.Do(t, "GET", "/compute/v2.1/servers/"+ids["b"], demo, nil).Status == 404
	})
}
