package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// volumeForms posts the portal's forms as one signed-in user.
type volumeForms struct {
	t    *testing.T
	b    *controllertest.FormClient
	csrf string
}

func signIn(t *testing.T, tc *controllertest.Cloud, user, password string) volumeForms {
	b := tc.NewFormClient(t)
	return volumeForms{t: t, b: b, csrf: controllertest.CSRFOf(t, b.Login(user, password))}
}

// post submits form to path and returns the answer.
func (f volumeForms) post(path string, form url.Values) controllertest.Page {
	f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", f.csrf)
	return f.b.Post(path, form)
}

// done posts and wants the redirect back to want.
func (f volumeForms) done(path string, form url.Values, want string) {
	f.t.Helper()
	if p := f.post(path, form); p.Status != http.StatusSeeOther || p.Location != want {
		f.t.Fatalf("POST %s: %d to %q, want 303 to %q\n%s", path, p.Status, p.Location, want, p.Body)
	}
}

// row is the table row with data-testid testid on page ("" when none).
func row(page, testid string) string {
	i := strings.Index(page, `data-testid="`+testid+`"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "</tr>")
	if j < 0 {
		return page[i:]
	}
	return page[i : i+j]
}

var (
	volumeIDRe   = regexp.MustCompile(`/project/volumes/([0-9a-f-]{36})/`)
	snapshotIDRe = regexp.MustCompile(`/project/volume_snapshots/([0-9a-f-]{36})/`)
)

// status is the status badge of a volume (or snapshot) row.
func status(r string) string {
	m := regexp.MustCompile(`data-status="([^"]+)"`).FindStringSubmatch(r)
	if m == nil {
		return ""
	}
	return m[1]
}

// waitVolume polls Project > Volumes until the row testid has status want.
func (f volumeForms) waitVolume(testid, want string) string {
	f.t.Helper()
	var r string
	deadline := time.Now().Add(60 * time.Second)
	for {
		r = row(f.b.Get("/project/volumes").Body, testid)
		if status(r) == want {
			return r
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s did not become %s:\n%s", testid, want, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVolumesPage: with no storage host up, a volume made through the
// form is listed in error with the reason, and the page's event stream
// hears of it; a bad size is a message beside the field; another
// project's member neither sees it nor reaches it (404 on every URL); the
// page is in Chinese for a Chinese browser; delete removes it.
func TestVolumesPage(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := signIn(t, tc, "demo", tc.DemoPass)

	page := demo.b.Get("/project/volumes")
	if page.Status != 200 || !strings.Contains(page.Body, `data-testid="nav-volumes"`) || !strings.Contains(page.Body, `data-testid="volume-empty"`) {
		t.Fatalf("Project > Volumes: %d, the menu entry or the empty list missing\n%s", page.Status, page.Body)
	}
	if !strings.Contains(page.Body, `id="volume-table" data-testid="volume-table" data-live="volume" data-live-refresh`) {
		t.Error("the volume table does not follow the volume changes")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := demo.b.Events(ctx, controllertest.LiveSince(page), "")
	if err != nil {
		t.Fatal(err)
	}

	demo.done("/project/volumes", url.Values{"name": {"lost"}, "description": {"no host"}, "size": {"1"}}, "/project/volumes")
	list := demo.b.Get("/project/volumes").Body
	r := row(list, "volume-row-lost")
	if status(r) != "error" || !strings.Contains(r, `data-testid="volume-error-lost"`) || !strings.Contains(r, "1 GiB") {
		t.Fatalf("with no storage host the volume should be listed in error, with why:\n%s", r)
	}
	if !strings.Contains(list, "Volume lost was made but is in error: No valid backend") {
		t.Error("the flash after creating does not say the volume is in error, and why")
	}
	m := volumeIDRe.FindStringSubmatch(r)
	if m == nil {
		t.Fatalf("no delete button on a volume in error:\n%s", r)
	}
	id := m[1]
	for heard := false; !heard; {
		select {
		case ev := <-events:
			heard = strings.Contains(ev.Data, `"change":"volume"`) && strings.Contains(ev.Data, id)
		case <-time.After(10 * time.Second):
			t.Fatal("the page's event stream did not hear of the new volume")
		}
	}

	if p := demo.post("/project/volumes", url.Values{"name": {"bad"}, "size": {"0"}}); p.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.Body, `data-testid="error-size"`) || strings.Contains(p.Body, `data-testid="volume-row-bad"`) {
		t.Errorf("a size of 0: %d, want 422 with the message beside the field", p.Status)
	}

	other := signIn(t, tc, tc.NewProjectMember(t, "vol-other"), controllertest.MemberPassword)
	if p := other.b.Get("/project/volumes"); p.Status != 200 || strings.Contains(p.Body, id) {
		t.Errorf("another project's list: %d, shows the volume: %v", p.Status, strings.Contains(p.Body, id))
	}
	for _, action := range []string{"extend", "attach", "detach", "snapshot", "delete"} {
		if p := other.post("/project/volumes/"+id+"/"+action, url.Values{"new_size": {"2"}, "name": {"x"}}); p.Status != http.StatusNotFound {
			t.Errorf("another project's %s: %d, want 404", action, p.Status)
		}
	}

	req, _ := http.NewRequest("GET", tc.URL+"/project/volumes", nil)
	req.Header.Set("Accept-Language", "zh-CN")
	if p := demo.b.Do(req); !strings.Contains(p.Body, `data-testid="page-title">卷</h1>`) || !strings.Contains(p.Body, "卷快照") ||
		!strings.Contains(p.Body, ">错误<") {
		t.Errorf("Project > Volumes in zh-CN is not Chinese:\n%s", row(p.Body, "volume-row-lost"))
	}

	demo.done("/project/volumes/"+id+"/delete", nil, "/project/volumes")
	controllertest.WaitFor(t, 10*time.Second, "the volume gone", func() bool {
		return row(demo.b.Get("/project/volumes").Body, "volume-row-lost") == ""
	})
}

// TestVolumeLifecycleOnAgent walks a volume through the page with a
// storage host up (an agent on libvirt's test driver keeps volumes under
// its state directory): created available, attached to an instance from
// the instance page and detached again, extended, snapshotted, copied
// from the snapshot, refused a delete while it has a snapshot, deleted.
func TestVolumeLifecycleOnAgent(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "vol-portal")
	tc.WaitHosts(t, 1)
	vm := tc.ActiveServer(t, tc.DemoToken(t), "vm", tc.ActiveImage(t))
	demo := signIn(t, tc, "demo", tc.DemoPass)

	demo.done("/project/volumes", url.Values{"name": {"data"}, "size": {"1"}}, "/project/volumes")
	r := demo.waitVolume("volume-row-data", "available")
	id := volumeIDRe.FindStringSubmatch(r)[1]
	if !strings.Contains(r, `data-testid="volume-attach-to-data"`) || !strings.Contains(r, `value="`+vm+`"`) {
		t.Errorf("the row does not offer the instance to attach to:\n%s", r)
	}

	// Attach and detach from the instance page.
	inst := demo.b.Get("/project/instances/" + vm).Body
	if !strings.Contains(inst, `data-testid="attach-volume"`) || !strings.Contains(inst, `value="`+id+`"`) {
		t.Fatalf("the instance page does not offer the volume:\n%s", inst)
	}
	if !strings.Contains(inst, `id="instance-volumes" data-live="volume instance:`+vm+`" data-live-refresh`) {
		t.Error("the instance page's Volumes do not follow the volume changes")
	}
	demo.done("/project/instances/"+vm+"/volumes", url.Values{"volume": {id}}, "/project/instances/"+vm)
	inst = demo.b.Get("/project/instances/" + vm).Body
	if a := row(inst, "instance-volume-data"); !strings.Contains(a, "/dev/vd") || !strings.Contains(a, "1 GiB") {
		t.Errorf("the instance page's Volumes after attaching:\n%s", a)
	}
	r = demo.waitVolume("volume-row-data", "in-use")
	if !strings.Contains(r, `href="/project/instances/`+vm+`"`) || strings.Contains(r, `data-testid="volume-delete-data"`) {
		t.Errorf("an attached volume's row should link its instance and offer no delete:\n%s", r)
	}
	demo.done("/project/instances/"+vm+"/volumes/"+id+"/detach", nil, "/project/instances/"+vm)
	if inst = demo.b.Get("/project/instances/" + vm).Body; !strings.Contains(inst, `data-testid="instance-volumes-empty"`) {
		t.Errorf("the instance page still lists the volume after detaching")
	}
	demo.waitVolume("volume-row-data", "available")

	// Extend, snapshot, a copy of the snapshot.
	demo.done("/project/volumes/"+id+"/extend", url.Values{"new_size": {"2"}}, "/project/volumes")
	if r = demo.waitVolume("volume-row-data", "available"); !strings.Contains(r, "2 GiB") {
		t.Errorf("after extending to 2 GiB:\n%s", r)
	}
	demo.done("/project/volumes/"+id+"/snapshot", url.Values{"name": {"snap"}}, "/project/volumes")
	s := demo.waitVolume("snapshot-row-snap", "available")
	sid := snapshotIDRe.FindStringSubmatch(s)[1]
	demo.done("/project/volumes", url.Values{"name": {"copy"}, "source": {"snapshot:" + sid}}, "/project/volumes")
	if r = demo.waitVolume("volume-row-copy", "available"); !strings.Contains(r, "2 GiB") {
		t.Errorf("a copy of a 2 GiB snapshot:\n%s", r)
	}

	// A volume with a snapshot is not deleted: the refusal is a flash.
	demo.done("/project/volumes/"+id+"/delete", nil, "/project/volumes")
	if p := demo.b.Get("/project/volumes").Body; !strings.Contains(p, "Refused: ") || status(row(p, "volume-row-data")) != "available" {
		t.Errorf("deleting a volume with a snapshot: want a refusal and the volume kept")
	}
	demo.done("/project/volume_snapshots/"+sid+"/delete", nil, "/project/volumes")
	controllertest.WaitFor(t, 30*time.Second, "the snapshot gone", func() bool {
		return row(demo.b.Get("/project/volumes").Body, "snapshot-row-snap") == ""
	})
	for _, name := range []string{"copy", "data"} {
		m := volumeIDRe.FindStringSubmatch(row(demo.b.Get("/project/volumes").Body, "volume-row-"+name))
		demo.done("/project/volumes/"+m[1]+"/delete", nil, "/project/volumes")
	}
	controllertest.WaitFor(t, 30*time.Second, "the volumes gone", func() bool {
		return strings.Contains(demo.b.Get("/project/volumes").Body, `data-testid="volume-empty"`)
	})
}
