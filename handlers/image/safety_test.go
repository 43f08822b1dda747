package image_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/diskimage/diskimagetest"
)

// TestImageUploadRefusesHostFiles is issue 8's first defect end to end: a
// qcow2 whose backing file is /etc/passwd was accepted and booted, the
// host's file in the guest's disk chain. Every image whose data names
// another file, or is not what its disk_format says, is refused with 400
// and a message naming the problem; it stays queued, no file remains, and
// the owner can upload good data to it. Good images show their
// virtual_size.
func TestImageUploadRefusesHostFiles(t *testing.T) {
	diskimagetest.Need(t, "qemu-img", "genisoimage")
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	files := t.TempDir()
	goodQCOW2 := diskimagetest.QCOW2(t, files, "good.qcow2", "64M")
	goodRaw := diskimagetest.Raw(t, files, "good.raw", 8192)
	goodISO := diskimagetest.ISO(t, files)
	imagesDir := filepath.Join(tc.DataDir, "images")

	bad := []struct {
		name, path, format, message string
	}{
		{"backing file /etc/passwd", diskimagetest.Backed(t, files), "qcow2", "Image has a backing file, which is not allowed"},
		{"external data file", diskimagetest.DataFile(t, files), "qcow2", "Image has an external data file, which is not allowed"},
		{"qcow2 declared raw", goodQCOW2, "raw", "Image disk_format is raw but its data is qcow2"},
		{"raw declared qcow2", goodRaw, "qcow2", "Image disk_format is qcow2 but its data is raw"},
		{"raw declared iso", goodRaw, "iso", "Image disk_format is iso but its data is raw"},
		{"truncated qcow2", diskimagetest.Truncate(t, goodQCOW2, files, "cut.qcow2", 50), "qcow2",
			"Image data is not a valid qcow2 image: truncated header (50 bytes)"},
	}
	var refusedQCOW2 string
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			id := tc.CreateImage(t, demo, map[string]any{"name": c.name, "disk_format": c.format, "container_format": "bare"})["id"].(string)
			r := tc.UploadFile(t, demo, id, c.path)
			if r.Status != http.StatusBadRequest {
				t.Fatalf("upload: got %d %s, want 400", r.Status, r.Body)
			}
			e, _ := r.JSON(t)["error"].(map[string]any)
			if e["code"] != 400.0 || e["message"] != c.message {
				t.Errorf("error: got %v, want code 400 and message %q", e, c.message)
			}
			im := tc.Do(t, "GET", "/image/v2/images/"+id, demo, nil).JSON(t)
			if im["status"] != "queued" || im["size"] != nil || im["virtual_size"] != nil || im["checksum"] != nil {
				t.Errorf("after the refusal: %v, want queued with no data", im)
			}
			if _, err := os.Stat(filepath.Join(imagesDir, id)); !os.IsNotExist(err) {
				t.Errorf("image file left behind: %v", err)
			}
			if tmp, _ := filepath.Glob(filepath.Join(imagesDir, ".upload-*")); len(tmp) > 0 {
				t.Errorf("upload files left behind: %v", tmp)
			}
			if r := tc.Do(t, "GET", "/image/v2/images/"+id+"/file", demo, nil); r.Status != http.StatusNotFound {
				t.Errorf("download of a refused image: got %d, want 404", r.Status)
			}
			if c.format == "qcow2" && refusedQCOW2 == "" {
				refusedQCOW2 = id
			}
		})
	}

	// A refused image takes good data afterwards.
	if r := tc.UploadFile(t, demo, refusedQCOW2, goodQCOW2); r.Status != http.StatusNoContent {
		t.Fatalf("good data after a refusal: got %d %s", r.Status, r.Body)
	}
	good := []struct {
		name, id, path string
		virtualSize    float64
	}{
		{"qcow2", refusedQCOW2, goodQCOW2, 64 << 20},
		{"raw", tc.CreateImage(t, demo, map[string]any{"name": "raw", "disk_format": "raw", "container_format": "bare"})["id"].(string), goodRaw, 8192},
		{"iso", tc.CreateImage(t, demo, map[string]any{"name": "iso", "disk_format": "iso", "container_format": "bare"})["id"].(string), goodISO, 0},
	}
	for _, g := range good {
		if g.name != "qcow2" {
			if r := tc.UploadFile(t, demo, g.id, g.path); r.Status != http.StatusNoContent {
				t.Fatalf("upload %s: got %d %s", g.name, r.Status, r.Body)
			}
		}
		st, _ := os.Stat(g.path)
		want := g.virtualSize
		if want == 0 {
			want = float64(st.Size())
		}
		im := tc.Do(t, "GET", "/image/v2/images/"+g.id, demo, nil).JSON(t)
		if im["status"] != "active" || im["virtual_size"] != want || im["size"] != float64(st.Size()) {
			t.Errorf("good %s: status %v, size %v, virtual_size %v; want active, %d, %v",
				g.name, im["status"], im["size"], im["virtual_size"], st.Size(), want)
		}
	}
}
