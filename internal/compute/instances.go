package compute

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// CreateRequest is POST /servers.
type CreateRequest struct {
	Name      string
	FlavorRef string
	ImageRef  string
	KeyName   string
	UserData  string // base64, as Nova takes it
	Metadata  map[string]string
	Tags      []string // 2.52
	AZ        string
	Group     string // os:scheduler_hints group: the server group to join
	MinCount  int
	MaxCount  int
	RequestID string
	// NetworksMode is "auto", "none" or "" (a list in NICs, or nothing
	// asked: as "auto").
	NetworksMode string
	NICs         []network.NICRequest
	// SecurityGroups name the groups of the ports made for the server
	// (none: the project's default group).
	SecurityGroups []string
	// BlockDevices are Nova's block_device_mapping_v2: volumes the
	// server boots from (boot index 0) or gets as data disks.
	BlockDevices []BlockDevice
}

// BlockDevice is one of block_device_mapping_v2's entries, as supported:
// a volume made from an image (SourceType "image", VolumeSize GB) or an
// empty one ("blank"), or an existing volume ("volume", UUID), always
// with DestinationType "volume"; BootIndex 0 is the boot disk.
type BlockDevice struct {
	SourceType          string
	DestinationType     string
	UUID                string
	VolumeSize          int
	BootIndex           *int
	DeleteOnTermination bool
}

// imageBytes is the disk an image needs: its virtual size (what the guest
// sees, measured at upload) or, when larger or unknown, its file size.
func imageBytes(im model.Image) int64 {
	var n int64
	if im.Size != nil {
		n = *im.Size
	}
	if im.VirtualSize != nil && *im.VirtualSize > n {
		n = *im.VirtualSize
	}
	return n
}

// lastSegment takes the id out of a ref that may be a URL.
func lastSegment(ref string) string {
	ref = strings.TrimRight(ref, "/")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func checkServerName(name string) error { return validate.Name("name", name, 255) }

// checkMetadata applies Nova's limits: keys of 1 to 255 characters,
// values of at most 255, both storable.
func checkMetadata(md map[string]string) error {
	for k, v := range md {
		if k == "" {
			return fault.InvalidAs("required", "metadata", "keys must not be empty")
		}
		if err := validate.Text("metadata", k, 255); err != nil {
			return err
		}
		if err := validate.Text("metadata", v, 255); err != nil {
			return err
		}
	}
	return nil
}

// bootableImage loads the image ref (field names it in errors) names, when
// the caller may see it, it is active, and a flavor of ramMB and diskGB
// (0: the image's own size) can boot it, as Nova checks at launch,
// rebuild and rescue.
func (s *Service) bootableImage(ctx context.Context, caller *model.Token, field, ref string, ramMB, diskGB int) (model.Image, error) {
	imageID := lastSegment(ref)
	if imageID == "" {
		return model.Image{}, fault.Invalid(field, "%s is required (booting from volumes is not supported)", field)
	}
	im, err := s.store.Image(ctx, imageID)
	if err == nil && !(im.Visibility == "public" || im.Visibility == "community" || im.Owner == caller.ProjectID || policy.Allowed(caller, policy.ListAllImages, policy.Target{})) {
		err = store.ErrNotFound
	}
	if err != nil {
		return model.Image{}, fault.NotFoundAs(err, fault.Invalid(field, "Image %s could not be found.", imageID))
	}
	if im.Status != model.ImageActive {
		return model.Image{}, fault.Invalid(field, "Image %s is not active.", imageID)
	}
	if im.MinRAM > ramMB {
		return model.Image{}, fault.Invalid("flavorRef", "Flavor's memory is too small for requested image.")
	}
	if diskGB > 0 && im.MinDisk > diskGB {
		return model.Image{}, fault.Invalid("flavorRef", "Flavor's disk is too small for requested image.")
	}
	if root := int64(diskGB) << 30; root > 0 && imageBytes(im) > root {
		return model.Image{}, fault.Invalid("flavorRef", "Flavor's disk is too small for requested image. Flavor disk is %d bytes, image is %d bytes.",
			root, imageBytes(im))
	}
	return im, nil
}

// keyPair loads the caller's key pair name.
func (s *Service) keyPair(ctx context.Context, caller *model.Token, name string) (model.KeyPair, error) {
	if err := validate.Filter("key_name", name); err != nil {
		return model.KeyPair{}, err
	}
	kp, err := s.store.KeyPair(ctx, caller.UserID, name)
	if err != nil {
		return model.KeyPair{}, fault.NotFoundAs(err, fault.Invalid("key_name", "Invalid key_name provided."))
	}
	return kp, nil
}

// visibleInstance loads an instance the caller may see; any other is not
// found, exactly like a random id.
// A deleted instance is not found, for admins too, as in Nova: clients
// that wait for a delete (openstack server delete --wait) wait for a 404.
func (s *Service) visibleInstance(ctx context.Context, caller *model.Token, id string, op policy.Op) (model.Instance, error) {
	return s.instanceFor(ctx, caller, id, op, false)
}

// instanceFor is visibleInstance that finds deleted instances too when
// withDeleted is set (their action log from microversion 2.21).
func (s *Service) instanceFor(ctx context.Context, caller *model.Token, id string, op policy.Op, withDeleted bool) (model.Instance, error) {
	in, err := s.store.Instance(ctx, id)
	if err != nil {
		return model.Instance{}, fault.NotFoundAs(err, notFound(id))
	}
	if in.VMState == model.VMDeleted && !withDeleted {
		return model.Instance{}, notFound(id)
	}
	if !policy.Allowed(caller, op, policy.Target{ProjectID: in.ProjectID}) {
		if policy.Allowed(caller, policy.GetServer, policy.Target{ProjectID: in.ProjectID}) {
			return model.Instance{}, fault.ErrForbidden // a reader asking to change it
		}
		return model.Instance{}, notFound(id)
	}
	return in, nil
}

func notFound(id string) error { return fault.NotFound("Instance %s could not be found.", id) }

// Get returns an instance the caller may see.
func (s *Service) Get(ctx context.Context, caller *model.Token, id string) (model.Instance, error) {
	return s.visibleInstance(ctx, caller, id, policy.GetServer)
}

// ListOptions are the caller's list filters.
type ListOptions struct {
	AllTenants   bool
	ProjectID    string // with AllTenants, one project
	Name         string // regular expression
	Status       string
	Host         string
	ChangesSince *time.Time
	Deleted      bool   // admins: deleted instances only
	Image        string // image id or URL
	Flavor       string // flavor id or URL
	IP           string // regular expression on fixed addresses
	Marker       string
	Limit        int
	// SortKey (Nova's sort_key: display_name, created_at, vm_state, host
	// ...; store.InstanceSortKeys) and SortDir ("asc" or "desc", the
	// default).
	SortKey, SortDir string
	// Tags (all of), TagsAny, NotTags (not all of), NotTagsAny: 2.26.
	Tags, TagsAny, NotTags, NotTagsAny []string
}

// List returns a page of the caller's project's instances (all projects
// for admins asking all_tenants).
func (s *Service) List(ctx context.Context, caller *model.Token, o ListOptions) ([]model.Instance, error) {
	f, none, err := s.listFilter(ctx, caller, o)
	if err != nil || none {
		return []model.Instance{}, err
	}
	return s.store.Instances(ctx, f)
}

// ListChanged is List for callers that keep what they made of each
// instance (the API's rendered servers): it returns the page's instances
// as keys (id and last change) in order, and the full rows only of those
// for which known answers false. A large list the client polls then costs
// two narrow queries instead of reading every row again.
func (s *Service) ListChanged(ctx context.Context, caller *model.Token, o ListOptions, known func(store.InstanceKey) bool) ([]store.InstanceKey, map[string]model.Instance, error) {
	f, none, err := s.listFilter(ctx, caller, o)
	if err != nil || none {
		return nil, nil, err
	}
	keys, err := s.store.InstanceKeys(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	var missing []string
	for _, k := range keys {
		if !known(k) {
			missing = append(missing, k.ID)
		}
	}
	rows, err := s.store.InstancesByID(ctx, missing)
	return keys, rows, err
}

// listFilter checks the caller may list and turns the options into the
// store's filter; none is true when nothing can match (an unknown
// status, as Nova answers it).
func (s *Service) listFilter(ctx context.Context, caller *model.Token, o ListOptions) (f store.InstanceFilter, none bool, err error) {
	if err := policy.Check(caller, policy.ListServers, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return f, false, err
	}
	f = store.InstanceFilter{ProjectID: caller.ProjectID, ChangesSince: o.ChangesSince, Limit: o.Limit,
		Tags: store.TagFilter{All: o.Tags, Any: o.TagsAny, NotAll: o.NotTags, NotAny: o.NotTagsAny}}
	if o.AllTenants {
		if err := policy.Check(caller, policy.ListAllServers, policy.Target{}); err != nil {
			return f, false, err
		}
		f.ProjectID = o.ProjectID
	}
	if o.IP != "" {
		if err := validate.Regex("ip", o.IP); err != nil {
			return f, false, err
		}
		return f, true, nil // instances have no addresses yet: none matches
	}
	f.ImageID, f.FlavorID = lastSegment(o.Image), lastSegment(o.Flavor)
	allFilters := policy.Allowed(caller, policy.AllServerFilters, policy.Target{})
	f.Deleted = o.Deleted && allFilters // Nova ignores it for others
	if o.Host != "" {
		if !allFilters {
			return f, false, fault.Invalid("host", "Only administrators may filter by host.")
		}
		f.Host = o.Host
	}
	if o.Name != "" {
		if err := validate.Regex("name", o.Name); err != nil {
			return f, false, err
		}
		f.NameRegex = o.Name
	}
	if o.Status != "" {
		vs, ok := StatusFilter(strings.ToUpper(o.Status))
		if !ok {
			return f, true, nil // Nova returns nothing for unknown statuses
		}
		f.VMStates = vs
		if len(vs) == 1 && vs[0] == model.VMDeleted && allFilters {
			f.Deleted = true // status=DELETED is how admins ask for deleted ones too
		}
	}
	if o.SortKey != "" {
		if _, ok := store.InstanceSortKeys[o.SortKey]; !ok {
			return f, false, fault.Invalid("sort_key", "Invalid input for field/attribute sort_key. Value: %s.", o.SortKey)
		}
		f.Sort = o.SortKey
	}
	switch o.SortDir {
	case "", "desc":
	case "asc":
		f.SortAsc = true
	default:
		return f, false, fault.Invalid("sort_dir", "Invalid input for field/attribute sort_dir. Value: %s.", o.SortDir)
	}
	if o.Marker != "" {
		m, err := s.store.Instance(ctx, o.Marker)
		if err == nil && !policy.Allowed(caller, policy.ListAllServers, policy.Target{}) && m.ProjectID != caller.ProjectID {
			err = store.ErrNotFound
		}
		if err != nil {
			return f, false, fault.NotFoundAs(err, fault.Invalid("marker", "marker [%s] not found", o.Marker))
		}
		f.Marker = &m
	}
	return f, false, nil
}

// Create launches MinCount..MaxCount instances. Quota is counted with the
// project locked, so concurrent launches never exceed it; as many as fit
// between min and max are launched, as Nova does.
func (s *Service) Create(ctx context.Context, caller *model.Token, r CreateRequest) ([]model.Instance, error) {
	if err := policy.Check(caller, policy.CreateServer, policy.Target{ProjectID: caller.ProjectID}); err != nil {
		return nil, err
	}
	if err := checkServerName(r.Name); err != nil {
		return nil, err
	}
	if err := checkMetadata(r.Metadata); err != nil {
		return nil, err
	}
	if err := checkTags(r.Tags); err != nil {
		return nil, err
	}
	if r.MinCount == 0 {
		r.MinCount = 1
	}
	if r.MaxCount == 0 {
		r.MaxCount = r.MinCount
	}
	if r.MinCount < 1 || r.MaxCount < r.MinCount || r.MaxCount > 1000 {
		return nil, fault.Invalid("min_count", "min_count must be at least 1 and at most max_count (at most 1000)")
	}
	if r.UserData != "" {
		if len(r.UserData) > 65535 {
			return nil, fault.Invalid("user_data", "User data too large. User data must be no larger than 65535 bytes once base64 encoded.")
		}
		if _, err := base64.StdEncoding.DecodeString(r.UserData); err != nil {
			return nil, fault.Invalid("user_data", "Invalid input for field/attribute user_data. Value is not valid base64.")
		}
	}
	flavor, err := s.Flavor(ctx, caller, lastSegment(r.FlavorRef))
	if err != nil {
		if errors.Is(err, fault.ErrNotFound) {
			return nil, fault.Invalid("flavorRef", "Flavor %s could not be found.", lastSegment(r.FlavorRef))
		}
		return nil, err
	}
	plan, bootVolume, err := s.planVolumes(ctx, caller, &r, flavor.RAMMB)
	if err != nil {
		return nil, err
	}
	var im model.Image // none for a server that boots from a volume, as Nova's
	if !bootVolume {
		if im, err = s.bootableImage(ctx, caller, "imageRef", r.ImageRef, flavor.RAMMB, flavor.DiskGB); err != nil {
			return nil, err
		}
	}
	var keyData string
	if r.KeyName != "" {
		kp, err := s.keyPair(ctx, caller, r.KeyName)
		if err != nil {
			return nil, err
		}
		keyData = kp.PublicKey
	}
	az := r.AZ
	if az != "" {
		if i := strings.Index(az, ":"); i >= 0 { // "az:host" forms are admin-only in Nova; ignore host
			az = az[:i]
		}
		if err := validate.Filter("availability_zone", az); err != nil {
			return nil, err
		}
		ok, err := s.store.ZoneExists(ctx, az)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fault.Invalid("availability_zone", "The requested availability zone is not available")
		}
	}
	var nics []network.NICRequest
	if s.opt.Network != nil {
		if nics, err = s.opt.Network.PlanNICs(ctx, caller, r.NetworksMode, r.NICs, r.MaxCount, r.SecurityGroups); err != nil {
			return nil, err
		}
	}
	reservation := "r-" + uuid.NewString()[:8]
	deadline := time.Now().Add(s.opt.BuildTimeout)
	// The project lock serialises every launch in a project, so it is held
	// as briefly as possible: with a fixed count the rows are written
	// first and the lock taken only to count and commit (counting sees the
	// committed launches of everyone who held it before). A min..max range
	// must know the count before writing, so it locks first.
	var out []model.Instance
	var volumeAction int64
	insert := func(tx *store.Store, n int) error {
		for i := 0; i < n; i++ {
			name := r.Name
			if n > 1 {
				name = fmt.Sprintf("%s-%d", r.Name, i+1) // Nova's multi-create naming
			}
			in := model.Instance{
				ID: uuid.NewString(), ProjectID: caller.ProjectID, UserID: caller.UserID, Name: name,
				FlavorID: flavor.ID, FlavorName: flavor.Name, VCPUs: flavor.VCPUs, MemoryMB: flavor.RAMMB, RootGB: flavor.DiskGB,
				ImageID: im.ID, KeyName: r.KeyName, KeyData: keyData, UserData: r.UserData, Metadata: r.Metadata,
				AvailabilityZone: az, VMState: model.VMBuilding, TaskState: model.TaskScheduling,
				ReservationID: reservation, LaunchIndex: i, BuildDeadline: &deadline,
			}
			if err := tx.InsertInstance(ctx, in); err != nil {
				return err
			}
			if len(nics) > 0 {
				if err := s.opt.Network.AttachNewInstance(ctx, tx, caller, in, nics); err != nil {
					return err
				}
			}
			if r.Group != "" {
				limits, err := tx.QuotaLimits(ctx, caller.ProjectID)
				if err != nil {
					return err
				}
				if err := s.joinGroup(ctx, tx, caller, r.Group, in.ID, limits); err != nil {
					return err
				}
			}
			if len(r.Tags) > 0 {
				if err := tx.SetInstanceTags(ctx, in.ID, r.Tags); err != nil {
					return err
				}
			}
			actionID, err := tx.InsertAction(ctx, model.InstanceAction{InstanceID: in.ID, Action: "create",
				RequestID: r.RequestID, UserID: caller.UserID, ProjectID: caller.ProjectID})
			if err != nil {
				return err
			}
			if err := tx.StartEvent(ctx, actionID, "conductor_schedule_and_build_instances", "", time.Now()); err != nil {
				return err
			}
			if len(plan) > 0 {
				// Scheduled once its volumes are made (prepareVolumes).
				volumeAction = actionID
			} else if err := tx.Enqueue(ctx, queue.SchedulerStream(s.opt.RedisPrefix), queue.Job{
				V: queue.Version, Kind: queue.JobSchedule, InstanceID: in.ID, RequestID: r.RequestID, ActionID: actionID,
			}); err != nil {
				return err
			}
			created, err := tx.Instance(ctx, in.ID)
			if err != nil {
				return err
			}
			out = append(out, created)
		}
		return nil
	}
	// fit locks the project and returns how many of min..max fit, not
	// counting the pending instances already written in this transaction.
	fit := func(tx *store.Store, pending int) (int, error) {
		// The in-memory queue is left as soon as the row lock is held:
		// the next launch then waits on the row alone, one backend
		// rather than fifty, and its request is already there when this
		// transaction commits.
		unlock := s.projects.lock(caller.ProjectID)
		limits, used, err := tx.LockQuota(ctx, caller.ProjectID)
		unlock()
		if err != nil {
			return 0, err
		}
		if err := metadataFits(limits, len(r.Metadata)); err != nil {
			return 0, err
		}
		used.Instances -= pending
		used.Cores -= pending * flavor.VCPUs
		used.RAMMB -= pending * flavor.RAMMB
		n, over := fitCount(limits, used, flavor, r.MinCount, r.MaxCount)
		if over != nil {
			return 0, over
		}
		// The ports the launch makes count in the port quota here, under
		// the project lock, with the instances: made already when pending.
		if made := madePorts(nics); made > 0 {
			extra := n * made
			if pending > 0 {
				extra = 0
			}
			if err := network.PortsFit(limits, used.Ports, extra); err != nil {
				return 0, err
			}
		}
		return n, nil
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if r.MinCount == r.MaxCount {
			if err := insert(tx, r.MinCount); err != nil {
				return err
			}
			_, err := fit(tx, r.MinCount)
			return err
		}
		n, err := fit(tx, 0)
		if err != nil {
			return err
		}
		return insert(tx, n)
	})
	if err != nil {
		return nil, err
	}
	if len(plan) > 0 {
		go s.prepareVolumes(ctx, caller, out[0], volumeAction, r.RequestID, plan)
	}
	s.opt.Kick()
	return out, nil
}

// metadataFits checks n metadata items against the metadata_items quota
// (a limit per instance, as Nova's).
func metadataFits(limits map[string]int, n int) error {
	if l, ok := limits["metadata_items"]; ok && l >= 0 && n > l {
		return &fault.OverQuota{Resource: "metadata_items", Limit: l, Used: 0, Requested: n}
	}
	return nil
}

// fitCount returns how many instances (between min and max) fit in the
// quota, or the error naming the first resource that does not fit min.
func fitCount(limits map[string]int, used store.Usage, f model.Flavor, min, max int) (int, error) {
	fits := func(n int) *fault.OverQuota {
		checks := []struct {
			res        string
			used, each int
		}{{"instances", used.Instances, 1}, {"cores", used.Cores, f.VCPUs}, {"ram", used.RAMMB, f.RAMMB}}
		for _, c := range checks {
			l, ok := limits[c.res]
			if ok && l >= 0 && c.used+n*c.each > l {
				return &fault.OverQuota{Resource: c.res, Limit: l, Used: c.used, Requested: n * c.each}
			}
		}
		return nil
	}
	for n := max; n >= min; n-- {
		if fits(n) == nil {
			return n, nil
		}
	}
	return 0, fits(min)
}

// Rename changes an instance's name (PUT /servers/{id}).
func (s *Service) Rename(ctx context.Context, caller *model.Token, id, name string) (model.Instance, error) {
	in, err := s.visibleInstance(ctx, caller, id, policy.UpdateServer)
	if err != nil {
		return model.Instance{}, err
	}
	id = in.ID // canonical from here on
	if err := checkServerName(name); err != nil {
		return model.Instance{}, err
	}
	if err := s.store.UpdateInstanceName(ctx, id, name); err != nil {
		return model.Instance{}, fault.NotFoundAs(err, notFound(id))
	}
	return s.store.Instance(ctx, id)
}

// checkLock is Nova's instance lock: a locked instance refuses every
// action of a non-admin (409), but unlock by the user who locked it.
// Locking again is allowed (it changes nothing for the owner).
func checkLock(caller *model.Token, in model.Instance, a Action) error {
	if !in.Locked() || policy.Allowed(caller, policy.OverrideLock, policy.Target{ProjectID: in.ProjectID}) {
		return nil
	}
	switch a {
	case ActionLock:
		return nil
	case ActionUnlock:
		if in.LockedBy == "owner" && in.LockedByUser == caller.UserID {
			return nil
		}
		return fault.ErrForbidden
	}
	return fault.Conflict("Instance %s is locked", in.ID)
}

// setLock records a lock or an unlock (instance action "lock", "unlock";
// no job: nothing changes on the host).
func (s *Service) setLock(ctx context.Context, tx *store.Store, caller *model.Token, in model.Instance, a Action) error {
	u := store.InstanceUpdate{ID: in.ID}
	if a == ActionUnlock {
		if !in.Locked() {
			return nil
		}
		u.Unlock = true
	} else {
		by := "admin"
		if caller.ProjectID == in.ProjectID {
			by = "owner"
		}
		if in.Locked() && by == "owner" {
			return nil // Nova: an owner's lock of a locked instance changes nothing
		}
		u.Lock = &model.Lock{By: by, User: caller.UserID}
	}
	return tx.UpdateInstance(ctx, u)
}

// finishDelete marks an instance deleted and releases its claim on host
// (if any), in the caller's transaction.
func (s *Service) finishDelete(ctx context.Context, tx *store.Store, in model.Instance, actionID int64, host string) error {
	vm, task := model.VMDeleted, model.TaskNone
	power := model.PowerNoState
	if err := tx.UpdateInstance(ctx, store.InstanceUpdate{ID: in.ID, VMState: &vm, TaskState: &task,
		PowerState: &power, Deleted: true}); err != nil {
		return err
	}
	if err := tx.ReleaseClaim(ctx, in.ID); err != nil {
		return err
	}
	// A move in progress ends with it: its claims, its relayed disk and
	// the other host's copy.
	disk, err := s.abandonMove(ctx, tx, in)
	if err != nil {
		return err
	}
	s.removeDisk(disk)
	return tx.FinishEvent(ctx, actionID, "compute_delete_instance", host, "Success", "", time.Now())
}

// Actions returns an instance's action log (os-instance-actions), a
// deleted instance's too when withDeleted is set (Nova from 2.21). Event
// tracebacks are for admins only.
func (s *Service) Actions(ctx context.Context, caller *model.Token, id string, withDeleted bool) ([]model.InstanceAction, error) {
	if _, err := s.instanceFor(ctx, caller, id, policy.GetServer, withDeleted); err != nil {
		return nil, err
	}
	as, err := s.store.Actions(ctx, id)
	if err != nil {
		return nil, err
	}
	if !policy.Allowed(caller, policy.ShowActionDetails, policy.Target{ProjectID: caller.ProjectID}) {
		for i := range as {
			for j := range as[i].Events {
				as[i].Events[j].Traceback, as[i].Events[j].Host = "", ""
			}
		}
	}
	return as, nil
}

// MetadataInstance returns a live instance for the metadata service,
// which has no token: the caller proved who it serves by the proxy's
// signature of the instance id.
func (s *Service) MetadataInstance(ctx context.Context, id string) (model.Instance, error) {
	in, err := s.store.Instance(ctx, id)
	if err == nil && in.DeletedAt != nil {
		err = store.ErrNotFound
	}
	return in, fault.NotFoundAs(err, fault.NotFound("Instance %s could not be found.", id))
}

// ServerSecurityGroups lists the security groups of a server's ports.
func (s *Service) ServerSecurityGroups(ctx context.Context, caller *model.Token, id string) ([]model.SecurityGroup, error) {
	in, err := s.Get(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if s.opt.Network == nil {
		return nil, nil
	}
	return s.opt.Network.ServerSecurityGroups(ctx, in)
}

// ChangeSecurityGroup adds a security group to a server's ports, or
// removes it (Nova's addSecurityGroup and removeSecurityGroup).
func (s *Service) ChangeSecurityGroup(ctx context.Context, caller *model.Token, id, name string, add bool) error {
	in, err := s.Get(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := policy.Check(caller, policy.ServerAction, policy.Target{ProjectID: in.ProjectID}); err != nil {
		return err
	}
	if s.opt.Network == nil {
		return fault.Invalid("name", "This cloud has no networking")
	}
	return s.opt.Network.ChangeServerGroup(ctx, caller, in, name, add)
}

// madePorts is how many ports each instance of a launch makes (networks
// asked for; ports given are the user's already).
func madePorts(nics []network.NICRequest) int {
	n := 0
	for _, r := range nics {
		if r.PortID == "" {
			n++
		}
	}
	return n
}
