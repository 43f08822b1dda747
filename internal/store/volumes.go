package store

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// volumeCols reads a volume with its type's name, its attachment (if
// any) and how many snapshots it has.
const volumeCols = `v.id::text, v.project_id, v.user_id, v.name, v.description, v.size_gb, v.status,
	coalesce(v.new_size_gb, 0), v.volume_type_id::text, t.name, v.availability_zone, v.bootable,
	coalesce(v.source_volid::text, ''), coalesce(v.snapshot_id::text, ''), coalesce(v.image_id, ''),
	v.image_metadata, v.metadata, v.host, v.error, v.status_at, v.created_at, v.updated_at,
	a.id::text, a.instance_id::text, a.device, a.host, a.export_name, a.export_key, a.delete_on_termination, a.boot_index, a.created_at,
	(SELECT count(*) FROM volume_snapshots s WHERE s.volume_id = v.id)`

const volumeFrom = ` FROM volumes v JOIN volume_types t ON t.id = v.volume_type_id
	LEFT JOIN volume_attachments a ON a.volume_id = v.id`

func scanVolume(row pgx.CollectableRow) (model.Volume, error) {
	var v model.Volume
	var aID, aInst, aDev, aHost, aExport, aKey *string
	var aDel *bool
	var aBoot *int
	var aAt *time.Time
	err := row.Scan(&v.ID, &v.ProjectID, &v.UserID, &v.Name, &v.Description, &v.SizeGB, &v.Status,
		&v.NewSizeGB, &v.TypeID, &v.TypeName, &v.AZ, &v.Bootable, &v.SourceVolID, &v.SnapshotID, &v.ImageID,
		&v.ImageMetadata, &v.Metadata, &v.Host, &v.Error, &v.StatusAt, &v.CreatedAt, &v.UpdatedAt,
		&aID, &aInst, &aDev, &aHost, &aExport, &aKey, &aDel, &aBoot, &aAt, &v.Snapshots)
	if err != nil {
		return v, err
	}
	v.Metadata = nonNilMap(v.Metadata)
	if aID != nil {
		v.Attachment = &model.VolumeAttachment{ID: *aID, VolumeID: v.ID, InstanceID: *aInst, Device: *aDev,
			Host: *aHost, ExportName: *aExport, ExportKey: *aKey, DeleteOnTermination: *aDel, BootIndex: aBoot, CreatedAt: *aAt}
	}
	return v, nil
}

// instanceVolumesCol is an instance's attachments, by device, as JSON
// (model.AttachedVolume): the servers' os-extended-volumes.
const instanceVolumesCol = `coalesce((SELECT json_agg(json_build_object('volume_id', a.volume_id, 'device', a.device,
	'delete_on_termination', a.delete_on_termination) ORDER BY a.device) FROM volume_attachments a
	WHERE a.instance_id = instances.id), '[]')`

// touchInstance marks an instance changed (its rendered views and the
// live pages showing it follow) when its volumes change.
func (s *Store) touchInstance(ctx context.Context, id string) error {
	_, err := s.db.Exec(ctx, `UPDATE instances SET updated_at = clock_timestamp() WHERE id = $1`, id)
	return mapErr(err)
}

// CreateVolume inserts a volume (its status says what happens next).
func (s *Store) CreateVolume(ctx context.Context, v model.Volume) error {
	_, err := s.db.Exec(ctx, `INSERT INTO volumes (id, project_id, user_id, name, description, size_gb, status,
		volume_type_id, availability_zone, bootable, source_volid, snapshot_id, image_id, image_metadata, metadata, host)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, '')::uuid, nullif($12, '')::uuid, nullif($13, ''), $14, $15, $16)`,
		v.ID, v.ProjectID, v.UserID, v.Name, v.Description, v.SizeGB, v.Status, v.TypeID, v.AZ, v.Bootable,
		v.SourceVolID, v.SnapshotID, v.ImageID, v.ImageMetadata, nonNilMap(v.Metadata), v.Host)
	return mapErr(err)
}

// Volume returns one volume.
func (s *Store) Volume(ctx context.Context, id string) (model.Volume, error) {
	if !isUUID(id) {
		return model.Volume{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+volumeCols+volumeFrom+` WHERE v.id = $1`, id)
	v, err := pgx.CollectExactlyOneRow(rows, scanVolume)
	return v, mapErr(err)
}

// LockVolume returns a volume with its row locked for the transaction:
// two requests on one volume (attach and delete, say) go one at a time.
func (s *Store) LockVolume(ctx context.Context, id string) (model.Volume, error) {
	if !isUUID(id) {
		return model.Volume{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+volumeCols+volumeFrom+` WHERE v.id = $1 FOR UPDATE OF v`, id)
	v, err := pgx.CollectExactlyOneRow(rows, scanVolume)
	return v, mapErr(err)
}

// VolumeFilter selects volumes; the zero value is every volume.
type VolumeFilter struct {
	ProjectID string // "" : every project's
	Name      string // exact
	Status    string
	Bootable  *bool
	// Marker is the last volume of the previous page; pages run newest first.
	Marker string
	Limit  int // 0: no limit
}

// Volumes lists volumes, newest first.
func (s *Store) Volumes(ctx context.Context, f VolumeFilter) ([]model.Volume, error) {
	q := `SELECT ` + volumeCols + volumeFrom + ` WHERE ($1 = '' OR v.project_id = $1) AND ($2 = '' OR v.name = $2)
		AND ($3 = '' OR v.status = $3) AND ($4::boolean IS NULL OR v.bootable = $4)`
	args := []any{f.ProjectID, f.Name, f.Status, f.Bootable}
	if f.Marker != "" {
		q += ` AND (v.created_at, v.id) < (SELECT created_at, id FROM volumes WHERE id = $5)`
		args = append(args, f.Marker)
	}
	q += ` ORDER BY v.created_at DESC, v.id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(f.Limit)
	}
	rows, _ := s.db.Query(ctx, q, args...)
	vs, err := pgx.CollectRows(rows, scanVolume)
	return vs, mapErr(err)
}

// InstanceVolumes lists the volumes attached to an instance, by device.
func (s *Store) InstanceVolumes(ctx context.Context, instanceID string) ([]model.Volume, error) {
	if !isUUID(instanceID) {
		return nil, nil
	}
	rows, _ := s.db.Query(ctx, `SELECT `+volumeCols+volumeFrom+` WHERE a.instance_id = $1 ORDER BY a.device`, instanceID)
	vs, err := pgx.CollectRows(rows, scanVolume)
	return vs, mapErr(err)
}

// SetVolumeStatus moves a volume to status when it is in one of from
// (none: any), with why the last operation failed (errMsg, "" clears it);
// false when the volume was not in from (someone else moved it first).
func (s *Store) SetVolumeStatus(ctx context.Context, id string, from []string, status, errMsg string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE volumes SET status = $2, error = $3, status_at = now(), updated_at = now(),
		new_size_gb = CASE WHEN $2 = 'extending' THEN new_size_gb END
		WHERE id = $1 AND (coalesce(cardinality($4::text[]), 0) = 0 OR status = ANY($4))`, id, status, errMsg, from)
	if err != nil {
		return false, mapErr(err)
	}
	return tag.RowsAffected() == 1, nil
}

// StartExtend marks a volume extending to newSizeGB.
func (s *Store) StartExtend(ctx context.Context, id string, newSizeGB int) error {
	return affected(s.db.Exec(ctx, `UPDATE volumes SET status = 'extending', new_size_gb = $2, error = '',
		status_at = now(), updated_at = now() WHERE id = $1`, id, newSizeGB))
}

// FinishExtend records an extend's new size and the volume's status after
// it (available or in-use); false when no extend was running.
func (s *Store) FinishExtend(ctx context.Context, id, status string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE volumes SET size_gb = new_size_gb, new_size_gb = NULL, status = $2,
		status_at = now(), updated_at = now() WHERE id = $1 AND status = 'extending' AND new_size_gb IS NOT NULL`, id, status)
	if err != nil {
		return false, mapErr(err)
	}
	return tag.RowsAffected() == 1, nil
}

// UpdateVolume sets a volume's name, description, metadata and bootable flag.
func (s *Store) UpdateVolume(ctx context.Context, v model.Volume) error {
	return affected(s.db.Exec(ctx, `UPDATE volumes SET name = $2, description = $3, metadata = $4, bootable = $5,
		updated_at = now() WHERE id = $1`, v.ID, v.Name, v.Description, nonNilMap(v.Metadata), v.Bootable))
}

// DeleteVolume removes a volume's row (its data is gone already).
func (s *Store) DeleteVolume(ctx context.Context, id string) error {
	return affected(s.db.Exec(ctx, `DELETE FROM volumes WHERE id = $1`, id))
}

// BusyVolumes lists the volumes in an operation's status since before
// since (the reaper's candidates).
func (s *Store) BusyVolumes(ctx context.Context, since time.Time) ([]model.Volume, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+volumeCols+volumeFrom+`
		WHERE v.status IN ('creating', 'attaching', 'detaching', 'extending', 'deleting') AND v.status_at < $1`, since)
	vs, err := pgx.CollectRows(rows, scanVolume)
	return vs, mapErr(err)
}

// VolumeUsage is what a project's volumes and snapshots take, in all and
// per volume type (by name).
type VolumeUsage struct {
	Volumes, Gigabytes, Snapshots int
	ByType                        map[string]TypeUsage
}

// TypeUsage is one volume type's part of a VolumeUsage.
type TypeUsage struct{ Volumes, Gigabytes, Snapshots int }

// CountVolumeUsage counts a project's volumes and snapshots. Snapshots'
// sizes count against gigabytes, as Cinder's do.
func (s *Store) CountVolumeUsage(ctx context.Context, projectID string) (VolumeUsage, error) {
	u := VolumeUsage{ByType: map[string]TypeUsage{}}
	rows, _ := s.db.Query(ctx, `SELECT t.name, count(v.id), coalesce(sum(v.size_gb), 0),
			(SELECT count(*) FROM volume_snapshots s JOIN volumes sv ON sv.id = s.volume_id
				WHERE s.project_id = $1 AND sv.volume_type_id = t.id),
			(SELECT coalesce(sum(s.size_gb), 0) FROM volume_snapshots s JOIN volumes sv ON sv.id = s.volume_id
				WHERE s.project_id = $1 AND sv.volume_type_id = t.id)
		FROM volume_types t LEFT JOIN volumes v ON v.volume_type_id = t.id AND v.project_id = $1
		GROUP BY t.id, t.name`, projectID)
	var name string
	var nv, gb, ns, sgb int
	_, err := pgx.ForEachRow(rows, []any{&name, &nv, &gb, &ns, &sgb}, func() error {
		u.Volumes += nv
		u.Gigabytes += gb + sgb
		u.Snapshots += ns
		u.ByType[name] = TypeUsage{Volumes: nv, Gigabytes: gb + sgb, Snapshots: ns}
		return nil
	})
	return u, mapErr(err)
}

// CreateAttachment gives a volume to an instance. The unique indexes
// refuse a second attachment of the volume and a device used twice.
func (s *Store) CreateAttachment(ctx context.Context, a model.VolumeAttachment) error {
	_, err := s.db.Exec(ctx, `INSERT INTO volume_attachments (id, volume_id, instance_id, device, host, export_name,
		export_key, delete_on_termination, boot_index) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.ID, a.VolumeID, a.InstanceID, a.Device, a.Host, a.ExportName, a.ExportKey, a.DeleteOnTermination, a.BootIndex)
	if err != nil {
		return mapErr(err)
	}
	return s.touchInstance(ctx, a.InstanceID)
}

// SetAttachmentHost records the host an attachment's instance runs on
// and the export it reads the volume from (” when it is the volume's own).
func (s *Store) SetAttachmentHost(ctx context.Context, id, host, exportName, key string) error {
	return affected(s.db.Exec(ctx, `UPDATE volume_attachments SET host = $2, export_name = $3, export_key = $4 WHERE id = $1`,
		id, host, exportName, key))
}

// DeleteAttachment removes a volume's attachment (none is fine).
func (s *Store) DeleteAttachment(ctx context.Context, volumeID string) error {
	rows, _ := s.db.Query(ctx, `DELETE FROM volume_attachments WHERE volume_id = $1 RETURNING instance_id::text`, volumeID)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return mapErr(err)
	}
	for _, id := range ids {
		if err := s.touchInstance(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// InstanceDevices lists the devices an instance's volumes take.
func (s *Store) InstanceDevices(ctx context.Context, instanceID string) ([]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT device FROM volume_attachments WHERE instance_id = $1`, instanceID)
	ds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ds, mapErr(err)
}

// DeletedInstancesWithVolumes lists deleted instances that still hold
// volumes.
func (s *Store) DeletedInstancesWithVolumes(ctx context.Context) ([]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT DISTINCT a.instance_id::text FROM volume_attachments a
		JOIN instances i ON i.id = a.instance_id WHERE i.deleted_at IS NOT NULL`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapErr(err)
}
