package views

import (
	"context"
	"net/url"
	"strconv"

	"github.com/a-h/templ"

	"github.com/nimbus-cloud/nimbus/internal/i18n"
)

// InstanceRow is one line of the Instances table.
type InstanceRow struct {
	ID         string
	Name       string
	Status     string // API status: ACTIVE, BUILD, ...
	Task       string
	Power      string // catalogue key of the power state
	Host       string // admins only
	Flavor     string
	Image      string
	Age        string
	Project    string // the project's name, on the admin's All Instances
	Transition bool   // something is in progress: the row keeps refreshing
	Locked     bool   // shown as a lock badge
	// BuildStep (a model.BuildStep) and Progress (0-100) show how far a
	// build has come, while Status is BUILD.
	BuildStep string
	Progress  int
	// Actions are the actions valid now (the list's row menu).
	Actions []string
}

// InstanceList is Project > Instances.
type InstanceList struct {
	Page
	Rows       []InstanceRow
	NameFilter string
	Status     string
	Statuses   []string
	NextMarker string
	ShowHost   bool
	Version    string // changes whenever any listed instance changes
	// Sort is the column sorted by (a Nova sort key, "" for newest
	// first); SortAsc its direction.
	Sort    string
	SortAsc bool
	// AllProjects is the admin's All Instances: every project's, with a
	// project column and filter (Project, one of Projects).
	AllProjects bool
	Project     string
	Projects    []Ref
	// Flavor, Image and Host filter the list (Host: admins) by id or
	// name; the page offers Flavors, Images and Hosts to pick from.
	Flavor, Image, Host    string
	Flavors, Images, Hosts []Ref
}

// FilterChip is one filter in force, shown as a chip that removes it.
type FilterChip struct {
	Key, Label, Value string
	Remove            templ.SafeURL
}

// Chips are the filters in force, each with the list's link without it.
func (v InstanceList) Chips(ctx context.Context) []FilterChip {
	name := func(refs []Ref, id string) string {
		for _, r := range refs {
			if r.ID == id {
				return r.Name
			}
		}
		return id
	}
	var out []FilterChip
	add := func(key, label, value string) {
		if value == "" {
			return
		}
		q := v.query()
		q.Del(key)
		out = append(out, FilterChip{Key: key, Label: t(ctx, label), Value: value, Remove: templ.SafeURL(v.Base() + "?" + q.Encode())})
	}
	add("project", "instances.project", name(v.Projects, v.Project))
	add("name", "instances.filter_name", v.NameFilter)
	if v.Status != "" {
		add("status", "instances.status", t(ctx, "status."+v.Status))
	}
	add("flavor", "instances.flavor", name(v.Flavors, v.Flavor))
	add("image", "instances.image", name(v.Images, v.Image))
	add("host", "instances.host", v.Host)
	return out
}

// Base is the list's own path: the project's instances, or the admin's
// all instances.
func (v InstanceList) Base() string {
	if v.AllProjects {
		return "/admin/instances"
	}
	return "/project/instances"
}

// InstanceSortColumns are the columns the list sorts by, by their Nova
// sort keys.
var InstanceSortColumns = []string{"display_name", "vm_state", "task_state", "power_state", "host", "instance_type_id", "created_at"}

// query is the list's filters and sort as query values.
func (v InstanceList) query() url.Values {
	q := url.Values{}
	if v.NameFilter != "" {
		q.Set("name", v.NameFilter)
	}
	if v.Status != "" {
		q.Set("status", v.Status)
	}
	for k, val := range map[string]string{"project": v.Project, "flavor": v.Flavor, "image": v.Image, "host": v.Host} {
		if val != "" {
			q.Set(k, val)
		}
	}
	if v.Sort != "" {
		q.Set("sort", v.Sort)
		if v.SortAsc {
			q.Set("dir", "asc")
		}
	}
	return q
}

// NextPage is the link to the page after this one, with the filters the
// user typed encoded as query values (never spliced into the URL).
func (v InstanceList) NextPage() templ.SafeURL {
	q := v.query()
	q.Set("marker", v.NextMarker)
	return templ.SafeURL(v.Base() + "?" + q.Encode())
}

// Sorting is the list's sort, for its column headers.
func (v InstanceList) Sorting() Sorting {
	return Sorting{Base: v.Base(), Query: v.query(), Key: v.Sort, Asc: v.SortAsc}
}

// RowsURL is where the table body asks for itself again: the same
// filters, sort and version.
func (v InstanceList) RowsURL() string {
	q := v.query()
	q.Set("v", v.Version)
	return v.Base() + "/rows?" + q.Encode()
}

// Choice is an option with a description (a flavor with its size).
type Choice struct {
	ID    string
	Label string
	VCPUs int
	RAMMB int
	Disk  int
}

// QuotaUse is a resource's use against its limit.
type QuotaUse struct {
	Label string // catalogue key
	Key   string
	Used  int
	Limit int // -1 unlimited
}

// Percent is the used share of the limit, 0..100.
func (q QuotaUse) Percent() int {
	if q.Limit <= 0 {
		if q.Limit == 0 && q.Used > 0 {
			return 100
		}
		return 0
	}
	p := q.Used * 100 / q.Limit
	if p > 100 {
		p = 100
	}
	return p
}

// LaunchForm is the launch dialog.
type LaunchForm struct {
	Page
	Form
	Images   []Ref
	Flavors  []Choice
	KeyPairs []Ref
	Groups   []Ref // the project's server groups (name and policy)
	Quotas   []QuotaUse
	// Networks and SecGroups are what the instance may be put on and
	// filtered by; Chosen* what the form had ticked.
	Networks, SecGroups             []Ref
	ChosenNetworks, ChosenSecGroups []string
	// BootFromVolume: the cloud has block storage, so the instance may
	// boot from a new volume copied from the image (boot_source
	// "volume", volume_size, delete_on_termination).
	BootFromVolume bool
}

// Ticked reports whether id is among chosen.
func Ticked(chosen []string, id string) bool {
	for _, c := range chosen {
		if c == id {
			return true
		}
	}
	return false
}

// ActionRow is one entry of an instance's action log.
type ActionRow struct {
	Action    string
	RequestID string
	Started   string
	Result    string
}

// InstanceDetail is an instance's page.
type InstanceDetail struct {
	Page
	Row      InstanceRow
	VMState  string
	KeyName  string
	AZ       string
	Created  string
	Launched string
	Fault    string
	Metadata map[string]string
	Actions  []string // actions valid now: start, stop, reboot, reboot-hard, delete
	Log      []ActionRow
	Tab      string // overview, monitoring, log, console, actions
	// ConsoleReady: the instance runs and has a screen; Console is the
	// console tab's setup then.
	ConsoleReady bool
	Console      ConsoleView
	// CanSnapshot and CanRebuild show those forms; Images are what a
	// rebuild may choose.
	CanSnapshot, CanRebuild bool
	Images                  []Ref
	// CanResize shows the Resize form: the current flavor beside each it
	// may become. VerifyResize shows the banner of a resized instance
	// waiting for confirm or revert (OldFlavor: what revert goes back to).
	CanResize    bool
	Current      Choice
	Resizes      []ResizeChoice
	VerifyResize bool
	OldFlavor    string
	// MetadataRows are the metadata (key, value) by key; Tags the tags.
	MetadataRows [][2]string
	Tags         []string
	// NICs are the instance's network interfaces with their addresses;
	// SecGroups the groups on its ports; FreeFloating the project's
	// unmapped floating IPs and Pools the external networks a new one
	// may come from, for the Associate floating IP form.
	NICs         []NICView
	SecGroups    []string
	FreeFloating []Ref
	Pools        []Ref
	// Monitoring is the Monitoring tab's charts.
	Monitoring Monitoring
	// Snapshot is the image a snapshot (or shelve) of the instance is
	// filling, while it saves: the page shows its bytes and percent.
	Snapshot *ImageRow
	// Volumes is the Volumes section (nil: the cloud has no block storage).
	Volumes *InstanceVolumes
}

// NICView is one network interface of an instance.
type NICView struct {
	PortID, Network, MAC string
	Fixed, Floating      []string
}

// ResizeChoice is a flavor a resize may go to, with the project's cores
// and RAM in use after it (against their limits, -1 unlimited); Over
// says that goes over quota.
type ResizeChoice struct {
	Choice
	CoresAfter, CoresLimit int
	RAMAfter, RAMLimit     int
	Over                   bool
}

// ConsoleLog is the Log tab's body.
type ConsoleLog struct {
	InstanceID string
	Lines      int
	Output     string
	Error      string
	Live       bool  // the instance runs: the page follows the log
	Offset     int64 // the log's length when Output was read: following starts there
}

// ProjectQuota is one project on the admin Quotas page.
type ProjectQuota struct {
	ProjectID string
	Name      string
	Uses      []QuotaUse
}

// QuotaList is Admin > Quotas.
type QuotaList struct {
	Page
	Projects []ProjectQuota
}

// QuotaForm edits a project's limits.
type QuotaForm struct {
	Page
	Form
	ProjectID string
	Uses      []QuotaUse
}

func barColor(percent int) string {
	switch {
	case percent >= 90:
		return "#dc2626"
	case percent >= 70:
		return "#d97706"
	}
	return "#0284c7"
}

// waitingForConsole: the Console tab of an instance without a screen yet.
// The tab keeps asking; once the screen is there the handler tells htmx to
// reload the page, which then mounts the console.
func (v InstanceDetail) waitingForConsole() bool { return v.Tab == "console" && !v.ConsoleReady }

func (v InstanceDetail) waitingParam() string {
	if v.waitingForConsole() {
		return "&waiting=1"
	}
	return ""
}

// quotaAfter is "used / limit" (or "used" when unlimited).
func quotaAfter(used, limit int) string {
	if limit < 0 {
		return strconv.Itoa(used)
	}
	return strconv.Itoa(used) + " / " + strconv.Itoa(limit)
}

// actionClass is an action button's style: the ones that lose data red,
// confirm primary.
func actionClass(a string) string {
	switch a {
	case "delete", "revert-resize":
		return "btn-danger"
	case "confirm-resize":
		return "btn-primary"
	}
	return ""
}

// actionConfirm is the question an action asks first ("" for none).
func actionConfirm(ctx context.Context, a, name string) string {
	key := map[string]string{"delete": "instances.confirm_delete", "shelve-offload": "instances.confirm_offload",
		"revert-resize": "instances.confirm_revert_resize", "migrate": "instances.confirm_migrate"}[a]
	if key == "" {
		return ""
	}
	return t(ctx, key, name)
}

// BulkResult is what one bulk action did to each selected instance.
type BulkResult struct {
	Action string // its name: stop, delete ...
	Rows   []BulkRow
	Images bool // the rows are images (the images list's bulk delete)
}

// Of is the catalogue group the result's heading comes from.
func (v BulkResult) Of() string {
	if v.Images {
		return "images"
	}
	return "instances"
}

// BulkRow is one instance's result; Error is empty when it was accepted.
type BulkRow struct {
	ID, Name, Error string
}

// BulkActions are the actions the list's selection offers.
var BulkActions = []string{"start", "stop", "reboot", "pause", "unpause", "suspend", "resume", "lock", "unlock", "shelve", "delete"}

// taskText is a task state in the page's language ("" when none); one the
// catalogue lacks shows as Nova names it.
func taskText(ctx context.Context, task string) string {
	if task == "" || !i18n.Has("task."+task) {
		return task
	}
	return t(ctx, "task."+task)
}

// LiveKeys are the changes the instance page's live part follows: the
// instance's, and any image's while a snapshot of it saves (its bytes).
func (v InstanceDetail) LiveKeys() string {
	if v.Snapshot != nil {
		return "instance:" + v.Row.ID + " image:" + v.Snapshot.ID
	}
	return "instance:" + v.Row.ID
}
