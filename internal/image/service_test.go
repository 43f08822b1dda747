package image_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nimbus-cloud/nimbus/internal/diskimage"
	"github.com/nimbus-cloud/nimbus/internal/diskimage/diskimagetest"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/seed"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// newService returns an image service on a fresh database, its image
// directory, and a member token of the demo project.
func newService(t *testing.T) (*image.Service, string, *model.Token) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testenv.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool)
	if _, err := seed.Apply(ctx, st, seed.Credentials{AdminPassword: "admin-pass-1", DemoPassword: "demo-pass-1"}); err != nil {
		t.Fatal(err)
	}
	proj, err := st.ProjectByName(ctx, model.DefaultDomainID, "demo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	svc, err := image.New(st, dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	tok := &model.Token{UserID: "u", UserName: "demo", ProjectID: proj.ID, ProjectName: proj.Name,
		Roles: []model.Role{{Name: model.RoleMember}, {Name: model.RoleReader}}}
	return svc, dir, tok
}

// TestUploadInspects uploads real files: refused ones leave the image
// queued with no file and say why; good ones become active with their
// virtual size.
func TestUploadInspects(t *testing.T) {
	diskimagetest.Need(t, "qemu-img", "genisoimage")
	svc, dir, tok := newService(t)
	files := t.TempDir()
	ctx := context.Background()
	cases := []struct {
		name, path, format string
		reason             diskimage.Reason // "" means accepted
		virtualSize        int64
	}{
		{"backing file /etc/passwd", diskimagetest.Backed(t, files), "qcow2", diskimage.ReasonBackingFile, 0},
		{"external data file", diskimagetest.DataFile(t, files), "qcow2", diskimage.ReasonDataFile, 0},
		{"qcow2 declared raw", diskimagetest.QCOW2(t, files, "q.qcow2", "8M"), "raw", diskimage.ReasonFormatMismatch, 0},
		{"raw declared qcow2", diskimagetest.Raw(t, files, "r.raw", 4096), "qcow2", diskimage.ReasonFormatMismatch, 0},
		{"good qcow2", diskimagetest.QCOW2(t, files, "good.qcow2", "32M"), "qcow2", "", 32 << 20},
		{"good raw", diskimagetest.Raw(t, files, "good.raw", 8192), "raw", "", 8192},
		{"good iso", diskimagetest.ISO(t, files), "iso", "", -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, err := svc.Create(ctx, tok, image.Input{Name: c.name, DiskFormat: c.format, ContainerFormat: "bare"})
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(c.path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := svc.Upload(ctx, tok, im.ID, f)
			if c.reason != "" {
				var v *fault.Validation
				var de *diskimage.Error
				if !errors.As(err, &v) || !errors.As(err, &de) || de.Reason != c.reason {
					t.Fatalf("upload: got %v, want a validation error for %s", err, c.reason)
				}
				if err.Error() != de.Error() {
					t.Errorf("message %q, want the inspection's %q", err.Error(), de.Error())
				}
				after, err := svc.Get(ctx, tok, im.ID)
				if err != nil || after.Status != model.ImageQueued || after.Size != nil {
					t.Errorf("after a refused upload: %+v, %v; want queued with no size", after, err)
				}
				left, _ := filepath.Glob(filepath.Join(dir, "*"))
				hidden, _ := filepath.Glob(filepath.Join(dir, ".*"))
				if len(left)+len(hidden) > activeFiles(t, svc, tok) {
					t.Errorf("files left in the image directory: %v %v", left, hidden)
				}
				return
			}
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			want := c.virtualSize
			if want < 0 {
				st, _ := os.Stat(c.path)
				want = st.Size()
			}
			if got.Status != model.ImageActive || got.VirtualSize == nil || *got.VirtualSize != want {
				t.Errorf("got status %s, virtual size %v; want active, %d", got.Status, got.VirtualSize, want)
			}
		})
	}
}

// activeFiles counts the images that should have a file.
func activeFiles(t *testing.T, svc *image.Service, tok *model.Token) int {
	t.Helper()
	ims, err := svc.List(context.Background(), tok, store.ImageFilter{}, "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, im := range ims {
		if im.Status == model.ImageActive {
			n++
		}
	}
	return n
}
