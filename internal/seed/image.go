package seed

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nimbus-cloud/nimbus/internal/image"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// TinyImageName is the public test image every new cloud gets.
const TinyImageName = "tiny"

// Image uploads the file at path as the public image name, owned by the
// admin project, unless a public image of that name exists. It acts with
// an internal admin identity (no token is issued for it).
func Image(ctx context.Context, st *store.Store, imgs *image.Service, name, path, diskFormat string) (bool, error) {
	existing, err := st.Images(ctx, store.ImageFilter{Name: name, Visibility: "public", Limit: 1})
	if err != nil {
		return false, err
	}
	if len(existing) > 0 {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("seed image %s: %w", name, err)
	}
	defer f.Close()
	proj, err := st.ProjectByName(ctx, model.DefaultDomainID, "admin")
	if err != nil {
		return false, fmt.Errorf("seed image %s: admin project: %w", name, err)
	}
	admin := &model.Token{UserID: "seed", UserName: "seed", ProjectID: proj.ID, ProjectName: proj.Name,
		Roles: []model.Role{{Name: model.RoleAdmin}, {Name: model.RoleMember}, {Name: model.RoleReader}}}
	im, err := imgs.Create(ctx, admin, image.Input{Name: name, DiskFormat: diskFormat, ContainerFormat: "bare",
		Visibility: "public", MinDisk: 1, Properties: map[string]string{"os_distro": "busybox", "hw_disk_bus": "virtio"}})
	if err != nil {
		return false, fmt.Errorf("seed image %s: %w", name, err)
	}
	if _, err := imgs.Upload(ctx, admin, im.ID, f); err != nil {
		if derr := imgs.Delete(context.WithoutCancel(ctx), admin, im.ID); derr != nil {
			err = errors.Join(err, derr)
		}
		return false, fmt.Errorf("seed image %s: %w", name, err)
	}
	return true, nil
}
