package compute_test

import (
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// novaError checks an answer is Nova's error: status, and a body
// {"<key>": {"code": status, "message": "...containing want..."}}.
func novaError(t *testing.T, what string, r controllertest.Resp, status int, key, want string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: %d %s, want %d", what, r.Status, r.Body, status)
		return
	}
	e, _ := r.JSON(t)[key].(map[string]any)
	if e == nil || e["code"] != float64(status) || !strings.Contains(fmt.Sprint(e["message"]), want) {
		t.Errorf("%s: body %s, want {%q: {code %d, message containing %q}}", what, r.Body, key, status, want)
	}
}

// TestServerMetadata covers the server metadata API: every route, Nova's
// bodies and 400s, the metadata_items quota (403), the lock (409 but for
// admins), other projects' servers (404), concurrent merges (none lost),
// a state that refuses changes (409) and a deleted server (404). None of
// it is an instance action.
func TestServerMetadata(t *testing.T) {
	tc, id := shelveCloud(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	base := "/compute/v2.1/servers/" + id + "/metadata"
	do := func(method, path, token string, body any) controllertest.Resp {
		t.Helper()
		return tc.Do(t, method, path, token, body)
	}
	metadata := func() map[string]any {
		t.Helper()
		r := do("GET", base, demo, nil)
		if r.Status != 200 {
			t.Fatalf("GET metadata: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["metadata"].(map[string]any)
	}
	want := func(what string, got map[string]any, want map[string]any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: metadata %v, want %v", what, got, want)
		}
	}

	want("a new server", metadata(), map[string]any{})
	r := do("POST", base, demo, map[string]any{"metadata": map[string]string{"a": "1", "b": "2"}})
	if r.Status != 200 {
		t.Fatalf("POST metadata: %d %s", r.Status, r.Body)
	}
	want("POST's answer", r.JSON(t)["metadata"].(map[string]any), map[string]any{"a": "1", "b": "2"})
	r = do("POST", base, demo, map[string]any{"metadata": map[string]string{"b": "two", "c": "3"}})
	want("POST merges", r.JSON(t)["metadata"].(map[string]any), map[string]any{"a": "1", "b": "two", "c": "3"})
	r = do("PUT", base, demo, map[string]any{"metadata": map[string]string{"d": "4"}})
	if r.Status != 200 {
		t.Fatalf("PUT metadata: %d %s", r.Status, r.Body)
	}
	want("PUT's answer", r.JSON(t)["metadata"].(map[string]any), map[string]any{"d": "4"})
	want("PUT replaces", metadata(), map[string]any{"d": "4"})

	// One item, by key; a key with a space travels percent-encoded.
	key := "/" + url.PathEscape("my key")
	r = do("PUT", base+key, demo, map[string]any{"meta": map[string]string{"my key": "v"}})
	if r.Status != 200 || !reflect.DeepEqual(r.JSON(t)["meta"], map[string]any{"my key": "v"}) {
		t.Errorf("PUT metadata/{key}: %d %s", r.Status, r.Body)
	}
	r = do("GET", base+key, demo, nil)
	if r.Status != 200 || !reflect.DeepEqual(r.JSON(t)["meta"], map[string]any{"my key": "v"}) {
		t.Errorf("GET metadata/{key}: %d %s", r.Status, r.Body)
	}
	want("after PUT metadata/{key}", metadata(), map[string]any{"d": "4", "my key": "v"})
	if r = do("DELETE", base+key, demo, nil); r.Status != 204 || len(r.Body) != 0 {
		t.Errorf("DELETE metadata/{key}: %d %q, want 204 with no body", r.Status, r.Body)
	}
	novaError(t, "GET a deleted item", do("GET", base+key, demo, nil), 404, "itemNotFound", "Metadata item was not found")
	novaError(t, "DELETE a missing item", do("DELETE", base+key, demo, nil), 404, "itemNotFound", "Metadata item was not found")
	s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	want("server show", s["metadata"].(map[string]any), map[string]any{"d": "4"})

	// Bad input: 400 in Nova's shape, and nothing changes.
	long := strings.Repeat("k", 256)
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"no body", "POST", base, nil},
		{"not JSON", "POST", base, "{"},
		{"no metadata", "POST", base, map[string]any{}},
		{"another field", "POST", base, map[string]any{"metadata": map[string]string{}, "x": 1}},
		{"meta to the collection", "PUT", base, map[string]any{"meta": map[string]string{"k": "v"}}},
		{"metadata a string", "PUT", base, map[string]any{"metadata": "k=v"}},
		{"metadata null", "POST", base, map[string]any{"metadata": nil}},
		{"a number value", "POST", base, map[string]any{"metadata": map[string]any{"k": 1}}},
		{"an empty key", "POST", base, map[string]any{"metadata": map[string]string{"": "v"}}},
		{"a key of 256", "POST", base, map[string]any{"metadata": map[string]string{long: "v"}}},
		{"a value of 256", "PUT", base, map[string]any{"metadata": map[string]string{"k": long}}},
		{"item: URI mismatch", "PUT", base + "/k", map[string]any{"meta": map[string]string{"other": "v"}}},
		{"item: two keys", "PUT", base + "/k", map[string]any{"meta": map[string]string{"k": "v", "x": "y"}}},
		{"item: none", "PUT", base + "/k", map[string]any{"meta": map[string]string{}}},
		{"item: metadata", "PUT", base + "/k", map[string]any{"metadata": map[string]string{"k": "v"}}},
		{"item: value of 256", "PUT", base + "/k", map[string]any{"meta": map[string]string{"k": long}}},
	} {
		novaError(t, c.name, do(c.method, c.path, demo, c.body), 400, "badRequest", "")
	}
	novaError(t, "URI mismatch", do("PUT", base+"/k", demo, map[string]any{"meta": map[string]string{"other": "v"}}),
		400, "badRequest", "Request body and URI mismatch")
	want("after bad input", metadata(), map[string]any{"d": "4"})

	// Concurrent merges, each adding its own key, lose none.
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = do("POST", base, demo, map[string]any{"metadata": map[string]string{fmt.Sprintf("k%02d", i): "v"}}).Status
		}()
	}
	wg.Wait()
	got := metadata()
	for i, st := range statuses {
		if k := fmt.Sprintf("k%02d", i); st != 200 || got[k] != "v" {
			t.Errorf("concurrent POST of %s: %d, and it is %v afterwards", k, st, got[k])
		}
	}
	if len(got) != 21 {
		t.Errorf("after 20 concurrent merges: %d items, want 21: %v", len(got), got)
	}

	// The metadata_items quota counts each server's items.
	pid := s["tenant_id"].(string)
	if r := do("PUT", "/compute/v2.1/os-quota-sets/"+pid, admin, map[string]any{"quota_set": map[string]any{"metadata_items": 3}}); r.Status != 200 {
		t.Fatalf("set metadata_items: %d %s", r.Status, r.Body)
	}
	three := map[string]string{"x": "1", "y": "2", "z": "3"}
	if r := do("PUT", base, demo, map[string]any{"metadata": three}); r.Status != 200 {
		t.Errorf("PUT of 3 items under a quota of 3: %d %s", r.Status, r.Body)
	}
	over := maps.Clone(three)
	over["w"] = "4"
	novaError(t, "PUT of 4 items", do("PUT", base, demo, map[string]any{"metadata": over}), 403, "forbidden", "Quota exceeded for metadata_items")
	novaError(t, "POST of a 4th", do("POST", base, demo, map[string]any{"metadata": map[string]string{"w": "4"}}), 403, "forbidden", "Quota exceeded for metadata_items")
	novaError(t, "PUT of a 4th item", do("PUT", base+"/w", demo, map[string]any{"meta": map[string]string{"w": "4"}}), 403, "forbidden", "Quota exceeded for metadata_items")
	if r := do("POST", base, demo, map[string]any{"metadata": map[string]string{"x": "one"}}); r.Status != 200 {
		t.Errorf("POST changing an item at the quota: %d %s", r.Status, r.Body)
	}
	want("after the refusals", metadata(), map[string]any{"x": "one", "y": "2", "z": "3"})

	// A locked server refuses its project's members, not admins.
	act(t, tc, demo, id, map[string]any{"lock": nil}, 202)
	novaError(t, "POST while locked", do("POST", base, demo, map[string]any{"metadata": map[string]string{"l": "1"}}), 409, "conflictingRequest", "is locked")
	novaError(t, "PUT while locked", do("PUT", base, demo, map[string]any{"metadata": map[string]string{}}), 409, "conflictingRequest", "is locked")
	novaError(t, "PUT item while locked", do("PUT", base+"/l", demo, map[string]any{"meta": map[string]string{"l": "1"}}), 409, "conflictingRequest", "is locked")
	novaError(t, "DELETE while locked", do("DELETE", base+"/x", demo, nil), 409, "conflictingRequest", "is locked")
	if r := do("GET", base, demo, nil); r.Status != 200 {
		t.Errorf("GET while locked: %d %s", r.Status, r.Body)
	}
	if r := do("POST", base, admin, map[string]any{"metadata": map[string]string{"x": "admin"}}); r.Status != 200 {
		t.Errorf("an admin's POST while locked: %d %s", r.Status, r.Body)
	}
	act(t, tc, demo, id, map[string]any{"unlock": nil}, 202)
	if r := do("DELETE", base+"/x", demo, nil); r.Status != 204 {
		t.Errorf("DELETE after unlock: %d %s", r.Status, r.Body)
	}

	// Another project's server is not found; the admin sees demo's.
	other := tc.CreateServer(t, admin, map[string]any{"name": "admins", "flavorRef": "1", "imageRef": s["image"].(map[string]any)["id"]})
	otherBase := "/compute/v2.1/servers/" + other.JSON(t)["server"].(map[string]any)["id"].(string) + "/metadata"
	novaError(t, "GET another project's", do("GET", otherBase, demo, nil), 404, "itemNotFound", "could not be found")
	novaError(t, "POST to another project's", do("POST", otherBase, demo, map[string]any{"metadata": map[string]string{"k": "v"}}), 404, "itemNotFound", "could not be found")
	novaError(t, "DELETE another project's", do("DELETE", otherBase+"/k", demo, nil), 404, "itemNotFound", "could not be found")
	if r := do("GET", base, admin, nil); r.Status != 200 {
		t.Errorf("an admin's GET of demo's: %d %s", r.Status, r.Body)
	}
	novaError(t, "an unknown server", do("GET", "/compute/v2.1/servers/00000000-0000-0000-0000-000000000000/metadata", demo, nil), 404, "itemNotFound", "could not be found")

	// Metadata changes are no instance actions.
	var actions []string
	for _, a := range do("GET", "/compute/v2.1/servers/"+id+"/os-instance-actions", demo, nil).JSON(t)["instanceActions"].([]any) {
		actions = append(actions, a.(map[string]any)["action"].(string))
	}
	slices.Sort(actions)
	if !slices.Equal(actions, []string{"create", "lock", "unlock"}) {
		t.Errorf("instance actions: %v, want create, lock and unlock only", actions)
	}

	// A shelved (offloaded) server refuses changes; a deleted one is gone.
	act(t, tc, demo, id, map[string]any{"shelve": nil}, 202)
	tc.WaitStatus(t, demo, id, "SHELVED_OFFLOADED", time.Minute)
	novaError(t, "POST while offloaded", do("POST", base, demo, map[string]any{"metadata": map[string]string{"k": "v"}}), 409,
		"conflictingRequest", "Cannot 'update metadata' instance "+id+" while it is in vm_state shelved_offloaded")
	novaError(t, "DELETE while offloaded", do("DELETE", base+"/y", demo, nil), 409,
		"conflictingRequest", "Cannot 'delete metadata' instance "+id+" while it is in vm_state shelved_offloaded")
	if r := do("DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, time.Minute, "the server to be gone", func() bool {
		return do("GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
	})
	novaError(t, "GET a deleted server's", do("GET", base, demo, nil), 404, "itemNotFound", "could not be found")
	novaError(t, "POST to a deleted server's", do("POST", base, admin, map[string]any{"metadata": map[string]string{"k": "v"}}), 404, "itemNotFound", "could not be found")
}

// TestServerTags covers the server tags API (2.26): every route, Nova's
// 400s and the limit of 50, 404 below 2.26, tags in server details from
// 2.26 only (the detail list's cache following each change), a state
// that refuses changes (409), other projects' servers (404), and tags
// given at launch (2.52).
func TestServerTags(t *testing.T) {
	tc, id := shelveCloud(t, nil)
	admin, demo := tc.AdminToken(t), tc.DemoToken(t)
	base := "/compute/v2.1/servers/" + id + "/tags"
	at := func(v string) []string { return []string{"OpenStack-API-Version", "compute " + v} }
	do := func(method, path, token string, body any) controllertest.Resp {
		t.Helper()
		return tc.Do(t, method, path, token, body, at("2.26")...)
	}
	tags := func() []any {
		t.Helper()
		r := do("GET", base, demo, nil)
		if r.Status != 200 {
			t.Fatalf("GET tags: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["tags"].([]any)
	}
	wantTags := func(what string, got any, want ...any) {
		t.Helper()
		if want == nil {
			want = []any{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: tags %v, want %v", what, got, want)
		}
	}
	// detailTags is the server's tags as GET /servers/detail shows them at v
	// (nil: no tags field).
	detailTags := func(v string) any {
		t.Helper()
		for _, s := range tc.Do(t, "GET", "/compute/v2.1/servers/detail", demo, nil, at(v)...).JSON(t)["servers"].([]any) {
			if s := s.(map[string]any); s["id"] == id {
				return s["tags"]
			}
		}
		t.Fatalf("server %s not in the detail list", id)
		return nil
	}

	wantTags("a new server", tags())
	wantTags("detail of a new server", detailTags("2.26"))
	r := do("PUT", base, demo, map[string]any{"tags": []string{"b", "a", "b"}})
	if r.Status != 200 {
		t.Fatalf("PUT tags: %d %s", r.Status, r.Body)
	}
	wantTags("PUT's answer", r.JSON(t)["tags"], "a", "b")
	wantTags("after PUT", tags(), "a", "b")
	wantTags("detail after PUT", detailTags("2.26"), "a", "b") // (each change must reach the cached rendering)
	r = do("PUT", base+"/c%20d", demo, nil)
	if loc := r.Header.Get("Location"); r.Status != 201 || !strings.HasSuffix(loc, "/compute/v2.1/servers/"+id+"/tags/c%20d") {
		t.Errorf("PUT tags/{tag}: %d, Location %q", r.Status, loc)
	}
	if r = do("PUT", base+"/c%20d", demo, nil); r.Status != 204 {
		t.Errorf("PUT of a tag it has: %d %s, want 204", r.Status, r.Body)
	}
	if r = do("GET", base+"/c%20d", demo, nil); r.Status != 204 || len(r.Body) != 0 {
		t.Errorf("GET tags/{tag} it has: %d %q, want 204 with no body", r.Status, r.Body)
	}
	novaError(t, "GET a tag it has not", do("GET", base+"/zz", demo, nil), 404, "itemNotFound", "has no tag 'zz'")
	wantTags("detail after PUT tags/{tag}", detailTags("2.26"), "a", "b", "c d")
	s := do("GET", "/compute/v2.1/servers/"+id, demo, nil).JSON(t)["server"].(map[string]any)
	wantTags("server show at 2.26", s["tags"], "a", "b", "c d")
	if r = do("DELETE", base+"/a", demo, nil); r.Status != 204 {
		t.Errorf("DELETE tags/{tag}: %d %s", r.Status, r.Body)
	}
	novaError(t, "DELETE a tag it has not", do("DELETE", base+"/a", demo, nil), 404, "itemNotFound", "has no tag 'a'")
	wantTags("detail after DELETE tags/{tag}", detailTags("2.26"), "b", "c d")

	// Below 2.26 there are no tags.
	for _, v := range []string{"2.1", "2.25"} {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			novaError(t, m+" tags at "+v, tc.Do(t, m, base, demo, nil, at(v)...), 404, "itemNotFound", "")
			novaError(t, m+" tags/{tag} at "+v, tc.Do(t, m, base+"/b", demo, nil, at(v)...), 404, "itemNotFound", "")
		}
		s := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, demo, nil, at(v)...).JSON(t)["server"].(map[string]any)
		if _, ok := s["tags"]; ok {
			t.Errorf("server show at %s has tags: %v", v, s["tags"])
		}
		if got := detailTags(v); got != nil {
			t.Errorf("server detail at %s has tags: %v", v, got)
		}
	}
	wantTags("after the calls below 2.26", tags(), "b", "c d")

	// Bad input: 400, and nothing changes.
	fifty := make([]string, 51)
	for i := range fifty {
		fifty[i] = fmt.Sprintf("t%02d", i)
	}
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"a comma", "PUT", base + "/a,b", nil},
		{"a slash", "PUT", base + "/a%2Fb", nil},
		{"61 characters", "PUT", base + "/" + strings.Repeat("t", 61), nil},
		{"a body", "PUT", base + "/x", map[string]any{"tag": "x"}},
		{"no body", "PUT", base, nil},
		{"no tags", "PUT", base, map[string]any{}},
		{"tags a string", "PUT", base, map[string]any{"tags": "a"}},
		{"a number", "PUT", base, map[string]any{"tags": []any{1}}},
		{"another field", "PUT", base, map[string]any{"tags": []string{"a"}, "x": 1}},
		{"an empty tag", "PUT", base, map[string]any{"tags": []string{""}}},
		{"a comma in the list", "PUT", base, map[string]any{"tags": []string{"a,b"}}},
		{"51 tags", "PUT", base, map[string]any{"tags": fifty}},
	} {
		novaError(t, c.name, do(c.method, c.path, demo, c.body), 400, "badRequest", "")
	}
	wantTags("after bad input", tags(), "b", "c d")
	if r := do("PUT", base, demo, map[string]any{"tags": fifty[:50]}); r.Status != 200 {
		t.Errorf("PUT of 50 tags: %d %s", r.Status, r.Body)
	}
	if got, _ := detailTags("2.26").([]any); len(got) != 50 {
		t.Errorf("detail after PUT of 50 tags: %d tags", len(got))
	}
	novaError(t, "a 51st tag", do("PUT", base+"/extra", demo, nil), 400, "badRequest", "per-server limit 50")
	if r := do("PUT", base+"/t00", demo, nil); r.Status != 204 {
		t.Errorf("PUT of a tag it has, at 50: %d %s", r.Status, r.Body)
	}
	if r := do("DELETE", base, demo, nil); r.Status != 204 {
		t.Errorf("DELETE tags: %d %s", r.Status, r.Body)
	}
	wantTags("after DELETE tags", tags())
	wantTags("detail after DELETE tags", detailTags("2.26"))

	// Tags do not look at the lock (Nova's tag API does not); readers of
	// other projects do not find the server.
	act(t, tc, demo, id, map[string]any{"lock": nil}, 202)
	if r := do("PUT", base+"/locked", demo, nil); r.Status != 201 {
		t.Errorf("PUT tags/{tag} while locked: %d %s, want 201", r.Status, r.Body)
	}
	act(t, tc, demo, id, map[string]any{"unlock": nil}, 202)
	other := tc.CreateServer(t, admin, map[string]any{"name": "admins", "flavorRef": "1", "imageRef": s["image"].(map[string]any)["id"]})
	otherBase := "/compute/v2.1/servers/" + other.JSON(t)["server"].(map[string]any)["id"].(string) + "/tags"
	novaError(t, "GET another project's", do("GET", otherBase, demo, nil), 404, "itemNotFound", "could not be found")
	novaError(t, "PUT to another project's", do("PUT", otherBase+"/x", demo, nil), 404, "itemNotFound", "could not be found")
	novaError(t, "DELETE another project's", do("DELETE", otherBase, demo, nil), 404, "itemNotFound", "could not be found")

	// Tags at launch, from 2.52.
	launch := func(v string, tags []string) controllertest.Resp {
		return tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{"name": "tagged", "flavorRef": "1",
			"imageRef": s["image"].(map[string]any)["id"], "tags": tags}}, at(v)...)
	}
	novaError(t, "tags at launch at 2.51", launch("2.51", []string{"x"}), 400, "badRequest", "'tags' was unexpected")
	novaError(t, "a bad tag at launch", launch("2.52", []string{"x/y"}), 400, "badRequest", "")
	r = launch("2.52", []string{"y", "x"})
	if r.Status != 202 {
		t.Fatalf("launch with tags: %d %s", r.Status, r.Body)
	}
	tagged := r.JSON(t)["server"].(map[string]any)["id"].(string)
	wantTags("launched with tags", do("GET", "/compute/v2.1/servers/"+tagged+"/tags", demo, nil).JSON(t)["tags"], "x", "y")

	// An offloaded server refuses changes; a deleted one is gone.
	act(t, tc, demo, id, map[string]any{"shelve": nil}, 202)
	tc.WaitStatus(t, demo, id, "SHELVED_OFFLOADED", time.Minute)
	novaError(t, "PUT tags/{tag} while offloaded", do("PUT", base+"/x", demo, nil), 409,
		"conflictingRequest", "Cannot 'update tag' instance "+id+" while it is in vm_state shelved_offloaded")
	novaError(t, "DELETE tags while offloaded", do("DELETE", base, demo, nil), 409, "conflictingRequest", "delete tags")
	wantTags("an offloaded server's", tags(), "locked")
	if r := do("DELETE", "/compute/v2.1/servers/"+id, demo, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	controllertest.WaitFor(t, time.Minute, "the server to be gone", func() bool {
		return do("GET", "/compute/v2.1/servers/"+id, demo, nil).Status == 404
	})
	novaError(t, "GET a deleted server's", do("GET", base, demo, nil), 404, "itemNotFound", "could not be found")
	novaError(t, "PUT to a deleted server's", do("PUT", base+"/x", admin, nil), 404, "itemNotFound", "could not be found")
}

// TestServerTagsFilters: GET /servers and /servers/detail filter by
// tags (all of them), tags-any, not-tags (not all of them) and
// not-tags-any from 2.26, comma-separated and combined; below 2.26 the
// filters are ignored.
func TestServerTagsFilters(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	mv := []string{"OpenStack-API-Version", "compute 2.52"}
	ids := map[string]string{}
	for name, tags := range map[string][]string{"ab": {"a", "b"}, "a": {"a"}, "bc": {"b", "c"}, "none": {}} {
		r := tc.Do(t, "POST", "/compute/v2.1/servers", demo, map[string]any{"server": map[string]any{"name": name, "flavorRef": "1",
			"imageRef": img, "tags": tags}}, mv...)
		if r.Status != 202 {
			t.Fatalf("launch %s: %d %s", name, r.Status, r.Body)
		}
		ids[r.JSON(t)["server"].(map[string]any)["id"].(string)] = name
	}
	list := func(path, query, v string) []string {
		t.Helper()
		r := tc.Do(t, "GET", "/compute/v2.1/servers"+path+"?"+query, demo, nil, "OpenStack-API-Version", "compute "+v)
		if r.Status != 200 {
			t.Fatalf("list %s: %d %s", query, r.Status, r.Body)
		}
		var names []string
		for _, s := range r.JSON(t)["servers"].([]any) {
			names = append(names, ids[s.(map[string]any)["id"].(string)])
		}
		slices.Sort(names)
		return names
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"tags=a", []string{"a", "ab"}},
		{"tags=a,b", []string{"ab"}},
		{"tags=b,a,b", []string{"ab"}},
		{"tags=a,c", nil},
		{"tags-any=a,c", []string{"a", "ab", "bc"}},
		{"tags-any=zz", nil},
		{"not-tags=a,b", []string{"a", "bc", "none"}},
		{"not-tags=a", []string{"bc", "none"}},
		{"not-tags-any=a,c", []string{"none"}},
		{"tags=b&not-tags-any=c", []string{"ab"}},
		{"tags-any=a,b&not-tags=a,b", []string{"a", "bc"}},
		{"", []string{"a", "ab", "bc", "none"}},
	} {
		for _, path := range []string{"", "/detail"} {
			if got := list(path, c.query, "2.26"); !slices.Equal(got, c.want) {
				t.Errorf("GET /servers%s?%s: %v, want %v", path, c.query, got, c.want)
			}
		}
	}
	if got := list("/detail", "tags=a", "2.25"); len(got) != 4 {
		t.Errorf("tags=a at 2.25: %v, want the filter ignored (all 4)", got)
	}
}
