package portal

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/nimbus-cloud/nimbus/internal/queue"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/volume"
	"github.com/nimbus-cloud/nimbus/views"
)

const instancesPerPage = 20

var listStatuses = []string{"ACTIVE", "BUILD", "SHUTOFF", "REBOOT", "ERROR"}

func (h *Handler) registerInstances(g fiber.Router) {
	g.Get("/instances", h.instanceList)
	g.Get("/instances/rows", h.instanceRows)
	g.Get("/instances/launch", h.launchPage)
	g.Post("/instances", h.launch)
	g.Post("/instances/bulk", h.instanceBulk)
	g.Get("/instances/:id", h.instanceDetail)
	g.Get("/instances/:id/console", h.consolePage)
	g.Post("/instances/:id/console-token", h.consoleToken)
	g.Get("/instances/:id/log", h.consoleLog)
	g.Get("/instances/:id/stats", h.instanceStats)
	g.Get("/instances/:id/log/stream", h.consoleLogStream)
	g.Post("/instances/:id/snapshot", h.instanceSnapshot)
	g.Post("/instances/:id/rebuild", h.instanceRebuild)
	g.Post("/instances/:id/resize", h.instanceResize)
	g.Post("/instances/:id/metadata", h.instanceMetadataSet)
	g.Post("/instances/:id/metadata/:key/delete", h.instanceMetadataDelete)
	g.Post("/instances/:id/tags", h.instanceTagAdd)
	g.Post("/instances/:id/tags/:tag/delete", h.instanceTagDelete)
	g.Post("/instances/:id/:action", h.instanceAction)
}

func powerKey(p model.PowerState) string {
	switch p {
	case model.PowerRunning:
		return "power.running"
	case model.PowerShutdown:
		return "power.shutdown"
	case model.PowerPaused:
		return "power.paused"
	case model.PowerCrashed:
		return "power.crashed"
	case model.PowerSuspend:
		return "power.suspended"
	}
	return "power.nostate"
}

// loggedAction names an action of the action log (Nova's names: create,
// createImage, reboot_hard ...) in the page's language; one the catalogue
// does not know shows as Nova names it.
func loggedAction(ctx context.Context, action string) string {
	if key := "instances.logged." + action; i18n.Has(key) {
		return i18n.T(ctx, key)
	}
	return action
}

// imageNames maps the ids of images the caller can see to their names.
func (h *Handler) imageNames(c *fiber.Ctx) map[string]string {
	out := map[string]string{}
	ims, err := h.images.List(c.UserContext(), api.Token(c), store.ImageFilter{Limit: 1000}, "")
	if err == nil {
		for _, im := range ims {
			out[im.ID] = im.Name
		}
	}
	return out
}

func (h *Handler) row(ctx context.Context, in model.Instance, images map[string]string, showHost bool) views.InstanceRow {
	r := views.InstanceRow{ID: in.ID, Name: in.Name, Status: compute.Status(in.VMState, in.TaskState),
		Task: string(in.TaskState), Power: powerKey(in.PowerState), Flavor: in.FlavorName, Image: images[in.ImageID],
		Age: i18n.Age(ctx, in.CreatedAt), Transition: in.TaskState != model.TaskNone || in.VMState == model.VMBuilding,
		Locked: in.Locked(), BuildStep: string(in.BuildStep), Progress: in.Progress}
	if r.Image == "" {
		r.Image = in.ImageID
	}
	if showHost {
		r.Host = in.Host
	}
	return r
}

// instanceListView loads one page of rows and a version that changes when
// any of them does.
func (h *Handler) instanceListView(c *fiber.Ctx, allProjects bool) (views.InstanceList, error) {
	tok := api.Token(c)
	o := compute.ListOptions{Name: formValueQ(c, "name"), Status: formValueQ(c, "status"), Marker: formValueQ(c, "marker"),
		Limit: instancesPerPage + 1, SortKey: formValueQ(c, "sort"), SortDir: formValueQ(c, "dir")}
	if allProjects {
		o.AllTenants, o.ProjectID = true, formValueQ(c, "project")
	}
	o.Flavor, o.Image = formValueQ(c, "flavor"), formValueQ(c, "image")
	showHost := policy.Allowed(tok, policy.ShowServerHost, policy.Target{})
	if showHost && policy.Allowed(tok, policy.AllServerFilters, policy.Target{}) {
		o.Host = formValueQ(c, "host")
	}
	if !slices.Contains(views.InstanceSortColumns, o.SortKey) {
		o.SortKey, o.SortDir = "", "" // the list's own order; a sort the columns do not offer is ignored
	}
	ins, err := h.compute.List(c.UserContext(), tok, o)
	if err != nil {
		return views.InstanceList{}, err
	}
	v := views.InstanceList{NameFilter: o.Name, Status: o.Status, Statuses: listStatuses, Sort: o.SortKey, SortAsc: o.SortDir == "asc",
		ShowHost: showHost, AllProjects: allProjects, Project: o.ProjectID, Flavor: o.Flavor, Image: o.Image, Host: o.Host}
	names := map[string]string{}
	if allProjects {
		ps, err := h.svc.Projects(c.UserContext(), tok, store.ProjectFilter{})
		if err != nil {
			return v, err
		}
		for _, p := range ps {
			v.Projects = append(v.Projects, views.Ref{ID: p.ID, Name: p.Name})
			names[p.ID] = p.Name
		}
	}
	if len(ins) > instancesPerPage {
		ins = ins[:instancesPerPage]
		v.NextMarker = ins[len(ins)-1].ID
	}
	images := h.imageNames(c)
	sum := sha256.New()
	for _, in := range ins {
		r := h.row(c.UserContext(), in, images, v.ShowHost)
		r.Actions = validActions(tok, in)
		r.Project = names[in.ProjectID]
		v.Rows = append(v.Rows, r)
		fmt.Fprintf(sum, "%s|%s|%d|%s|%s|%d\n", in.ID, in.UpdatedAt.Format(time.RFC3339Nano), in.PowerState, in.VMState, in.TaskState, in.Progress)
	}
	v.Version = hex.EncodeToString(sum.Sum(nil))[:16]
	return v, nil
}

func formValueQ(c *fiber.Ctx, name string) string { return strings.Clone(c.Query(name)) }

func (h *Handler) instanceList(c *fiber.Ctx) error { return h.listPage(c, false) }

// allInstances is Admin > All Instances: every project's, with a project
// column and filter.
func (h *Handler) allInstances(c *fiber.Ctx) error { return h.listPage(c, true) }

func (h *Handler) listPage(c *fiber.Ctx, allProjects bool) error {
	v, err := h.instanceListView(c, allProjects)
	if err != nil {
		return err
	}
	v.Page = h.listPageShell(c, allProjects)
	if err := h.filterChoices(c, &v); err != nil {
		return err
	}
	return render(c, views.InstanceListPage(v))
}

// filterChoices fills the flavors, images and (admins) hosts the list's
// filters offer: the page's, not the rows fragment's, which the stream
// asks for at every change.
func (h *Handler) filterChoices(c *fiber.Ctx, v *views.InstanceList) error {
	ctx, tok := c.UserContext(), api.Token(c)
	fl, err := h.compute.Flavors(ctx, tok, store.FlavorFilter{})
	if err != nil {
		return err
	}
	for _, f := range fl {
		v.Flavors = append(v.Flavors, views.Ref{ID: f.ID, Name: f.Name})
	}
	if v.Images, err = h.activeImages(c); err != nil {
		return err
	}
	if v.ShowHost {
		hs, err := h.compute.Hosts(ctx, tok)
		if err != nil {
			return err
		}
		for _, x := range hs {
			v.Hosts = append(v.Hosts, views.Ref{ID: x.Host, Name: x.Host})
		}
	}
	return nil
}

// listPageShell is the page around either list.
func (h *Handler) listPageShell(c *fiber.Ctx, allProjects bool) views.Page {
	if allProjects {
		return h.page(c, "admin-instances", "instances.all_title")
	}
	return h.page(c, "instances", "instances.title")
}

// instanceRows is asked for by the list when its stream hears of an
// instance change: 204 while none of its rows changed, else the new rows.
func (h *Handler) instanceRows(c *fiber.Ctx) error { return h.rows(c, false) }

func (h *Handler) allInstanceRows(c *fiber.Ctx) error { return h.rows(c, true) }

func (h *Handler) rows(c *fiber.Ctx, allProjects bool) error {
	v, err := h.instanceListView(c, allProjects)
	if err != nil {
		return err
	}
	if c.Query("v") == v.Version {
		return c.SendStatus(fiber.StatusNoContent)
	}
	v.Page = h.listPageShell(c, allProjects) // the rows' action forms carry its CSRF token
	return render(c, views.InstanceRows(v))
}

// quotaUses returns the project's instances, cores and RAM against limits.
func (h *Handler) quotaUses(c *fiber.Ctx, project string, resources ...string) ([]views.QuotaUse, error) {
	qs, err := h.compute.Quotas(c.UserContext(), api.Token(c), project)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, r := range resources {
		want[r] = true
	}
	var out []views.QuotaUse
	for _, q := range qs {
		if (len(resources) == 0 && !q.Legacy) || want[q.Resource] {
			out = append(out, views.QuotaUse{Label: "quota." + q.Resource, Key: q.Resource, Used: q.InUse, Limit: q.Limit})
		}
	}
	if len(resources) == 0 && h.cfg.Network != nil {
		// Every limit: the network ones too (Neutron's quotas).
		nq, err := h.cfg.Network.Quotas(c.UserContext(), api.Token(c), project)
		if err != nil {
			return nil, err
		}
		for _, r := range network.QuotaResources {
			out = append(out, views.QuotaUse{Label: "quota." + r, Key: r, Used: nq[r].Used, Limit: nq[r].Limit})
		}
	}
	vols, err := h.volumeQuotaUses(c, project, resources...)
	return append(out, vols...), err
}

// volumeQuotaUses returns the project's volume limits (Cinder's volumes,
// gigabytes and snapshots) among resources (none: all three) with their
// use; without block storage there are none.
func (h *Handler) volumeQuotaUses(c *fiber.Ctx, project string, resources ...string) ([]views.QuotaUse, error) {
	if h.cfg.Volumes == nil {
		return nil, nil
	}
	var want []string
	for _, r := range volume.QuotaResources {
		if len(resources) == 0 || slices.Contains(resources, r) {
			want = append(want, r)
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	qs, err := h.cfg.Volumes.Quotas(c.UserContext(), api.Token(c), project, false)
	if err != nil {
		return nil, err
	}
	out := make([]views.QuotaUse, 0, len(want))
	for _, r := range want {
		if q, ok := qs[r]; ok {
			out = append(out, views.QuotaUse{Label: "quota." + r, Key: r, Used: q.InUse, Limit: q.Limit})
		}
	}
	return out, nil
}

// activeImages are the images the caller may boot, by name.
func (h *Handler) activeImages(c *fiber.Ctx) ([]views.Ref, error) {
	ims, err := h.images.List(c.UserContext(), api.Token(c), store.ImageFilter{Status: model.ImageActive, Limit: 1000, SortKey: "name"}, "")
	out := make([]views.Ref, 0, len(ims))
	for _, im := range ims {
		out = append(out, views.Ref{ID: im.ID, Name: im.Name})
	}
	return out, err
}

func (h *Handler) launchView(c *fiber.Ctx, f views.Form) (views.LaunchForm, error) {
	ctx, tok := c.UserContext(), api.Token(c)
	v := views.LaunchForm{Page: h.page(c, "instances", "instances.launch_title"), Form: f, BootFromVolume: h.cfg.Volumes != nil}
	ims, err := h.activeImages(c)
	if err != nil {
		return v, err
	}
	v.Images = ims
	fl, err := h.compute.Flavors(ctx, tok, store.FlavorFilter{})
	if err != nil {
		return v, err
	}
	for _, fv := range fl {
		v.Flavors = append(v.Flavors, views.Choice{ID: fv.ID, Label: fv.Name, VCPUs: fv.VCPUs, RAMMB: fv.RAMMB, Disk: fv.DiskGB})
	}
	ks, err := h.compute.KeyPairs(ctx, tok, "")
	if err != nil {
		return v, err
	}
	for _, k := range ks {
		v.KeyPairs = append(v.KeyPairs, views.Ref{ID: k.Name, Name: k.Name})
	}
	gs, err := h.compute.ServerGroups(ctx, tok, false)
	if err != nil {
		return v, err
	}
	for _, g := range gs {
		v.Groups = append(v.Groups, views.Ref{ID: g.ID, Name: g.Name + " (" + i18n.T(ctx, "groups.policy."+g.Policy) + ")"})
	}
	v.Quotas, err = h.quotaUses(c, tok.ProjectID, "instances", "cores", "ram")
	if err != nil || h.cfg.Network == nil {
		return v, err
	}
	nets, err := h.cfg.Network.Networks(ctx, tok)
	if err != nil {
		return v, err
	}
	for _, n := range nets {
		if !n.External && len(n.Subnets) > 0 && (n.ProjectID == tok.ProjectID || n.Shared) {
			v.Networks = append(v.Networks, views.Ref{ID: n.ID, Name: n.Name})
		}
	}
	groups, err := h.cfg.Network.SecurityGroups(ctx, tok)
	if err != nil {
		return v, err
	}
	for _, g := range groups {
		if g.ProjectID == tok.ProjectID {
			v.SecGroups = append(v.SecGroups, views.Ref{ID: g.ID, Name: g.Name})
		}
	}
	v.ChosenNetworks, v.ChosenSecGroups = multiValues(c, "networks"), multiValues(c, "security_groups")
	if c.Method() == fiber.MethodGet {
		// The first time: the only network, and the default group, ticked.
		if len(v.Networks) == 1 {
			v.ChosenNetworks = []string{v.Networks[0].ID}
		}
		v.ChosenSecGroups = []string{"default"}
	}
	return v, nil
}

// multiValues are a form field's values (ticked checkboxes).
func multiValues(c *fiber.Ctx, name string) []string {
	var out []string
	for _, v := range c.Request().PostArgs().PeekMulti(name) {
		out = append(out, string(v))
	}
	return out
}

var launchFields = []string{"name", "image", "flavor", "key_name", "group", "count", "user_data",
	"boot_source", "volume_size", "delete_on_termination"}

// bootVolume reads the launch form's boot source: nil to boot from the
// image (a local disk), or the block device of a new volume copied from
// the image, which the instance boots from. Only one instance at a time
// boots from a new volume; errors go beside their fields.
func (h *Handler) bootVolume(ctx context.Context, f *views.Form, count int) []compute.BlockDevice {
	if h.cfg.Volumes == nil || f.V("boot_source") != "volume" {
		return nil
	}
	size := readWholeNumber(ctx, f, "volume_size", 1, 0, "volumes.error_size")
	if count > 1 {
		f.Errors["count"] = i18n.T(ctx, "instances.boot_volume_one")
	}
	zero := 0
	return []compute.BlockDevice{{SourceType: "image", DestinationType: "volume", UUID: f.V("image"),
		VolumeSize: size, BootIndex: &zero, DeleteOnTermination: f.V("delete_on_termination") == "on"}}
}

func (h *Handler) launchPage(c *fiber.Ctx) error {
	v, err := h.launchView(c, views.Form{Values: map[string]string{"count": "1", "boot_source": "image", "volume_size": "1"},
		Errors: map[string]string{}})
	if err != nil {
		return err
	}
	return render(c, views.LaunchPage(v))
}

// launch creates the instances and goes back to the list, where they
// appear at once and turn ACTIVE live.
func (h *Handler) launch(c *fiber.Ctx) error {
	ctx := c.UserContext()
	f := readForm(c, launchFields...)
	count, err := strconv.Atoi(f.V("count"))
	if err != nil || count < 1 || count > 100 {
		f.Errors["count"] = i18n.T(ctx, "form.invalid")
	}
	for _, req := range []string{"name", "image", "flavor"} {
		if f.V(req) == "" {
			f.Errors[req] = i18n.T(ctx, "form.required")
		}
	}
	bdm := h.bootVolume(ctx, &f, count)
	if len(f.Errors) == 0 {
		var ud string
		if f.V("user_data") != "" {
			ud = base64.StdEncoding.EncodeToString([]byte(f.V("user_data")))
		}
		req := compute.CreateRequest{Name: f.V("name"), ImageRef: f.V("image"),
			FlavorRef: f.V("flavor"), KeyName: f.V("key_name"), UserData: ud, MinCount: count, MaxCount: count,
			Group: f.V("group"), RequestID: api.ReqID(c), SecurityGroups: multiValues(c, "security_groups"),
			BlockDevices: bdm}
		// The networks ticked; none ticked is no network, as asked.
		req.NetworksMode = network.NetworksNone
		for _, id := range multiValues(c, "networks") {
			req.NetworksMode = ""
			req.NICs = append(req.NICs, network.NICRequest{NetworkID: id})
		}
		if h.cfg.Network == nil {
			req.NetworksMode, req.NICs, req.SecurityGroups = "", nil, nil
		}
		_, err = h.compute.Create(ctx, api.Token(c), req)
		var oq *fault.OverQuota
		var val *fault.Validation
		switch {
		case errors.As(err, &oq):
			f.Errors["_form"] = i18n.T(ctx, "instances.over_quota_server", i18n.T(ctx, "quota."+oq.Resource), oq.Used, oq.Limit)
		case errors.As(err, &val):
			field := map[string]string{"imageRef": "image", "flavorRef": "flavor", "key_name": "key_name", "name": "name",
				"user_data": "user_data", "min_count": "count", "group": "group", "networks": "networks",
				"block_device_mapping_v2": "boot_source", "volume_size": "volume_size"}[val.Field]
			if field == "" {
				field = "_form"
			}
			f.Errors[field] = val.Message
		case err != nil:
			return err
		}
	}
	if len(f.Errors) > 0 {
		v, verr := h.launchView(c, f)
		if verr != nil {
			return verr
		}
		c.Status(fiber.StatusUnprocessableEntity)
		return render(c, views.LaunchPage(v))
	}
	h.flash(c, "ok", "instances.launched_flash", count)
	return c.Redirect("/project/instances", fiber.StatusSeeOther)
}

// portalActions are the instance buttons, in the order shown; the name
// is the URL segment (/project/instances/<id>/<name>) and the message key.
// Snapshot and rebuild are forms of their own (instanceSnapshot,
// instanceRebuild).
var portalActions = []struct {
	name string
	act  compute.Action
}{{"start", compute.ActionStart}, {"stop", compute.ActionStop}, {"reboot", compute.ActionReboot},
	{"reboot-hard", compute.ActionRebootHard}, {"pause", compute.ActionPause}, {"unpause", compute.ActionUnpause},
	{"suspend", compute.ActionSuspend}, {"resume", compute.ActionResume}, {"rescue", compute.ActionRescue},
	{"unrescue", compute.ActionUnrescue}, {"shelve", compute.ActionShelve}, {"unshelve", compute.ActionUnshelve},
	{"shelve-offload", compute.ActionOffload}, {"lock", compute.ActionLock}, {"unlock", compute.ActionUnlock},
	{"confirm-resize", compute.ActionConfirm}, {"revert-resize", compute.ActionRevert}, {"migrate", compute.ActionMigrate},
	{"delete", compute.ActionDelete}}

// validActions lists the buttons the lifecycle table allows now: for a
// locked instance, a caller who may not override the lock sees none but
// unlock (and that only if they locked it).
func validActions(tok *model.Token, in model.Instance) []string {
	var out []string
	for _, a := range portalActions {
		if allowedNow(tok, in, a.act) {
			out = append(out, a.name)
		}
	}
	return out
}

// allowedNow says whether the caller may ask a of in now: the lifecycle
// table, the lock and the policy agree.
func allowedNow(tok *model.Token, in model.Instance, a compute.Action) bool {
	if _, err := compute.Begin(a, in.VMState, in.TaskState); err != nil {
		return false
	}
	override := policy.Allowed(tok, policy.OverrideLock, policy.Target{ProjectID: in.ProjectID})
	switch {
	case a == compute.ActionDelete && in.TaskState == model.TaskDeleting,
		a == compute.ActionLock && in.Locked(), a == compute.ActionUnlock && !in.Locked():
		return false
	case a == compute.ActionOffload && !policy.Allowed(tok, policy.ShelveOffload, policy.Target{ProjectID: in.ProjectID}),
		a == compute.ActionMigrate && !policy.Allowed(tok, policy.MigrateServer, policy.Target{ProjectID: in.ProjectID}):
		return false
	case in.Locked() && !override && (a != compute.ActionUnlock || in.LockedByUser != tok.UserID):
		return false
	}
	return true
}

func (h *Handler) instanceDetail(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	in, err := h.compute.Get(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	acts, err := h.compute.Actions(ctx, tok, in.ID, false)
	if err != nil {
		return err
	}
	showHost := policy.Allowed(tok, policy.ShowServerHost, policy.Target{})
	v := views.InstanceDetail{Page: h.page(c, "instances", "instances.detail_title", in.Name),
		Row: h.row(c.UserContext(), in, h.imageNames(c), showHost), VMState: string(in.VMState), KeyName: in.KeyName,
		AZ: in.AvailabilityZone, Created: i18n.Time(c.UserContext(), in.CreatedAt),
		Metadata: in.Metadata, Actions: validActions(tok, in), Tab: detailTab(c.Query("tab")),
		CanSnapshot: allowedNow(tok, in, compute.ActionSnapshot), CanRebuild: allowedNow(tok, in, compute.ActionRebuild),
		ConsoleReady: consoleReady(in)}
	v.Snapshot = h.snapshotSaving(c, in)
	if v.Tab == "monitoring" {
		if v.Monitoring, err = h.monitoring(c, in); err != nil {
			return err
		}
	}
	if v.Tab == "console" && v.ConsoleReady {
		v.Console = views.ConsoleView{TokenURL: "/project/instances/" + in.ID + "/console-token", CSRF: v.CSRF,
			FullPage: "/project/instances/" + in.ID + "/console"}
	}
	if v.Tab == "console" && v.ConsoleReady && c.Query("waiting") == "1" && c.Get("HX-Request") == "true" {
		c.Set("HX-Refresh", "true") // the screen is there now: reload to mount the console
	}
	if v.CanRebuild {
		if v.Images, err = h.activeImages(c); err != nil {
			return err
		}
	}
	if allowedNow(tok, in, compute.ActionResize) {
		if err := h.resizeChoices(c, in, &v); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(in.Metadata)) {
		v.MetadataRows = append(v.MetadataRows, [2]string{k, in.Metadata[k]})
	}
	v.Tags = in.Tags
	if err := h.instanceNetworks(c, in, &v); err != nil {
		return err
	}
	if h.cfg.Volumes != nil {
		if v.Volumes, err = h.instanceVolumes(c, in); err != nil {
			return err
		}
	}
	if in.VMState == model.VMResized && in.TaskState == model.TaskNone {
		v.VerifyResize = true
		if m, err := h.compute.OpenMigration(ctx, tok, in.ID); err == nil {
			v.OldFlavor = m.OldFlavor.Name
		}
	}
	if in.LaunchedAt != nil {
		v.Launched = i18n.Time(c.UserContext(), *in.LaunchedAt)
	}
	if in.Fault != nil {
		v.Fault = in.Fault.Message
	}
	// Newest first, ordered by time before it is written in the
	// language's words (a Chinese date does not sort as text).
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].StartTime.After(acts[j].StartTime) })
	for _, a := range acts {
		res := i18n.T(ctx, "instances.log_ok")
		if a.Message != "" {
			res = a.Message
		}
		v.Log = append(v.Log, views.ActionRow{Action: loggedAction(ctx, a.Action), RequestID: a.RequestID,
			Started: i18n.Time(c.UserContext(), a.StartTime), Result: res})
	}
	return render(c, views.InstanceDetailPage(v))
}

func (h *Handler) instanceAction(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	var act compute.Action
	for _, a := range portalActions {
		if a.name == c.Params("action") {
			act = a.act
		}
	}
	if act == "" {
		return fiber.ErrNotFound
	}
	ctx, tok := c.UserContext(), api.Token(c)
	var err error
	switch act {
	case compute.ActionRescue:
		var pass string
		if pass, err = h.compute.Rescue(ctx, tok, id, "", "", api.ReqID(c)); err == nil {
			h.flash(c, "ok", "instances.rescue_flash", pass)
		}
	default:
		err = h.actOn(ctx, tok, id, act, api.ReqID(c))
	}
	if err != nil {
		return h.actionRefused(c, id, err)
	}
	if act == compute.ActionDelete {
		h.flash(c, "ok", "instances.deleting_flash")
		return c.Redirect("/project/instances", fiber.StatusSeeOther)
	}
	if fromList(c.Get(fiber.HeaderReferer)) {
		return c.Redirect("/project/instances", fiber.StatusSeeOther) // a row menu's action: back to the list
	}
	return c.Redirect("/project/instances/"+id+tabOf(c.Get(fiber.HeaderReferer), id), fiber.StatusSeeOther)
}

// fromList says whether the referring page was the instance list.
func fromList(referer string) bool {
	u, err := url.Parse(referer)
	return err == nil && u.Path == "/project/instances"
}

// actionRefused shows a refused action on the instance's page: a state
// that no longer allows it (409) or a quota (403) as a flash, anything
// else as an error page.
func (h *Handler) actionRefused(c *fiber.Ctx, id string, err error) error {
	var over *fault.OverQuota
	switch {
	case errors.Is(err, fault.ErrConflict):
		h.flash(c, "error", "error.409.message")
	case errors.As(err, &over):
		h.flash(c, "error", "instances.over_quota_server", over.Resource, over.Used, over.Limit)
	default:
		return err
	}
	return c.Redirect("/project/instances/"+id, fiber.StatusSeeOther)
}

// instanceSnapshot is the Create Snapshot form: the image appears in
// Images at once and becomes active when the host has sent it.
func (h *Handler) instanceSnapshot(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	name := strings.TrimSpace(c.FormValue("name"))
	im, err := h.compute.Snapshot(c.UserContext(), api.Token(c), id, compute.SnapshotRequest{Name: name, RequestID: api.ReqID(c)})
	if err != nil {
		var v *fault.Validation
		if errors.As(err, &v) {
			h.flash(c, "error", "instances.snapshot_invalid")
			return c.Redirect("/project/instances/"+id, fiber.StatusSeeOther)
		}
		return h.actionRefused(c, id, err)
	}
	h.flash(c, "ok", "instances.snapshot_flash", im.Name)
	return c.Redirect("/project/instances/"+id, fiber.StatusSeeOther)
}

// instanceRebuild is the Rebuild form: a fresh disk from the chosen image.
func (h *Handler) instanceRebuild(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	if _, err := h.compute.Rebuild(c.UserContext(), api.Token(c), id,
		compute.RebuildRequest{ImageRef: c.FormValue("image"), RequestID: api.ReqID(c)}); err != nil {
		var v *fault.Validation
		if errors.As(err, &v) {
			h.flash(c, "error", "instances.rebuild_invalid")
			return c.Redirect("/project/instances/"+id, fiber.StatusSeeOther)
		}
		return h.actionRefused(c, id, err)
	}
	h.flash(c, "ok", "instances.rebuild_flash")
	return c.Redirect("/project/instances/"+id, fiber.StatusSeeOther)
}

// labelChanged ends a metadata or tag change: refusals a user can fix
// (a bad key, the metadata_items quota, a locked or busy instance) are
// shown as a flash on the instance's page.
func (h *Handler) labelChanged(c *fiber.Ctx, id string, err error, okKey string) error {
	var v *fault.Validation
	var over *fault.OverQuota
	switch {
	case err == nil:
		h.flash(c, "ok", okKey)
	case errors.As(err, &v), errors.As(err, &over), errors.Is(err, fault.ErrConflict):
		h.flash(c, "error", "instances.label_refused", err.Error())
	default:
		return err
	}
	return c.Redirect("/project/instances/"+id, fiber.StatusSeeOther)
}

func (h *Handler) instanceMetadataSet(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	err := h.compute.SetMetadataItem(c.UserContext(), api.Token(c), id, strings.TrimSpace(c.FormValue("key")), c.FormValue("value"))
	return h.labelChanged(c, id, err, "instances.metadata_flash")
}

func (h *Handler) instanceMetadataDelete(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	key, err := url.PathUnescape(api.Param(c, "key"))
	if err != nil {
		return fault.ErrNotFound
	}
	err = h.compute.DeleteMetadataItem(c.UserContext(), api.Token(c), id, key)
	return h.labelChanged(c, id, err, "instances.metadata_flash")
}

func (h *Handler) instanceTagAdd(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	_, err := h.compute.AddTag(c.UserContext(), api.Token(c), id, strings.TrimSpace(c.FormValue("tag")))
	return h.labelChanged(c, id, err, "instances.tags_flash")
}

func (h *Handler) instanceTagDelete(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	tag, err := url.PathUnescape(api.Param(c, "tag"))
	if err != nil {
		return fault.ErrNotFound
	}
	err = h.compute.DeleteTag(c.UserContext(), api.Token(c), id, tag)
	return h.labelChanged(c, id, err, "instances.tags_flash")
}

// resizeChoices fills the Resize form: every flavor the instance may
// become (not its own, no smaller disk), what each adds to the project's
// cores and RAM, and whether that goes over quota.
func (h *Handler) resizeChoices(c *fiber.Ctx, in model.Instance, v *views.InstanceDetail) error {
	ctx, tok := c.UserContext(), api.Token(c)
	fl, err := h.compute.Flavors(ctx, tok, store.FlavorFilter{})
	if err != nil {
		return err
	}
	quotas, err := h.quotaUses(c, in.ProjectID, "cores", "ram")
	if err != nil {
		return err
	}
	use := map[string]views.QuotaUse{}
	for _, q := range quotas {
		use[q.Key] = q
	}
	v.CanResize = true
	v.Current = views.Choice{ID: in.FlavorID, Label: in.FlavorName, VCPUs: in.VCPUs, RAMMB: in.MemoryMB, Disk: in.RootGB}
	for _, f := range fl {
		if f.ID == in.FlavorID || f.DiskGB < in.RootGB {
			continue
		}
		r := views.ResizeChoice{Choice: views.Choice{ID: f.ID, Label: f.Name, VCPUs: f.VCPUs, RAMMB: f.RAMMB, Disk: f.DiskGB},
			CoresAfter: use["cores"].Used + f.VCPUs - in.VCPUs, RAMAfter: use["ram"].Used + f.RAMMB - in.MemoryMB,
			CoresLimit: use["cores"].Limit, RAMLimit: use["ram"].Limit}
		r.Over = (r.CoresLimit >= 0 && f.VCPUs > in.VCPUs && r.CoresAfter > r.CoresLimit) ||
			(r.RAMLimit >= 0 && f.RAMMB > in.MemoryMB && r.RAMAfter > r.RAMLimit)
		v.Resizes = append(v.Resizes, r)
	}
	return nil
}

// instanceResize is the Resize form.
func (h *Handler) instanceResize(c *fiber.Ctx) error {
	id := api.Param(c, "id")
	if err := h.compute.Resize(c.UserContext(), api.Token(c), id, c.FormValue("flavor"), api.ReqID(c)); err != nil {
		var v *fault.Validation
		if errors.As(err, &v) {
			h.flash(c, "error", "instances.resize_invalid")
			return c.Redirect("/project/instances/"+id, fiber.StatusSeeOther)
		}
		return h.actionRefused(c, id, err)
	}
	in, err := h.compute.Get(c.UserContext(), api.Token(c), id)
	if err == nil {
		h.flash(c, "ok", "instances.resize_flash", in.Name)
	}
	return c.Redirect("/project/instances/"+id, fiber.StatusSeeOther)
}

// tabOf keeps the tab an action was pressed on: "?tab=console" when the
// referring page was that instance's Console tab, "" otherwise.
func tabOf(referer, id string) string {
	u, err := url.Parse(referer)
	if err != nil || u.Path != "/project/instances/"+id {
		return ""
	}
	if tab := detailTab(u.Query().Get("tab")); tab != "overview" {
		return "?tab=" + tab
	}
	return ""
}

// snapshotSaving is the image a snapshot (or shelve) of in is filling,
// while its data arrives; nil otherwise.
func (h *Handler) snapshotSaving(c *fiber.Ctx, in model.Instance) *views.ImageRow {
	if in.TaskState != model.TaskImagePendingUpload && in.TaskState != model.TaskImageUploading {
		return nil
	}
	var j queue.Job
	if json.Unmarshal(in.TaskJob, &j) != nil || j.ImageID() == "" {
		return nil
	}
	im, err := h.images.Get(c.UserContext(), api.Token(c), j.ImageID())
	if err != nil || im.Status != model.ImageSaving {
		return nil
	}
	return &views.ImageRow{ID: im.ID, Name: im.Name, Received: im.UploadReceived, Total: im.UploadTotal}
}
