package main

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/diskimage/diskimagetest"
)

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
