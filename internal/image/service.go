// Package image is Glance's core: image records in PostgreSQL, their bytes
// as files under the data directory, streamed in and out and never held
// whole in memory. An image is visible to its owner project, to everyone
// when public, and to admins; anything else is not found.
package image

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/diskimage"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// Service manages images.
type Service struct {
	store    *store.Store
	dir      string // image files, one per image id
	maxBytes int64
}

// New returns a Service keeping files in dir (created if missing).
func New(st *store.Store, dir string, maxBytes int64) (*Service, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("image directory: %w", err)
	}
	return &Service{store: st, dir: dir, maxBytes: maxBytes}, nil
}

// Input is what a caller may set on an image at creation.
type Input struct {
	ID              string
	Name            string
	DiskFormat      string
	ContainerFormat string
	Visibility      string
	Protected       bool
	MinDisk         int
	MinRAM          int
	Tags            []string
	Properties      map[string]string
	// Owner is the project the image belongs to: the caller's when empty;
	// another project's only for a caller who may add images there (an
	// admin snapshotting a project's instance).
	Owner string
}

var containerFormats = map[string]bool{"bare": true, "ovf": true}
var visibilities = map[string]bool{"public": true, "private": true, "shared": true, "community": true}

// reserved are the attributes JSON-patch may not set as free properties.
var reserved = map[string]bool{
	"id": true, "status": true, "owner": true, "size": true, "virtual_size": true, "checksum": true,
	"os_hash_algo": true, "os_hash_value": true, "created_at": true, "updated_at": true, "file": true,
	"self": true, "schema": true, "locations": true, "direct_url": true, "deleted": true, "deleted_at": true,
}

func check(im *model.Image) error {
	if err := validate.Text("name", im.Name, 255); err != nil {
		return err
	}
	if im.DiskFormat != "" && !diskimage.Accepted(im.DiskFormat) {
		return fault.Invalid("disk_format", "must be one of qcow2, raw, iso")
	}
	if im.ContainerFormat != "" && !containerFormats[im.ContainerFormat] {
		return fault.Invalid("container_format", "must be bare or ovf")
	}
	if !visibilities[im.Visibility] {
		return fault.Invalid("visibility", "must be public, private, shared or community")
	}
	if err := validate.Int("min_disk", im.MinDisk, 0, validate.MaxInt32); err != nil {
		return err
	}
	if err := validate.Int("min_ram", im.MinRAM, 0, validate.MaxInt32); err != nil {
		return err
	}
	if len(im.Tags) > 128 {
		return fault.Invalid("tags", "at most 128 tags")
	}
	for _, t := range im.Tags {
		if t == "" || validate.Text("tags", t, 255) != nil {
			return fault.Invalid("tags", "each tag must have 1 to 255 characters, valid UTF-8 without NUL")
		}
	}
	if len(im.Properties) > 128 {
		return fault.Invalid("properties", "at most 128 properties")
	}
	for k, v := range im.Properties {
		if k == "" || validate.Text("properties", k, 255) != nil || reserved[k] {
			return fault.Invalid("properties", "%q is not a property that can be set", k)
		}
		if err := validate.Text(k, v, 65535); err != nil {
			return err
		}
	}
	return nil
}

// Create records a new, empty (queued) image owned by the caller's project.
// The image count per project is a quota, checked with the project locked.
func (s *Service) Create(ctx context.Context, caller *model.Token, in Input) (model.Image, error) {
	if in.Owner == "" {
		in.Owner = caller.ProjectID
	}
	if err := policy.Check(caller, policy.AddImage, policy.Target{ProjectID: in.Owner}); err != nil {
		return model.Image{}, err
	}
	if in.ID == "" {
		in.ID = uuid.NewString()
	} else if id, err := validate.ID("id", in.ID); err != nil {
		return model.Image{}, err
	} else {
		in.ID = id // the canonical form names the file too
	}
	if in.Visibility == "" {
		in.Visibility = "shared" // Glance's default since Pike
	}
	if in.Visibility == "public" || in.Visibility == "community" {
		if err := policy.Check(caller, policy.PublicizeImage, policy.Target{}); err != nil {
			return model.Image{}, err
		}
	}
	im := model.Image{ID: in.ID, Owner: in.Owner, Name: in.Name, Visibility: in.Visibility,
		Protected: in.Protected, DiskFormat: in.DiskFormat, ContainerFormat: in.ContainerFormat,
		MinDisk: in.MinDisk, MinRAM: in.MinRAM, Tags: in.Tags, Properties: in.Properties}
	if err := check(&im); err != nil {
		return model.Image{}, err
	}
	var out model.Image
	err := s.store.Tx(ctx, func(tx *store.Store) error {
		if err := tx.LockProject(ctx, in.Owner); err != nil {
			return err
		}
		limits, err := tx.QuotaLimits(ctx, in.Owner)
		if err != nil {
			return err
		}
		n, err := tx.CountImages(ctx, in.Owner)
		if err != nil {
			return err
		}
		if limit, ok := limits["images"]; ok && limit >= 0 && n+1 > limit {
			return &fault.OverQuota{Resource: "images", Limit: limit, Used: n, Requested: 1}
		}
		out, err = tx.CreateImage(ctx, im)
		return err
	})
	return out, err
}

// visible reports whether the caller may see im.
func visible(caller *model.Token, im model.Image) bool {
	return im.Visibility == "public" || im.Visibility == "community" || im.Owner == caller.ProjectID ||
		policy.Allowed(caller, policy.ListAllImages, policy.Target{})
}

// Get returns an image the caller may see; any other is not found.
func (s *Service) Get(ctx context.Context, caller *model.Token, id string) (model.Image, error) {
	if err := policy.Check(caller, policy.ListImages, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return model.Image{}, err
	}
	im, err := s.store.Image(ctx, id)
	if err != nil {
		return model.Image{}, err
	}
	if !visible(caller, im) {
		return model.Image{}, store.ErrNotFound
	}
	return im, nil
}

// List returns a page of the images the caller may see.
func (s *Service) List(ctx context.Context, caller *model.Token, f store.ImageFilter, marker string) ([]model.Image, error) {
	if err := policy.Check(caller, policy.ListImages, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	if !policy.Allowed(caller, policy.ListAllImages, policy.Target{}) {
		f.VisibleTo = caller.ProjectID
	}
	if marker != "" {
		m, err := s.Get(ctx, caller, marker)
		if err != nil {
			return nil, fault.NotFoundAs(err, fault.Invalid("marker", "is not an image you can see"))
		}
		f.Marker = &m
	}
	return s.store.Images(ctx, f)
}

// owned returns the image when the caller may change it (op), not found
// when they cannot see it, forbidden when they can see but not change it.
func (s *Service) owned(ctx context.Context, caller *model.Token, id string, op policy.Op) (model.Image, error) {
	im, err := s.Get(ctx, caller, id)
	if err != nil {
		return model.Image{}, err
	}
	if err := policy.Check(caller, op, policy.Target{ProjectID: im.Owner}); err != nil {
		return model.Image{}, err
	}
	return im, nil
}

// Update applies fn to the image's settable fields and saves them.
func (s *Service) Update(ctx context.Context, caller *model.Token, id string, fn func(*model.Image) error) (model.Image, error) {
	im, err := s.owned(ctx, caller, id, policy.ModifyImage)
	if err != nil {
		return model.Image{}, err
	}
	before := im
	if im.Properties == nil {
		im.Properties = map[string]string{}
	}
	if err := fn(&im); err != nil {
		return model.Image{}, err
	}
	if im.ID != before.ID || im.Owner != before.Owner || im.Status != before.Status {
		return model.Image{}, fault.ErrForbidden
	}
	if im.Visibility != before.Visibility && (im.Visibility == "public" || im.Visibility == "community") {
		if err := policy.Check(caller, policy.PublicizeImage, policy.Target{}); err != nil {
			return model.Image{}, err
		}
	}
	if before.Status != model.ImageQueued && (im.DiskFormat != before.DiskFormat || im.ContainerFormat != before.ContainerFormat) {
		return model.Image{}, fault.Conflict("disk and container format cannot change once data is uploaded")
	}
	if err := check(&im); err != nil {
		return model.Image{}, err
	}
	return s.store.UpdateImage(ctx, im)
}

// Delete removes the image and its file. Protected images are refused.
func (s *Service) Delete(ctx context.Context, caller *model.Token, id string) error {
	im, err := s.owned(ctx, caller, id, policy.DeleteImage)
	if err != nil {
		return err
	}
	id = im.ID // canonical: it names the file
	if im.Protected {
		return fmt.Errorf("image %s is protected: %w", id, fault.ErrForbidden)
	}
	if err := s.store.DeleteImage(ctx, id); err != nil {
		return err
	}
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove image file: %w", err)
	}
	return nil
}

func (s *Service) path(id string) string { return filepath.Join(s.dir, id) }

// Upload streams data into the image, computing its MD5 checksum and
// SHA-512 hash on the way, then inspects it (internal/diskimage) against
// its disk_format before it becomes active: data with a backing file, an
// external data file, or of another format than declared is refused with
// a *fault.Validation that also wraps the *diskimage.Error. The image goes
// queued -> saving -> active; a failed or refused upload returns it to
// queued and leaves no file. A second upload while one runs, or to an
// active image, is a conflict.
func (s *Service) Upload(ctx context.Context, caller *model.Token, id string, r io.Reader) (model.Image, error) {
	im, err := s.owned(ctx, caller, id, policy.UploadImage)
	if err != nil {
		return model.Image{}, err
	}
	return s.upload(ctx, im, r, model.ImageQueued)
}

// upload writes r as im's data. The image must be in one of from; it is
// saving while the data arrives, active after, and back to queued (no
// file) when the data is refused or the upload fails.
func (s *Service) upload(ctx context.Context, im model.Image, r io.Reader, from ...string) (model.Image, error) {
	id := im.ID // canonical: it names the file
	if im.DiskFormat == "" || im.ContainerFormat == "" {
		return model.Image{}, fault.Invalid("disk_format", "set disk_format and container_format before uploading data")
	}
	var err error
	for _, st := range from {
		if err = s.store.SetImageStatus(ctx, id, st, model.ImageSaving); !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return model.Image{}, fault.Conflict("image %s is %s, not queued: data can be uploaded once", id, im.Status)
		}
		return model.Image{}, err
	}
	w, err := s.write(ctx, id, im.DiskFormat, r)
	if err == nil {
		err = s.store.ActivateImage(ctx, id, w.size, w.virtualSize, w.md5, w.sha512)
	}
	if err != nil {
		os.Remove(s.path(id))
		// Back to queued so the owner can try again (Glance does the same).
		if rerr := s.store.SetImageStatus(context.WithoutCancel(ctx), id, model.ImageSaving, model.ImageQueued); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return model.Image{}, err
	}
	return s.store.Image(ctx, id)
}

// UploadSigned takes a snapshot's data from an agent holding a valid
// upload signature (SignedUploadPath). An upload cut short (the agent
// restarted) may be sent again while the image is still saving.
func (s *Service) UploadSigned(ctx context.Context, secret []byte, id, exp, sig string, now time.Time, r io.Reader) (model.Image, error) {
	if !validSignature(secret, "upload\x00"+id, exp, sig, now) {
		return model.Image{}, fault.ErrForbidden
	}
	im, err := s.store.Image(ctx, id)
	if err != nil {
		return model.Image{}, fault.NotFoundAs(err, fault.NotFound("image %s could not be found", id))
	}
	return s.upload(ctx, im, r, model.ImageQueued, model.ImageSaving)
}

// SignedUploadPath is where an agent uploads a snapshot's data, good
// until exp.
func SignedUploadPath(secret []byte, id string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "/image/nimbus/upload/" + id + "/file?expires=" + e + "&sig=" + sign(secret, "upload\x00"+id, e)
}

// Discard removes an image that never became active (a snapshot that
// failed), with whatever data it has.
func (s *Service) Discard(ctx context.Context, id string) error { return s.remove(ctx, id, false) }

// Drop removes an image Nimbus made and no longer needs (a shelved
// instance's snapshot once unshelved or deleted), active or not.
func (s *Service) Drop(ctx context.Context, id string) error { return s.remove(ctx, id, true) }

func (s *Service) remove(ctx context.Context, id string, active bool) error {
	im, err := s.store.Image(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && im.Status == model.ImageActive && !active) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.store.DeleteImage(ctx, im.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := os.Remove(s.path(im.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove image file: %w", err)
	}
	return nil
}

// ErrTooLarge is returned when an upload exceeds the configured maximum.
var ErrTooLarge = errors.New("image data exceeds the maximum size")

// RefusedError is upload data refused by inspection. It is a
// *fault.Validation (400) whose message names the problem, and wraps the
// *diskimage.Error so that a user interface can word it itself.
type RefusedError struct {
	Err *diskimage.Error
}

func (e *RefusedError) Error() string { return e.Err.Error() }

// Unwrap gives errors.As both the validation and the inspection's error.
func (e *RefusedError) Unwrap() []error {
	return []error{&fault.Validation{Field: "data", Code: string(e.Err.Reason), Message: e.Err.Error()}, e.Err}
}

// Sized is an upload's body with its length (a request's Content-Length),
// for the progress every page that shows the image shows.
type Sized struct {
	io.Reader
	Total int64
}

// uploadInterval is how often an upload's progress is recorded.
const uploadInterval = time.Second

// progressWriter counts the bytes written through it; while the upload
// runs, a ticker records the count on the image once per uploadInterval
// (a row update: each reaches the pages through the change feed), so a
// stalled upload shows where it stalled.
type progressWriter struct {
	got  atomic.Int64
	stop func()
}

func (s *Service) uploadProgress(ctx context.Context, id string, r io.Reader) *progressWriter {
	var total int64
	if sz, ok := r.(Sized); ok && sz.Total > 0 {
		total = sz.Total
	}
	p := &progressWriter{}
	// Best effort: a failed update only leaves the bar behind.
	record := func() { _ = s.store.SetImageUpload(context.WithoutCancel(ctx), id, p.got.Load(), total) }
	record()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(uploadInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				record()
			}
		}
	}()
	p.stop = func() { close(done); <-stopped }
	return p
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.got.Add(int64(len(b)))
	return len(b), nil
}

// written is what write learnt about the data.
type written struct {
	size, virtualSize int64
	md5, sha512       string
}

// write streams r into a temporary file, inspects it as format and only
// then moves it to the image's path.
func (s *Service) write(ctx context.Context, id, format string, r io.Reader) (written, error) {
	rnd := make([]byte, 6)
	rand.Read(rnd)
	tmp := filepath.Join(s.dir, ".upload-"+id+"-"+hex.EncodeToString(rnd))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return written{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed
	m5, s512 := md5.New(), sha512.New()
	progress := s.uploadProgress(ctx, id, r)
	n, err := io.Copy(io.MultiWriter(f, m5, s512, progress), io.LimitReader(r, s.maxBytes+1))
	progress.stop()
	if err == nil && n > s.maxBytes {
		err = fmt.Errorf("%w (%d bytes): %w", ErrTooLarge, s.maxBytes, fault.ErrTooLarge)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var info diskimage.Info
	if err == nil {
		info, err = diskimage.Inspect(ctx, tmp, format)
		var de *diskimage.Error
		if errors.As(err, &de) {
			err = &RefusedError{Err: de}
		} else if err != nil {
			err = fmt.Errorf("inspect image %s: %w", id, err)
		}
	}
	if err == nil {
		err = os.Rename(tmp, s.path(id))
	}
	if err != nil {
		return written{}, err
	}
	return written{size: n, virtualSize: info.VirtualSize, md5: hex.EncodeToString(m5.Sum(nil)),
		sha512: hex.EncodeToString(s512.Sum(nil))}, nil
}

// Open returns the image's data for reading, with the image. The caller
// closes the file.
func (s *Service) Open(ctx context.Context, caller *model.Token, id string) (model.Image, *os.File, error) {
	im, err := s.Get(ctx, caller, id)
	if err != nil {
		return model.Image{}, nil, err
	}
	if im.Status != model.ImageActive {
		return model.Image{}, nil, fault.NotFound("image %s has no data", id)
	}
	f, err := os.Open(s.path(im.ID))
	if err != nil {
		return model.Image{}, nil, fmt.Errorf("open image data: %w", err)
	}
	return im, f, nil
}

// SignedPath returns a download path for agents: no token, a signature
// over the image id and an expiry, good until exp.
func SignedPath(secret []byte, id string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "/image/nimbus/download/" + id + "?expires=" + e + "&sig=" + sign(secret, id, e)
}

// validSignature checks sig is sign(secret, what, exp) and exp is not past.
func validSignature(secret []byte, what, exp, sig string, now time.Time) bool {
	e, err := strconv.ParseInt(exp, 10, 64)
	return err == nil && now.Unix() <= e && hmac.Equal([]byte(sign(secret, what, exp)), []byte(sig))
}

func sign(secret []byte, id, exp string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "\x00" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

// OpenSigned opens an active image for an agent holding a valid signature.
func (s *Service) OpenSigned(ctx context.Context, secret []byte, id, exp, sig string, now time.Time) (model.Image, *os.File, error) {
	if !validSignature(secret, id, exp, sig, now) {
		return model.Image{}, nil, fault.ErrForbidden
	}
	im, err := s.store.Image(ctx, id)
	if err == nil && im.Status != model.ImageActive {
		err = store.ErrNotFound
	}
	if err != nil {
		return model.Image{}, nil, fault.NotFoundAs(err, fault.NotFound("image %s has no data", id))
	}
	f, err := os.Open(s.path(im.ID))
	if err != nil {
		return model.Image{}, nil, fmt.Errorf("open image data: %w", err)
	}
	return im, f, nil
}
