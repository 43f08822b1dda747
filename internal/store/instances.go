package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const instanceCols = `id::text, project_id, user_id, name, flavor_id, flavor_name, vcpus, memory_mb, root_gb,
	coalesce(image_id::text, ''), coalesce(key_name, ''), coalesce(key_data, ''), coalesce(user_data, ''), metadata,
	availability_zone, coalesce(host, ''), vm_state, coalesce(task_state, ''), power_state, coalesce(vnc_port, 0), fault,
	reservation_id, launch_index, attempts, tried_hosts, build_deadline, launched_at, terminated_at,
	created_at, updated_at, deleted_at, coalesce(task_action_id, 0), task_sent_at, agent_event_at,
	coalesce(locked_by, ''), coalesce(locked_by_user, ''), coalesce(locked_reason, ''), task_job,
	coalesce(shelved_image_id::text, ''), shelved_at, network_info, build_step, progress, ` + instanceTagsCol + `, ` + instanceVolumesCol

func scanInstance(row pgx.CollectableRow) (model.Instance, error) {
	var in model.Instance
	var meta, flt, nics, vols []byte
	var vm, task string
	err := row.Scan(&in.ID, &in.ProjectID, &in.UserID, &in.Name, &in.FlavorID, &in.FlavorName, &in.VCPUs, &in.MemoryMB,
		&in.RootGB, &in.ImageID, &in.KeyName, &in.KeyData, &in.UserData, &meta, &in.AvailabilityZone, &in.Host,
		&vm, &task, &in.PowerState, &in.VNCPort, &flt, &in.ReservationID, &in.LaunchIndex, &in.Attempts,
		&in.TriedHosts, &in.BuildDeadline, &in.LaunchedAt, &in.TerminatedAt, &in.CreatedAt, &in.UpdatedAt, &in.DeletedAt,
		&in.TaskActionID, &in.TaskSentAt, &in.AgentEventAt, &in.LockedBy, &in.LockedByUser, &in.LockedReason, &in.TaskJob, &in.ShelvedImageID, &in.ShelvedAt, &nics, &in.BuildStep, &in.Progress, &in.Tags, &vols)
	if err != nil {
		return in, err
	}
	in.VMState, in.TaskState = model.VMState(vm), model.TaskState(task)
	if err := json.Unmarshal(meta, &in.Metadata); err != nil {
		return in, err
	}
	if err := json.Unmarshal(nics, &in.NICs); err != nil {
		return in, err
	}
	if err := json.Unmarshal(vols, &in.Volumes); err != nil {
		return in, err
	}
	if len(flt) > 0 {
		in.Fault = &model.Fault{}
		if err := json.Unmarshal(flt, in.Fault); err != nil {
			return in, err
		}
	}
	return in, nil
}

// InsertInstance inserts a new instance.
func (s *Store) InsertInstance(ctx context.Context, in model.Instance) error {
	meta, _ := json.Marshal(nonNilMap(in.Metadata))
	_, err := s.db.Exec(ctx, `INSERT INTO instances (id, project_id, user_id, name, flavor_id, flavor_name, vcpus, memory_mb,
			root_gb, image_id, key_name, key_data, user_data, metadata, availability_zone, vm_state, task_state,
			reservation_id, launch_index, build_deadline)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, '')::uuid, nullif($11, ''), nullif($12, ''), nullif($13, ''),
			$14, $15, $16, nullif($17, ''), $18, $19, $20)`,
		in.ID, in.ProjectID, in.UserID, in.Name, in.FlavorID, in.FlavorName, in.VCPUs, in.MemoryMB, in.RootGB,
		in.ImageID, in.KeyName, in.KeyData, in.UserData, meta, in.AvailabilityZone, string(in.VMState),
		string(in.TaskState), in.ReservationID, in.LaunchIndex, in.BuildDeadline)
	return mapErr(err)
}

// Instance returns the instance with id, deleted ones included.
func (s *Store) Instance(ctx context.Context, id string) (model.Instance, error) {
	if !isUUID(id) {
		return model.Instance{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+instanceCols+` FROM instances WHERE id = $1`, id)
	in, err := pgx.CollectExactlyOneRow(rows, scanInstance)
	return in, mapErr(err)
}

// LockInstance returns the instance with its row locked for the rest of
// the transaction.
func (s *Store) LockInstance(ctx context.Context, id string) (model.Instance, error) {
	if !isUUID(id) {
		return model.Instance{}, ErrNotFound
	}
	rows, _ := s.db.Query(ctx, `SELECT `+instanceCols+` FROM instances WHERE id = $1 FOR UPDATE`, id)
	in, err := pgx.CollectExactlyOneRow(rows, scanInstance)
	return in, mapErr(err)
}

// InstanceFilter narrows Instances.
type InstanceFilter struct {
	ProjectID    string // empty: all projects (admin all_tenants)
	NameRegex    string // PostgreSQL regular expression, as Nova's name filter
	VMStates     []model.VMState
	Host         string
	ChangesSince *time.Time // also returns deleted instances changed since
	Deleted      bool       // deleted instances only (an admin's deleted=true)
	ImageID      string
	FlavorID     string
	Marker       *model.Instance
	Limit        int
	Tags         TagFilter
	// Sort is a key of InstanceSortKeys ("" : created_at); SortAsc turns
	// its order (newest, or Z to A, first by default, as Nova's).
	Sort    string
	SortAsc bool
}

// instanceSort is one sort key of the instance list: its column (never
// NULL) and the marker's value of it, for the keyset.
type instanceSort struct {
	expr  string
	value func(model.Instance) any
}

// InstanceSortKeys are the keys the list sorts by, by Nova's names.
var InstanceSortKeys = map[string]instanceSort{
	"created_at":        {"created_at", func(m model.Instance) any { return m.CreatedAt }},
	"updated_at":        {"updated_at", func(m model.Instance) any { return m.UpdatedAt }},
	"display_name":      {"name", func(m model.Instance) any { return m.Name }},
	"vm_state":          {"vm_state", func(m model.Instance) any { return string(m.VMState) }},
	"task_state":        {"coalesce(task_state, '')", func(m model.Instance) any { return string(m.TaskState) }},
	"power_state":       {"power_state", func(m model.Instance) any { return int(m.PowerState) }},
	"host":              {"coalesce(host, '')", func(m model.Instance) any { return m.Host }},
	"key_name":          {"coalesce(key_name, '')", func(m model.Instance) any { return m.KeyName }},
	"availability_zone": {"availability_zone", func(m model.Instance) any { return m.AvailabilityZone }},
	"instance_type_id":  {"flavor_name", func(m model.Instance) any { return m.FlavorName }},
	"uuid":              {"id::text", func(m model.Instance) any { return m.ID }},
}

// Instances lists instances newest first (created_at, id), one page.
func (s *Store) Instances(ctx context.Context, f InstanceFilter) ([]model.Instance, error) {
	q, args := instancePage(instanceCols, f)
	rows, _ := s.db.Query(ctx, q, args...)
	ins, err := pgx.CollectRows(rows, scanInstance)
	return ins, mapErr(err)
}

// InstanceKey names one state of an instance: updated_at changes with
// every change (clock_timestamp, so two changes never share it).
type InstanceKey struct {
	ID        string
	UpdatedAt time.Time
}

// InstanceKeys is Instances reading only each instance's key.
func (s *Store) InstanceKeys(ctx context.Context, f InstanceFilter) ([]InstanceKey, error) {
	q, args := instancePage("id::text, updated_at", f)
	rows, _ := s.db.Query(ctx, q, args...)
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InstanceKey, error) {
		var k InstanceKey
		return k, r.Scan(&k.ID, &k.UpdatedAt)
	})
	return keys, mapErr(err)
}

// InstancesByID reads the given instances (those that exist) by id.
func (s *Store) InstancesByID(ctx context.Context, ids []string) (map[string]model.Instance, error) {
	out := make(map[string]model.Instance, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, _ := s.db.Query(ctx, `SELECT `+instanceCols+` FROM instances WHERE id = ANY($1::uuid[])`, ids)
	ins, err := pgx.CollectRows(rows, scanInstance)
	for _, in := range ins {
		out[in.ID] = in
	}
	return out, mapErr(err)
}

// instancePage is the query of one page of instances matching f.
func instancePage(cols string, f InstanceFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	switch {
	case f.Deleted:
		where = append(where, "deleted_at IS NOT NULL")
	case f.ChangesSince == nil:
		where = append(where, "deleted_at IS NULL")
	}
	if f.ChangesSince != nil {
		add("updated_at >= $?", *f.ChangesSince)
	}
	if f.ImageID != "" {
		add("image_id::text = $?", f.ImageID)
	}
	if f.FlavorID != "" {
		add("flavor_id = $?", f.FlavorID)
	}
	if f.ProjectID != "" {
		add("project_id = $?", f.ProjectID)
	}
	if f.NameRegex != "" {
		add("name ~ $?", f.NameRegex)
	}
	if len(f.VMStates) > 0 {
		add("vm_state = ANY($?)", strs(f.VMStates))
	}
	if f.Host != "" {
		add("host = $?", f.Host)
	}
	f.Tags.where(add)
	key, ok := InstanceSortKeys[f.Sort]
	if !ok {
		key = InstanceSortKeys["created_at"]
	}
	cmp, dir := "<", "DESC"
	if f.SortAsc {
		cmp, dir = ">", "ASC"
	}
	if f.Marker != nil {
		args = append(args, key.value(*f.Marker), f.Marker.ID)
		n := len(args)
		where = append(where, "("+key.expr+", id::text) "+cmp+" ($"+strconv.Itoa(n-1)+", $"+strconv.Itoa(n)+")")
	}
	q := `SELECT ` + cols + ` FROM instances`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + key.expr + " " + dir + ", id::text " + dir
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	return q, args
}

// Usage is what a project's live instances take.
type Usage struct {
	Instances int
	Cores     int
	RAMMB     int
	Ports     int // LockQuota only
}

// InstanceUsage counts a project's instances that are not deleted.
func (s *Store) InstanceUsage(ctx context.Context, projectID string) (Usage, error) {
	var u Usage
	err := s.db.QueryRow(ctx, instanceUsageSQL, projectID).Scan(&u.Instances, &u.Cores, &u.RAMMB)
	return u, mapErr(err)
}

const instanceUsageSQL = `SELECT count(*), coalesce(sum(vcpus), 0), coalesce(sum(memory_mb), 0)
	FROM instances WHERE project_id = $1 AND deleted_at IS NULL`

// InstanceUpdate is a guarded change: it applies only while the instance
// is in the expected vm_state and task_state, so two workers can never
// both move it and a replayed job changes nothing.
type InstanceUpdate struct {
	ID         string
	FromVM     []model.VMState // any of these (empty: any)
	FromTask   []model.TaskState
	VMState    *model.VMState
	TaskState  *model.TaskState
	PowerState *model.PowerState
	Host       *string
	VNCPort    *int
	Fault      *model.Fault
	ClearFault bool
	Launched   bool   // set launched_at = now()
	Deleted    bool   // set deleted_at and terminated_at = now()
	Attempt    string // append to tried_hosts and count an attempt
	ClearHost  bool
	Deadline   *time.Time
	// TaskAction records the action whose job the new task waits for, and
	// that its job is sent now; Resent only notes a new sending.
	TaskAction *int64
	Resent     bool
	// AgentAt records the agent's time of the event being applied.
	AgentAt *time.Time
	// Claimed records that the instance holds a claim on the host set by Host.
	Claimed bool
	// BuildStep sets the build's step and progress (model.BuildStep).
	BuildStep *model.BuildStep
	// ForAction guards the update to the task of that action (0: any).
	ForAction int64
	// A rebuild's new image, name, metadata and key pair (nil: unchanged).
	ImageID  *string
	Name     *string
	Metadata map[string]string
	Key      *model.KeyPair
	// ShelvedImage sets (or, "", clears) the shelved snapshot; Shelved
	// notes the instance shelved now.
	ShelvedImage *string
	Shelved      bool
	// SoftDeleted notes the instance soft-deleted now (terminated_at, the
	// reclaim clock); Restored clears it.
	SoftDeleted, Restored bool
	// TaskJob is the job the new task waits for, as sent (JSON).
	TaskJob []byte
	// Lock locks the instance (Unlock unlocks it).
	Lock   *model.Lock
	Unlock bool
	// Flavor is a resize's flavor (its id, name, vcpus, RAM and disk).
	Flavor *model.Flavor
}

// UpdateInstance applies u; ErrConflict when the instance is not in the
// expected state (or does not exist).
//
// An instance deleted by u gives up its ports in the same transaction
// (ReleaseInstancePorts): no path that deletes one can forget them.
func (s *Store) UpdateInstance(ctx context.Context, u InstanceUpdate) error {
	if !u.Deleted {
		return s.updateInstance(ctx, u)
	}
	return s.Tx(ctx, func(tx *Store) error {
		if err := tx.updateInstance(ctx, u); err != nil {
			return err
		}
		return tx.ReleaseInstancePorts(ctx, u.ID)
	})
}

func (s *Store) updateInstance(ctx context.Context, u InstanceUpdate) error {
	sets := []string{"updated_at = clock_timestamp()"} // never shared by two changes: InstanceKey
	args := []any{u.ID}
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, col+" = $"+strconv.Itoa(len(args)))
	}
	if u.VMState != nil {
		set("vm_state", string(*u.VMState))
	}
	if u.TaskState != nil {
		if *u.TaskState == model.TaskNone {
			sets = append(sets, "task_state = NULL")
		} else {
			set("task_state", string(*u.TaskState))
		}
	}
	if u.PowerState != nil {
		set("power_state", int(*u.PowerState))
	}
	if u.Flavor != nil {
		set("flavor_id", u.Flavor.ID)
		set("flavor_name", u.Flavor.Name)
		set("vcpus", u.Flavor.VCPUs)
		set("memory_mb", u.Flavor.RAMMB)
		set("root_gb", u.Flavor.DiskGB)
	}
	if u.Host != nil {
		set("host", *u.Host)
	}
	if u.ClearHost {
		sets = append(sets, "host = NULL")
	}
	if u.Claimed && u.Host != nil {
		set("claim_host", *u.Host)
	}
	if u.VNCPort != nil {
		set("vnc_port", *u.VNCPort)
	}
	if u.Fault != nil {
		b, _ := json.Marshal(u.Fault)
		set("fault", b)
	}
	if u.ClearFault {
		sets = append(sets, "fault = NULL")
	}
	if u.BuildStep != nil {
		set("build_step", string(*u.BuildStep))
		set("progress", u.BuildStep.Progress(0))
	}
	if u.Launched {
		sets = append(sets, "launched_at = coalesce(launched_at, now())")
	}
	if u.Deleted {
		sets = append(sets, "deleted_at = coalesce(deleted_at, now())", "terminated_at = coalesce(terminated_at, now())")
	}
	if u.Attempt != "" {
		set("tried_hosts", []string{u.Attempt})
		sets[len(sets)-1] = "tried_hosts = tried_hosts || $" + strconv.Itoa(len(args))
		sets = append(sets, "attempts = attempts + 1")
	}
	if u.Deadline != nil {
		set("build_deadline", *u.Deadline)
	}
	if u.Lock != nil {
		set("locked_by", u.Lock.By)
		set("locked_by_user", u.Lock.User)
		set("locked_reason", u.Lock.Reason)
	}
	if u.Unlock {
		sets = append(sets, "locked_by = NULL", "locked_by_user = NULL", "locked_reason = NULL")
	}
	if u.TaskAction != nil {
		set("task_action_id", *u.TaskAction)
	}
	if u.TaskJob != nil {
		set("task_job", u.TaskJob)
	}
	if u.ImageID != nil {
		set("image_id", *u.ImageID)
	}
	if u.ShelvedImage != nil {
		set("shelved_image_id", nullIfEmpty(*u.ShelvedImage))
		sets[len(sets)-1] += "::uuid"
	}
	if u.Shelved {
		sets = append(sets, "shelved_at = clock_timestamp()")
	}
	if u.SoftDeleted {
		sets = append(sets, "terminated_at = clock_timestamp()")
	}
	if u.Restored {
		sets = append(sets, "terminated_at = NULL")
	}
	if u.Name != nil {
		set("name", *u.Name)
	}
	if u.Metadata != nil {
		meta, _ := json.Marshal(u.Metadata)
		set("metadata", meta)
	}
	if u.Key != nil {
		set("key_name", nullIfEmpty(u.Key.Name))
		set("key_data", nullIfEmpty(u.Key.PublicKey))
	}
	if u.AgentAt != nil {
		set("agent_event_at", *u.AgentAt)
		sets[len(sets)-1] = "agent_event_at = greatest(agent_event_at, $" + strconv.Itoa(len(args)) + ")"
	}
	if u.TaskAction != nil || u.Resent {
		sets = append(sets, "task_sent_at = clock_timestamp()")
	}
	where := []string{"id = $1"}
	if len(u.FromVM) > 0 {
		args = append(args, strs(u.FromVM))
		where = append(where, "vm_state = ANY($"+strconv.Itoa(len(args))+")")
	}
	if len(u.FromTask) > 0 {
		args = append(args, strs(u.FromTask))
		where = append(where, "coalesce(task_state, '') = ANY($"+strconv.Itoa(len(args))+")")
	}
	if u.ForAction != 0 {
		args = append(args, u.ForAction)
		where = append(where, "coalesce(task_action_id, $"+strconv.Itoa(len(args))+") = $"+strconv.Itoa(len(args)))
	}
	tag, err := s.db.Exec(ctx, `UPDATE instances SET `+strings.Join(sets, ", ")+` WHERE `+strings.Join(where, " AND "), args...)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrConflict
	}
	return nil
}

// UpdateInstanceName renames an instance (PUT /servers/{id}).
func (s *Store) UpdateInstanceName(ctx context.Context, id, name string) error {
	return affected(s.db.Exec(ctx, `UPDATE instances SET name = $2, updated_at = clock_timestamp() WHERE id = $1 AND deleted_at IS NULL`, id, name))
}

// ShelvedBefore returns the ids of instances shelved (not offloaded, no
// task) since before t.
func (s *Store) ShelvedBefore(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT id::text FROM instances WHERE vm_state = 'shelved' AND task_state IS NULL
		AND deleted_at IS NULL AND shelved_at < $1 ORDER BY shelved_at LIMIT $2`, t, limit)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapErr(err)
}

// SoftDeletedBefore returns the ids of instances soft-deleted (no task)
// since before t.
func (s *Store) SoftDeletedBefore(ctx context.Context, t time.Time, limit int) ([]string, error) {
	rows, _ := s.db.Query(ctx, `SELECT id::text FROM instances WHERE vm_state = 'soft-delete' AND task_state IS NULL
		AND deleted_at IS NULL AND terminated_at < $1 ORDER BY terminated_at LIMIT $2`, t, limit)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapErr(err)
}

// OverdueBuilds returns instances still building past their deadline.
func (s *Store) OverdueBuilds(ctx context.Context, now time.Time, limit int) ([]model.Instance, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+instanceCols+` FROM instances
		WHERE vm_state = 'building' AND build_deadline < $1 ORDER BY build_deadline LIMIT $2`, now, limit)
	ins, err := pgx.CollectRows(rows, scanInstance)
	return ins, mapErr(err)
}

// InstancesInTask returns instances whose task has waited for its job
// since before sentBefore (the reconciler's work), oldest first.
func (s *Store) InstancesInTask(ctx context.Context, sentBefore time.Time, limit int) ([]model.Instance, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+instanceCols+` FROM instances
		WHERE task_state IS NOT NULL AND deleted_at IS NULL AND coalesce(task_sent_at, updated_at) < $1
		ORDER BY coalesce(task_sent_at, updated_at) LIMIT $2`, sentBefore, limit)
	ins, err := pgx.CollectRows(rows, scanInstance)
	return ins, mapErr(err)
}

// InstancesOnHost returns the live instances the database places on host.
func (s *Store) InstancesOnHost(ctx context.Context, host string) ([]model.Instance, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+instanceCols+` FROM instances WHERE host = $1 AND deleted_at IS NULL`, host)
	ins, err := pgx.CollectRows(rows, scanInstance)
	return ins, mapErr(err)
}

// strs turns states (string types) into the text[] PostgreSQL compares.
func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// nullIfEmpty stores "" as NULL.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// AdvanceBuild records that the build of instance id, for action, reached
// step, percent of the way through it. Only forward: a report that would
// not raise the progress (late, repeated, or from a build the instance no
// longer waits for) changes nothing, so a redelivered event is harmless.
func (s *Store) AdvanceBuild(ctx context.Context, id string, action int64, step model.BuildStep, percent int) error {
	_, err := s.db.Exec(ctx, `UPDATE instances SET build_step = $3, progress = $4, updated_at = clock_timestamp()
		WHERE id = $1 AND vm_state = 'building' AND coalesce(task_action_id, $2) = $2 AND progress < $4`,
		id, action, string(step), step.Progress(percent))
	return mapErr(err)
}

// InstanceOwners maps those of ids that are instances placed on host and
// not deleted to their projects: the domains whose statistics are kept.
func (s *Store) InstanceOwners(ctx context.Context, host string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `SELECT id::text, project_id FROM instances
		WHERE id::text = ANY($1) AND host = $2 AND deleted_at IS NULL`, ids, host)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, project string
		if err := rows.Scan(&id, &project); err != nil {
			return nil, mapErr(err)
		}
		out[id] = project
	}
	return out, mapErr(rows.Err())
}
