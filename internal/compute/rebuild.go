package compute

import (
	"context"
	"crypto/rand"
	"encoding/base64"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// RebuildRequest is Nova's rebuild: a new image (or the same) and,
// optionally, a new name, metadata and key pair.
type RebuildRequest struct {
	ImageRef  string
	Name      *string
	Metadata  map[string]string // nil: unchanged
	KeyName   *string           // nil: unchanged; "": none (2.54)
	RequestID string
}

// Rebuild gives an instance a fresh root disk from an image, keeping its
// id, host, flavor and (later) addresses: the old disk is gone. A stopped
// instance stays stopped, one in ERROR comes back ACTIVE. It returns the
// instance as the API shows it at once (REBUILD).
func (s *Service) Rebuild(ctx context.Context, caller *model.Token, id string, r RebuildRequest) (model.Instance, error) {
	if r.Name != nil {
		if err := checkServerName(*r.Name); err != nil {
			return model.Instance{}, err
		}
	}
	if err := checkMetadata(r.Metadata); err != nil {
		return model.Instance{}, err
	}
	var key *model.KeyPair
	if r.KeyName != nil {
		key = &model.KeyPair{}
		if *r.KeyName != "" {
			kp, err := s.keyPair(ctx, caller, *r.KeyName)
			if err != nil {
				return model.Instance{}, err
			}
			key = &kp
		}
	}
	in, err := s.visibleInstance(ctx, caller, id, policy.ServerAction)
	if err != nil {
		return model.Instance{}, err
	}
	im, err := s.bootableImage(ctx, caller, "imageRef", r.ImageRef, in.MemoryMB, in.RootGB)
	if err != nil {
		return model.Instance{}, err
	}
	_, err = s.act(ctx, caller, id, ActionRebuild, r.RequestID,
		func(tx *store.Store, in model.Instance, j *queue.Job, u *store.InstanceUpdate) error {
			if r.Metadata != nil {
				limits, err := tx.QuotaLimits(ctx, in.ProjectID)
				if err != nil {
					return err
				}
				if err := metadataFits(limits, len(r.Metadata)); err != nil {
					return err
				}
				u.Metadata = r.Metadata
				in.Metadata = r.Metadata
			}
			u.ImageID, u.Name, u.Key = &im.ID, r.Name, key
			in.ImageID = im.ID
			if r.Name != nil {
				in.Name = *r.Name
			}
			if key != nil {
				in.KeyName, in.KeyData = key.Name, key.PublicKey
			}
			j.Build, j.KeepOff = s.buildSpec(in, im), in.VMState == model.VMStopped
			return nil
		})
	if err != nil {
		return model.Instance{}, err
	}
	return s.store.Instance(ctx, id)
}

// Rescue boots an instance from a rescue image (its own image unless
// imageRef names another), its root disk attached second so a broken
// guest can be repaired. It returns the administrator password the rescue
// system is given (adminPass, or one made up), as Nova answers.
func (s *Service) Rescue(ctx context.Context, caller *model.Token, id, imageRef, adminPass, requestID string) (string, error) {
	in, err := s.visibleInstance(ctx, caller, id, policy.ServerAction)
	if err != nil {
		return "", err
	}
	if imageRef == "" {
		imageRef = in.ImageID
	}
	im, err := s.bootableImage(ctx, caller, "rescue_image_ref", imageRef, in.MemoryMB, 0)
	if err != nil {
		return "", err
	}
	if err := validate.Text("adminPass", adminPass, 255); err != nil {
		return "", err
	}
	if adminPass == "" {
		adminPass = password()
	}
	_, err = s.act(ctx, caller, id, ActionRescue, requestID,
		func(_ *store.Store, in model.Instance, j *queue.Job, _ *store.InstanceUpdate) error {
			j.Rescue = &queue.Rescue{Image: s.buildSpec(in, im).Image, AdminPass: adminPass}
			return nil
		})
	return adminPass, err
}

// instanceImage is the image an instance was built from, or only its id
// when the image is gone: the agent needs no image to redefine a domain
// whose disk exists.
func (s *Service) instanceImage(ctx context.Context, in model.Instance) model.Image {
	im, err := s.store.Image(ctx, in.ImageID)
	if err != nil {
		return model.Image{ID: in.ImageID}
	}
	return im
}

// password makes an administrator password, as Nova's generate_password.
func password() string {
	b := make([]byte, 9)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
