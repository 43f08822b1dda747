package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

const imageCols = `id::text, owner, name, status, visibility, protected, coalesce(disk_format, ''), coalesce(container_format, ''),
	size, virtual_size, coalesce(checksum, ''), coalesce(os_hash_algo, ''), coalesce(os_hash_value, ''),
	min_disk, min_ram, tags, properties, created_at, updated_at, upload_received, upload_total`

func scanImage(row pgx.CollectableRow) (model.Image, error) {
	var im model.Image
	var props []byte
	err := row.Scan(&im.ID, &im.Owner, &im.Name, &im.Status, &im.Visibility, &im.Protected, &im.DiskFormat,
		&im.ContainerFormat, &im.Size, &im.VirtualSize, &im.Checksum, &im.OSHashAlgo, &im.OSHashValue,
		&im.MinDisk, &im.MinRAM, &im.Tags, &props, &im.CreatedAt, &im.UpdatedAt, &im.UploadReceived, &im.UploadTotal)
	if err == nil {
		err = json.Unmarshal(props, &im.Properties)
	}
	return im, err
}

// CreateImage inserts im.
func (s *Store) CreateImage(ctx context.Context, im model.Image) (model.Image, error) {
	props, _ := json.Marshal(nonNilMap(im.Properties))
	rows, _ := s.db.Query(ctx, `INSERT INTO images (id, owner, name, status, visibility, protected, disk_format,
			container_format, min_disk, min_ram, tags, properties)
		VALUES ($1, $2, $3, 'queued', $4, $5, nullif($6, ''), nullif($7, ''), $8, $9, $10, $11)
		RETURNING `+imageCols,
		im.ID, im.Owner, im.Name, im.Visibility, im.Protected, im.DiskFormat, im.ContainerFormat,
		im.MinDisk, im.MinRAM, nonNilSlice(im.Tags), props)
	out, err := pgx.CollectExactlyOneRow(rows, scanImage)
	return out, mapErr(err)
}

// Image returns the image with id.
func (s *Store) Image(ctx context.Context, id string) (model.Image, error) {
	if !isUUID(id) {
		return model.Image{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+imageCols+` FROM images WHERE id = $1`, id)
	im, err := pgx.CollectExactlyOneRow(rows, scanImage)
	return im, mapErr(err)
}

// ImageFilter narrows Images. VisibleTo limits the list to images the
// project may see (public ones and its own); empty means all (admin).
type ImageFilter struct {
	VisibleTo  string
	Name       string
	Status     string
	Visibility string
	Owner      string
	DiskFormat string
	Tag        string
	SortKey    string // created_at, updated_at, name, size, status, id
	SortDesc   bool
	Marker     *model.Image
	Limit      int
}

var imageSortKeys = map[string]bool{"created_at": true, "updated_at": true, "name": true, "size": true, "status": true, "id": true}

// ValidImageSortKey reports whether key can sort images.
func ValidImageSortKey(key string) bool { return imageSortKeys[key] }

// Images lists images matching f, one page of at most f.Limit.
func (s *Store) Images(ctx context.Context, f ImageFilter) ([]model.Image, error) {
	key := f.SortKey
	if !imageSortKeys[key] {
		key = "created_at"
	}
	dir, cmp := "ASC", ">"
	if f.SortDesc {
		dir, cmp = "DESC", "<"
	}
	col := key
	if key == "id" {
		col = "id::text"
	}
	var where []string
	args := []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if f.VisibleTo != "" {
		add(`(visibility IN ('public', 'community') OR owner = $?)`, f.VisibleTo)
	}
	if f.Name != "" {
		add(`name = $?`, f.Name)
	}
	if f.Status != "" {
		add(`status = $?`, f.Status)
	}
	if f.Visibility != "" {
		add(`visibility = $?`, f.Visibility)
	}
	if f.Owner != "" {
		add(`owner = $?`, f.Owner)
	}
	if f.DiskFormat != "" {
		add(`disk_format = $?`, f.DiskFormat)
	}
	if f.Tag != "" {
		add(`$? = ANY(tags)`, f.Tag)
	}
	if m := f.Marker; m != nil {
		var v any
		switch key {
		case "created_at":
			v = m.CreatedAt
		case "updated_at":
			v = m.UpdatedAt
		case "name":
			v = m.Name
		case "size":
			if m.Size != nil {
				v = *m.Size
			}
		case "status":
			v = m.Status
		case "id":
			v = m.ID
		}
		args = append(args, v, m.ID)
		n := len(args)
		where = append(where, "("+col+", id::text) "+cmp+" ($"+strconv.Itoa(n-1)+", $"+strconv.Itoa(n)+")")
	}
	q := `SELECT ` + imageCols + ` FROM images`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + col + " " + dir + " NULLS LAST, id::text " + dir
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, _ := s.db.Query(ctx, q, args...)
	ims, err := pgx.CollectRows(rows, scanImage)
	return ims, mapErr(err)
}

// CountImages counts the images owned by project (for the quota).
func (s *Store) CountImages(ctx context.Context, project string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT count(*) FROM images WHERE owner = $1`, project).Scan(&n)
	return n, mapErr(err)
}

// UpdateImage writes the mutable fields of im.
func (s *Store) UpdateImage(ctx context.Context, im model.Image) (model.Image, error) {
	props, _ := json.Marshal(nonNilMap(im.Properties))
	rows, _ := s.db.Query(ctx, `UPDATE images SET name = $2, visibility = $3, protected = $4,
			disk_format = nullif($5, ''), container_format = nullif($6, ''), min_disk = $7, min_ram = $8,
			tags = $9, properties = $10, updated_at = now()
		WHERE id = $1 RETURNING `+imageCols,
		im.ID, im.Name, im.Visibility, im.Protected, im.DiskFormat, im.ContainerFormat, im.MinDisk, im.MinRAM,
		nonNilSlice(im.Tags), props)
	out, err := pgx.CollectExactlyOneRow(rows, scanImage)
	return out, mapErr(err)
}

// SetImageStatus moves the image from one status to another; ErrConflict
// when it is not in from (someone else got there first).
func (s *Store) SetImageStatus(ctx context.Context, id, from, to string) error {
	tag, err := s.db.Exec(ctx, `UPDATE images SET status = $3, updated_at = now() WHERE id = $1 AND status = $2`, id, from, to)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrConflict
	}
	return nil
}

// ActivateImage records a finished upload: its size, the size the guest
// sees (virtualSize, from inspecting the data) and its checksums.
func (s *Store) ActivateImage(ctx context.Context, id string, size, virtualSize int64, md5, sha512 string) error {
	return affected(s.db.Exec(ctx, `UPDATE images SET status = 'active', size = $2, virtual_size = $3,
		checksum = $4, os_hash_algo = 'sha512', os_hash_value = $5, updated_at = now()
		WHERE id = $1 AND status = 'saving'`, id, size, virtualSize, md5, sha512))
}

// DeleteImage removes the image row.
func (s *Store) DeleteImage(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM images WHERE id = $1`, id))
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilSlice(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// isUUID reports whether s is an id of a uuid column, in the one form ids
// are written in (36 characters, any case); other strings, braced and URN
// forms included, are simply not found instead of a database error.
func isUUID(s string) bool {
	_, ok := validate.UUID(s)
	return ok
}

// SetImageUpload records how much of the data being uploaded has arrived
// (total 0: unknown), while the image is saving.
func (s *Store) SetImageUpload(ctx context.Context, id string, received, total int64) error {
	_, err := s.db.Exec(ctx, `UPDATE images SET upload_received = $2, upload_total = $3
		WHERE id = $1 AND status = 'saving'`, id, received, total)
	return mapErr(err)
}
