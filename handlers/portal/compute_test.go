package portal_test

import (
	"context"
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/diskimage/diskimagetest"

	"golang.org/x/crypto/ssh"
)

// hasTestID reports whether the page has an element with data-testid id.
func hasTestID(p controllertest.Page, id string) bool {
	return strings.Contains(p.Body, `data-testid="`+html.EscapeString(id)+`"`)
}

// textOfTestID returns the text of the first element with data-testid id
// (up to its first tag), unescaped.
func textOfTestID(t *testing.T, p controllertest.Page, id string) string {
	t.Helper()
	re := regexp.MustCompile(`data-testid="` + regexp.QuoteMeta(html.EscapeString(id)) + `"[^>]*>([^<]*)<`)
	m := re.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no element %q on the page (status %d)", id, p.Status)
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// memberAndAdmin signs in demo (a member of project demo) and admin.
func memberAndAdmin(t *testing.T, tc *controllertest.Cloud) (d *controllertest.FormClient, dTok string, a *controllertest.FormClient, aTok string) {
	t.Helper()
	d, a = tc.NewFormClient(t), tc.NewFormClient(t)
	dTok, aTok = controllertest.CSRFOf(t, d.Login("demo", tc.DemoPass)), controllertest.CSRFOf(t, a.Login("admin", tc.AdminPass))
	return d, dTok, a, aTok
}

func TestPortalImages(t *testing.T) {
	tc := controllertest.New(t, nil)
	d, dTok, a, aTok := memberAndAdmin(t, tc)

	list := d.Get("/project/images")
	if list.Status != 200 || !hasTestID(list, "image-table") || !hasTestID(list, "image-new") {
		t.Fatalf("member's image list: got %d", list.Status)
	}
	// Public is offered to admins only.
	if p := d.Get("/project/images/new"); p.Status != 200 || strings.Contains(p.Body, `<option value="public"`) {
		t.Errorf("member's create form: got %d, public offered: %v", p.Status, strings.Contains(p.Body, `<option value="public"`))
	}
	if p := a.Get("/project/images/new"); !strings.Contains(p.Body, `<option value="public"`) {
		t.Error("the admin's create form does not offer public")
	}
	if p := d.Post("/project/images", url.Values{"_csrf": {dTok}, "name": {"sneaky"}, "disk_format": {"raw"}, "visibility": {"public"}}); p.Status != http.StatusForbidden {
		t.Errorf("member creating a public image: got %d, want 403", p.Status)
	}

	// Validation errors show next to their fields; nothing is created.
	bad := []struct{ field, name, format, minDisk string }{
		{"name", "  ", "qcow2", "0"},
		{"disk_format", "x", "vmdk", "0"},
		{"min_disk", "x", "raw", "-1"},
		{"min_disk", "x", "raw", "lots"},
	}
	for _, c := range bad {
		p := d.Post("/project/images", url.Values{"_csrf": {dTok}, "name": {c.name}, "disk_format": {c.format},
			"visibility": {"private"}, "min_disk": {c.minDisk}, "min_ram": {"0"}})
		if p.Status != http.StatusUnprocessableEntity || !hasTestID(p, "error-"+c.field) {
			t.Errorf("bad %s: got %d, want 422 with error-%s", c.field, p.Status, c.field)
		}
	}
	if p := d.Post("/project/images", url.Values{"name": {"no-token"}, "disk_format": {"raw"}, "visibility": {"private"}}); p.Status != http.StatusForbidden {
		t.Errorf("create without CSRF token: got %d, want 403", p.Status)
	}

	// Create: a queued record, then the upload page.
	p := d.Post("/project/images", url.Values{"_csrf": {dTok}, "name": {"portal-img"}, "disk_format": {"raw"},
		"visibility": {"private"}, "min_disk": {"1"}, "min_ram": {"64"}})
	m := regexp.MustCompile(`^/project/images/([0-9a-f-]{36})/upload$`).FindStringSubmatch(p.Location)
	if p.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("create image: got %d %q, want 303 to the upload page", p.Status, p.Location)
	}
	id := m[1]
	up := d.Get(p.Location)
	for _, want := range []string{"upload-progress", "upload-form", "upload-nojs", "upload-cli", "flash"} {
		if !hasTestID(up, want) {
			t.Errorf("upload page lacks %s", want)
		}
	}
	if !strings.Contains(up.Body, `src="/static/images.js"`) || !strings.Contains(up.Body, `data-upload-url="/project/images/`+id+`/file"`) ||
		!strings.Contains(up.Body, "openstack image create --disk-format raw") {
		t.Error("upload page lacks its script, upload URL or CLI hint")
	}
	// Without script the upload form stays hidden and the CLI hint shows.
	if !regexp.MustCompile(`<div hidden[^>]*data-testid="upload-form"`).MatchString(up.Body) ||
		regexp.MustCompile(`<div hidden[^>]*data-testid="upload-nojs"`).MatchString(up.Body) {
		t.Error("without script the upload form shows or the CLI hint hides")
	}
	list = d.Get("/project/images")
	if !hasTestID(list, "image-row-portal-img") || textOfTestID(t, list, "image-status-portal-img") != "Queued" ||
		!hasTestID(list, "image-upload-portal-img") {
		t.Fatal("new image is not listed as queued with an upload link")
	}

	// The upload needs the token in its header and this site's origin.
	data := make([]byte, 5<<20+12345)
	rand.Read(data)
	sum := md5.Sum(data)
	file := "/project/images/" + id + "/file"
	if p := d.Put(file, strings.NewReader(string(data[:1000])), 1000, "Origin", tc.URL); p.Status != http.StatusForbidden {
		t.Errorf("upload without X-CSRF-Token: got %d, want 403", p.Status)
	}
	if p := d.Put(file, strings.NewReader(string(data[:1000])), 1000, "Origin", tc.URL, "X-CSRF-Token", "wrong"); p.Status != http.StatusForbidden {
		t.Errorf("upload with a wrong token: got %d, want 403", p.Status)
	}
	if p := d.Put(file, strings.NewReader(string(data[:1000])), 1000, "Origin", "http://evil.example", "X-CSRF-Token", dTok); p.Status != http.StatusForbidden {
		t.Errorf("upload from another origin: got %d, want 403", p.Status)
	}
	// A big form-encoded body without the header is refused by the body
	// limit, not read whole looking for a token.
	req, _ := http.NewRequest("PUT", tc.URL+file, &controllertest.ZeroReader{Left: 4 << 20})
	req.ContentLength = 4 << 20
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", tc.URL)
	if res, err := d.Client.Do(req); err == nil {
		if p := controllertest.ReadPage(t, res); p.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("form-encoded upload without the header: got %d, want 413", p.Status)
		}
	}
	if r := tc.Do(t, "GET", "/image/v2/images/"+id, tc.DemoToken(t), nil).JSON(t); r["status"] != "queued" {
		t.Fatalf("refused uploads changed the image: status %v", r["status"])
	}
	// The real upload: streamed (an io.Reader that is not a byte slice).
	p = d.Put(file, io.MultiReader(strings.NewReader(string(data[:1<<20])), strings.NewReader(string(data[1<<20:]))), int64(len(data)),
		"Origin", tc.URL, "X-CSRF-Token", dTok)
	if p.Status != http.StatusNoContent {
		t.Fatalf("upload: got %d %s", p.Status, p.Body)
	}
	im := tc.Do(t, "GET", "/image/v2/images/"+id, tc.DemoToken(t), nil).JSON(t)
	if im["status"] != "active" || im["checksum"] != hex.EncodeToString(sum[:]) || im["size"] != float64(len(data)) {
		t.Errorf("after upload: status %v checksum %v size %v, want active %x %d", im["status"], im["checksum"], im["size"], sum, len(data))
	}
	if p := d.Put(file, strings.NewReader("again"), 5, "Origin", tc.URL, "X-CSRF-Token", dTok); p.Status != http.StatusConflict {
		t.Errorf("second upload: got %d, want 409", p.Status)
	}
	list = d.Get("/project/images")
	if got := textOfTestID(t, list, "image-status-portal-img"); got != "Active" {
		t.Errorf("status after upload: %q", got)
	}
	if got := textOfTestID(t, list, "image-size-portal-img"); got != "5.0 MiB" {
		t.Errorf("size shown: %q, want 5.0 MiB", got)
	}
	if hasTestID(list, "image-upload-portal-img") {
		t.Error("an active image still offers an upload")
	}
	if p := d.Get("/project/images/" + id + "/upload"); !hasTestID(p, "upload-not-queued") || hasTestID(p, "upload-form") {
		t.Error("the upload page of an active image offers an upload")
	}

	// Visibility buttons are the admin's: the member neither sees them nor
	// may post them.
	if strings.Contains(list.Body, "image-make-public-") || strings.Contains(list.Body, "image-make-private-") {
		t.Error("a member sees the Make public button")
	}
	if p := d.Post("/project/images/"+id+"/visibility", url.Values{"_csrf": {dTok}, "visibility": {"public"}}); p.Status != http.StatusForbidden {
		t.Errorf("member changing visibility: got %d, want 403", p.Status)
	}
	if p := d.Post("/project/images/"+id+"/visibility", url.Values{"_csrf": {dTok}, "visibility": {"private"}}); p.Status != http.StatusForbidden {
		t.Errorf("member making private: got %d, want 403", p.Status)
	}
	alist := a.Get("/project/images")
	if !hasTestID(alist, "image-make-public-portal-img") {
		t.Fatal("the admin has no Make public button")
	}
	if p := a.Post("/project/images/"+id+"/visibility", url.Values{"visibility": {"public"}}); p.Status != http.StatusForbidden {
		t.Errorf("visibility without CSRF token: got %d, want 403", p.Status)
	}
	if p := a.Post("/project/images/"+id+"/visibility", url.Values{"_csrf": {aTok}, "visibility": {"public"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("admin making public: got %d", p.Status)
	}
	if got := textOfTestID(t, d.Get("/project/images"), "image-visibility-portal-img"); got != "Public" {
		t.Errorf("visibility after Make public: %q", got)
	}
	if !hasTestID(a.Get("/project/images"), "image-make-private-portal-img") {
		t.Error("a public image offers no Make private button")
	}
	if p := a.Post("/project/images/"+id+"/visibility", url.Values{"_csrf": {aTok}, "visibility": {"private"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("admin making private: got %d", p.Status)
	}

	// Delete: CSRF checked, then gone.
	if p := d.Post("/project/images/"+id+"/delete", url.Values{}); p.Status != http.StatusForbidden {
		t.Errorf("delete without CSRF token: got %d, want 403", p.Status)
	}
	if p := d.Post("/project/images/"+id+"/delete", url.Values{"_csrf": {dTok}}); p.Status != http.StatusSeeOther {
		t.Fatalf("delete: got %d", p.Status)
	}
	if list := d.Get("/project/images"); hasTestID(list, "image-row-portal-img") {
		t.Error("deleted image still listed")
	}
	if p := d.Post("/project/images/"+id+"/delete", url.Values{"_csrf": {dTok}}); p.Status != http.StatusNotFound {
		t.Errorf("delete again: got %d, want 404", p.Status)
	}
	// Admin pages stay closed to the member.
	if p := d.Get("/admin/flavors"); p.Status != http.StatusForbidden {
		t.Errorf("member on /admin/flavors: got %d", p.Status)
	}
}

// TestPortalImagesUploadStreams sends a large body through the portal's
// upload route and checks the server's heap does not grow with it.
func TestPortalImagesUploadStreams(t *testing.T) {
	tc := controllertest.New(t, nil)
	d := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, d.Login("demo", tc.DemoPass))
	p := d.Post("/project/images", url.Values{"_csrf": {tok}, "name": {"big"}, "disk_format": {"raw"}, "visibility": {"private"}})
	m := regexp.MustCompile(`/project/images/([0-9a-f-]{36})/upload`).FindStringSubmatch(p.Location)
	if m == nil {
		t.Fatalf("create: got %d %q", p.Status, p.Location)
	}
	watch := controllertest.WatchHeap()
	const size = 192 << 20
	p = d.Put("/project/images/"+m[1]+"/file", &controllertest.ZeroReader{Left: size}, size, "Origin", tc.URL, "X-CSRF-Token", tok)
	grew := watch()
	if p.Status != http.StatusNoContent {
		t.Fatalf("upload: got %d", p.Status)
	}
	t.Logf("heap in use grew by at most %d MiB during a %d MiB upload", grew>>20, size>>20)
	if grew > 64<<20 {
		t.Errorf("heap grew by %d MiB: the upload is being buffered", grew>>20)
	}
	if got := tc.Do(t, "GET", "/image/v2/images/"+m[1], tc.DemoToken(t), nil).JSON(t)["size"]; got != float64(size) {
		t.Errorf("size: got %v", got)
	}
}

func TestPortalKeyPairs(t *testing.T) {
	tc := controllertest.New(t, nil)
	d, dTok, _, _ := memberAndAdmin(t, tc)
	list := d.Get("/project/key_pairs")
	if list.Status != 200 || !hasTestID(list, "keypair-table") || !hasTestID(list, "keypair-empty") {
		t.Fatalf("member's key pair list: got %d", list.Status)
	}
	if p := d.Get("/admin/hypervisors"); p.Status != http.StatusForbidden {
		t.Errorf("member on /admin/hypervisors: got %d", p.Status)
	}

	// Validation errors show next to the field.
	for _, name := range []string{"", "bad/name", strings.Repeat("x", 256)} {
		p := d.Post("/project/key_pairs", url.Values{"_csrf": {dTok}, "name": {name}})
		if p.Status != http.StatusUnprocessableEntity || !hasTestID(p, "error-name") {
			t.Errorf("key pair name %q: got %d, want 422 with error-name", name, p.Status)
		}
	}
	if p := d.Post("/project/key_pairs", url.Values{"name": {"no-token"}}); p.Status != http.StatusForbidden {
		t.Errorf("create without CSRF token: got %d, want 403", p.Status)
	}

	// Generate: the private key is in the answer, once.
	p := d.Post("/project/key_pairs", url.Values{"_csrf": {dTok}, "name": {"portal-key"}})
	if p.Status != 200 || !hasTestID(p, "private-key") || !hasTestID(p, "private-key-download") {
		t.Fatalf("create key pair: got %d", p.Status)
	}
	priv := textOfTestID(t, p, "private-key")
	if !strings.Contains(priv, "BEGIN OPENSSH PRIVATE KEY") {
		t.Fatalf("private key shown: %q", priv)
	}
	if _, err := ssh.ParsePrivateKey([]byte(priv)); err != nil {
		t.Errorf("the private key shown does not parse: %v", err)
	}
	if cc := p.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("private key page Cache-Control: %q", cc)
	}
	fp := textOfTestID(t, p, "keypair-fingerprint")
	list = d.Get("/project/key_pairs")
	if !hasTestID(list, "keypair-row-portal-key") || !strings.Contains(list.Body, fp) {
		t.Error("new key pair is not listed with its fingerprint")
	}
	if strings.Contains(list.Body, "PRIVATE KEY") || hasTestID(list, "private-key") {
		t.Error("the private key is shown a second time")
	}
	if p := d.Post("/project/key_pairs", url.Values{"_csrf": {dTok}, "name": {"portal-key"}}); p.Status != http.StatusUnprocessableEntity || !hasTestID(p, "error-name") {
		t.Errorf("duplicate key pair: got %d, want 422 with error-name", p.Status)
	}

	// Import a public key, under a name with a space.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " me@laptop"
	if p := d.Post("/project/key_pairs/import", url.Values{"_csrf": {dTok}, "name": {"laptop key"}, "public_key": {"ssh-rsa nonsense"}}); p.Status != http.StatusUnprocessableEntity || !hasTestID(p, "error-public_key") {
		t.Errorf("bad public key: got %d, want 422 with error-public_key", p.Status)
	}
	if p := d.Post("/project/key_pairs/import", url.Values{"_csrf": {dTok}, "name": {"laptop key"}, "public_key": {""}}); p.Status != http.StatusUnprocessableEntity || !hasTestID(p, "error-public_key") {
		t.Errorf("empty public key: got %d, want 422 with error-public_key", p.Status)
	}
	if p := d.Post("/project/key_pairs/import", url.Values{"_csrf": {dTok}, "name": {"laptop key"}, "public_key": {authorized}}); p.Status != http.StatusSeeOther || p.Location != "/project/key_pairs" {
		t.Fatalf("import: got %d %q", p.Status, p.Location)
	}
	list = d.Get("/project/key_pairs")
	if !hasTestID(list, "keypair-row-laptop key") || !hasTestID(list, "flash") {
		t.Fatal("imported key pair is not listed")
	}
	// The API sees the same key pairs.
	r := tc.Do(t, "GET", "/compute/v2.1/os-keypairs", tc.DemoToken(t), nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"laptop key"`) || !strings.Contains(string(r.Body), `"portal-key"`) {
		t.Errorf("API key pairs: %d %s", r.Status, r.Body)
	}

	// Delete, from the action the list page gives.
	action := regexp.MustCompile(`action="(/project/key_pairs/[^"]+/delete)"`).FindAllStringSubmatch(list.Body, -1)
	var del string
	for _, a := range action {
		if strings.Contains(a[1], "laptop") {
			del = html.UnescapeString(a[1])
		}
	}
	if del != "/project/key_pairs/laptop%20key/delete" {
		t.Fatalf("delete action: %q", del)
	}
	if p := d.Post(del, url.Values{}); p.Status != http.StatusForbidden {
		t.Errorf("delete without CSRF token: got %d, want 403", p.Status)
	}
	if p := d.Post(del, url.Values{"_csrf": {dTok}}); p.Status != http.StatusSeeOther {
		t.Fatalf("delete: got %d", p.Status)
	}
	if list := d.Get("/project/key_pairs"); hasTestID(list, "keypair-row-laptop key") || !hasTestID(list, "keypair-row-portal-key") {
		t.Error("delete removed the wrong key pairs")
	}
	if p := d.Post(del, url.Values{"_csrf": {dTok}}); p.Status != http.StatusNotFound {
		t.Errorf("delete again: got %d, want 404", p.Status)
	}
}

func TestPortalFlavors(t *testing.T) {
	tc := controllertest.New(t, nil)
	d, dTok, a, aTok := memberAndAdmin(t, tc)
	for _, path := range []string{"/admin/flavors", "/admin/flavors/new"} {
		if p := d.Get(path); p.Status != http.StatusForbidden || !hasTestID(p, "error-page") {
			t.Errorf("member on %s: got %d, want 403", path, p.Status)
		}
	}
	good := url.Values{"_csrf": {aTok}, "name": {"m1.portal"}, "id": {"portal-1"}, "vcpus": {"2"}, "ram": {"2048"}, "disk": {"20"}, "is_public": {"on"}}
	member := url.Values{}
	for k, v := range good {
		member[k] = v
	}
	member.Set("_csrf", dTok)
	if p := d.Post("/admin/flavors", member); p.Status != http.StatusForbidden {
		t.Errorf("member creating a flavor: got %d, want 403", p.Status)
	}

	list := a.Get("/admin/flavors")
	if list.Status != 200 || !hasTestID(list, "flavor-table") || !hasTestID(list, "flavor-new") {
		t.Fatalf("admin flavor list: got %d", list.Status)
	}
	if p := a.Get("/admin/flavors/new"); p.Status != 200 || !hasTestID(p, "flavor-form") || !hasTestID(p, "field-is_public") {
		t.Errorf("flavor form: got %d", p.Status)
	}
	// Validation errors show next to their fields.
	bad := []struct{ field, value string }{
		{"name", " "}, {"vcpus", "0"}, {"vcpus", "two"}, {"ram", ""}, {"ram", "-5"}, {"disk", "-1"}, {"id", "bad/id"},
	}
	for _, c := range bad {
		f := url.Values{}
		for k, v := range good {
			f[k] = v
		}
		f.Set(c.field, c.value)
		p := a.Post("/admin/flavors", f)
		if p.Status != http.StatusUnprocessableEntity || !hasTestID(p, "error-"+c.field) {
			t.Errorf("flavor %s=%q: got %d, want 422 with error-%s", c.field, c.value, p.Status, c.field)
		}
		if !strings.Contains(p.Body, `value="m1.portal"`) && c.field != "name" {
			t.Errorf("flavor %s=%q: the form lost its values", c.field, c.value)
		}
	}
	if p := a.Post("/admin/flavors", url.Values{"name": {"no-token"}, "vcpus": {"1"}, "ram": {"1"}, "disk": {"1"}}); p.Status != http.StatusForbidden {
		t.Errorf("create without CSRF token: got %d, want 403", p.Status)
	}
	if p := a.Post("/admin/flavors", good); p.Status != http.StatusSeeOther || p.Location != "/admin/flavors" {
		t.Fatalf("create flavor: got %d %q", p.Status, p.Location)
	}
	list = a.Get("/admin/flavors")
	if !hasTestID(list, "flavor-row-m1.portal") || !strings.Contains(list.Body, "2,048 MB") || !strings.Contains(list.Body, "portal-1") {
		t.Fatal("new flavor is not listed")
	}
	r := tc.Do(t, "GET", "/compute/v2.1/flavors/portal-1", tc.DemoToken(t), nil)
	if r.Status != 200 {
		t.Errorf("the member cannot use the public flavor: %d", r.Status)
	}
	dup := url.Values{}
	for k, v := range good {
		dup[k] = v
	}
	dup.Set("id", "")
	if p := a.Post("/admin/flavors", dup); p.Status != http.StatusUnprocessableEntity || !hasTestID(p, "error-name") {
		t.Errorf("duplicate flavor name: got %d, want 422 with error-name", p.Status)
	}
	// A private flavor with a generated id.
	priv := url.Values{"_csrf": {aTok}, "name": {"private one"}, "vcpus": {"1"}, "ram": {"256"}, "disk": {"0"}}
	if p := a.Post("/admin/flavors", priv); p.Status != http.StatusSeeOther {
		t.Fatalf("create private flavor: got %d", p.Status)
	}
	list = a.Get("/admin/flavors")
	if !hasTestID(list, "flavor-row-private one") {
		t.Fatal("private flavor is not listed for the admin")
	}

	// Delete.
	if p := a.Post("/admin/flavors/portal-1/delete", url.Values{}); p.Status != http.StatusForbidden {
		t.Errorf("delete without CSRF token: got %d, want 403", p.Status)
	}
	if p := d.Post("/admin/flavors/portal-1/delete", url.Values{"_csrf": {dTok}}); p.Status != http.StatusForbidden {
		t.Errorf("member deleting a flavor: got %d, want 403", p.Status)
	}
	if p := a.Post("/admin/flavors/portal-1/delete", url.Values{"_csrf": {aTok}}); p.Status != http.StatusSeeOther {
		t.Fatalf("delete flavor: got %d", p.Status)
	}
	if list := a.Get("/admin/flavors"); hasTestID(list, "flavor-row-m1.portal") {
		t.Error("deleted flavor still listed")
	}
	if p := a.Post("/admin/flavors/portal-1/delete", url.Values{"_csrf": {aTok}}); p.Status != http.StatusNotFound {
		t.Errorf("delete again: got %d, want 404", p.Status)
	}
}

func TestPortalHosts(t *testing.T) {
	tc := controllertest.New(t, nil)
	d, dTok, a, aTok := memberAndAdmin(t, tc)
	for _, path := range []string{"/admin/hypervisors", "/admin/services"} {
		if p := d.Get(path); p.Status != http.StatusForbidden {
			t.Errorf("member on %s: got %d, want 403", path, p.Status)
		}
	}
	if _, err := tc.Server.Pool().Exec(context.Background(),
		"INSERT INTO compute_hosts (host, vcpus, memory_mb, disk_gb) VALUES ('h1', 4, 8192, 100)"); err != nil {
		t.Fatal(err)
	}
	hv := a.Get("/admin/hypervisors")
	if hv.Status != 200 || !hasTestID(hv, "hypervisor-table") || !hasTestID(hv, "hypervisor-row-h1") {
		t.Fatalf("hypervisors: got %d", hv.Status)
	}
	for id, want := range map[string]string{
		"hypervisor-vcpus-h1": "0 / 4", "hypervisor-ram-h1": "0 / 8,192 MB", "hypervisor-disk-h1": "0 / 100 GB",
		"host-state-h1": "Up", "host-status-h1": "Enabled",
	} {
		if got := textOfTestID(t, hv, id); got != want {
			t.Errorf("%s: got %q, want %q", id, got, want)
		}
	}

	sv := a.Get("/admin/services")
	if sv.Status != 200 || !hasTestID(sv, "service-row-h1") || !hasTestID(sv, "service-disable-h1") {
		t.Fatalf("services: got %d", sv.Status)
	}
	// Validation: an over-long reason is shown next to the field.
	p := a.Post("/admin/services/h1/disable", url.Values{"_csrf": {aTok}, "reason": {strings.Repeat("r", 256)}})
	if p.Status != http.StatusUnprocessableEntity || !hasTestID(p, "error-reason") {
		t.Errorf("long reason: got %d, want 422 with error-reason", p.Status)
	}
	if p := a.Post("/admin/services/h1/disable", url.Values{"reason": {"x"}}); p.Status != http.StatusForbidden {
		t.Errorf("disable without CSRF token: got %d, want 403", p.Status)
	}
	if p := d.Post("/admin/services/h1/disable", url.Values{"_csrf": {dTok}, "reason": {"x"}}); p.Status != http.StatusForbidden {
		t.Errorf("member disabling a host: got %d, want 403", p.Status)
	}
	if p := a.Post("/admin/services/nope/disable", url.Values{"_csrf": {aTok}}); p.Status != http.StatusNotFound {
		t.Errorf("disable unknown host: got %d, want 404", p.Status)
	}
	if p := a.Post("/admin/services/h1/disable", url.Values{"_csrf": {aTok}, "reason": {"<b>maintenance</b> window"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("disable: got %d", p.Status)
	}
	sv = a.Get("/admin/services")
	if got := textOfTestID(t, sv, "service-reason-h1"); got != "<b>maintenance</b> window" {
		t.Errorf("reason shown: %q", got)
	}
	if strings.Contains(sv.Body, "<b>maintenance") {
		t.Error("the reason is not escaped")
	}
	if !hasTestID(sv, "service-enable-h1") || textOfTestID(t, sv, "host-status-h1") != "Disabled" {
		t.Error("a disabled host offers no Enable button")
	}
	if got := textOfTestID(t, a.Get("/admin/hypervisors"), "host-status-h1"); got != "Disabled" {
		t.Errorf("hypervisor status after disable: %q", got)
	}
	r := tc.Do(t, "GET", "/compute/v2.1/os-services", tc.AdminToken(t), nil)
	if !strings.Contains(string(r.Body), "maintenance") {
		t.Errorf("the API does not see the reason: %s", r.Body)
	}
	if p := a.Post("/admin/services/h1/enable", url.Values{"_csrf": {aTok}}); p.Status != http.StatusSeeOther {
		t.Fatalf("enable: got %d", p.Status)
	}
	sv = a.Get("/admin/services")
	if textOfTestID(t, sv, "host-status-h1") != "Enabled" || textOfTestID(t, sv, "service-reason-h1") != "" {
		t.Error("enable did not clear the reason")
	}
}

// TestPortalImageUploadRefused: the portal's upload goes through the same
// inspection and answers in the user's language, as plain text its
// upload page shows.
func TestPortalImageUploadRefused(t *testing.T) {
	diskimagetest.Need(t, "qemu-img")
	tc := controllertest.New(t, nil)
	d := tc.NewFormClient(t)
	tok := controllertest.CSRFOf(t, d.Login("demo", tc.DemoPass))
	backed := diskimagetest.Backed(t, t.TempDir())
	for _, c := range []struct{ lang, want string }{
		{"en", "This image refers to a backing file, which is not allowed."},
		{"zh-CN,zh;q=0.9", "该镜像引用了后端文件 (backing file)，不允许使用。"},
	} {
		p := d.Post("/project/images", url.Values{"_csrf": {tok}, "name": {"portal-" + c.lang}, "disk_format": {"qcow2"}, "visibility": {"private"}})
		m := regexp.MustCompile(`/project/images/([0-9a-f-]{36})/upload`).FindStringSubmatch(p.Location)
		if m == nil {
			t.Fatalf("create: got %d %q", p.Status, p.Location)
		}
		f, err := os.Open(backed)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		p = d.Put("/project/images/"+m[1]+"/file", f, st.Size(), "Origin", tc.URL, "X-CSRF-Token", tok, "Accept-Language", c.lang)
		f.Close()
		if p.Status != http.StatusBadRequest || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") || !strings.HasPrefix(p.Body, c.want) {
			t.Errorf("%s: got %d %q %q, want 400 text/plain starting %q", c.lang, p.Status, p.Header.Get("Content-Type"), p.Body, c.want)
		}
		if im := tc.Do(t, "GET", "/image/v2/images/"+m[1], tc.DemoToken(t), nil).JSON(t); im["status"] != "queued" {
			t.Errorf("%s: image %v after the refusal, want queued", c.lang, im["status"])
		}
	}
}
