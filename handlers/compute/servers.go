package compute

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

const isoTS = "2006-01-02T15:04:05Z"

func ts(t time.Time) string { return t.UTC().Format(isoTS) }

func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(novaTS)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// hostID is Nova's opaque per-project host id: sha224(project + host).
func hostID(projectID, host string) string {
	if host == "" {
		return ""
	}
	sum := sha256.Sum224([]byte(projectID + host))
	return hex.EncodeToString(sum[:])
}

// jsonNull is an explicit null for fields a microversion shows as null.
var jsonNull = json.RawMessage("null")

type linkJSON struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

type refJSON struct {
	ID    string     `json:"id"`
	Links []linkJSON `json:"links"`
}

// serverJSON is Nova's server. It is a struct, not a map: a 1,000-server
// detail list spent most of its time building and encoding maps. Fields
// typed any with omitempty are present only for some microversions or
// for admins; json.RawMessage("null") makes them present as null.
type serverJSON struct {
	ID           string                   `json:"id"`
	Name         string                   `json:"name"`
	Status       string                   `json:"status"`
	TenantID     string                   `json:"tenant_id"`
	UserID       string                   `json:"user_id"`
	Metadata     map[string]string        `json:"metadata"`
	HostID       string                   `json:"hostId"`
	Image        any                      `json:"image"` // a refJSON, or "" for a server booted from a volume
	Flavor       any                      `json:"flavor"`
	Created      string                   `json:"created"`
	Updated      string                   `json:"updated"`
	Addresses    map[string][]addressJSON `json:"addresses"`
	AccessIPv4   string                   `json:"accessIPv4"`
	AccessIPv6   string                   `json:"accessIPv6"`
	Links        []linkJSON               `json:"links"`
	KeyName      *string                  `json:"key_name"`
	ConfigDrive  string                   `json:"config_drive"`
	Progress     any                      `json:"progress,omitempty"` // only while ACTIVE or BUILD, as Nova
	DiskConfig   string                   `json:"OS-DCF:diskConfig"`
	VMState      string                   `json:"OS-EXT-STS:vm_state"`
	TaskState    *string                  `json:"OS-EXT-STS:task_state"`
	PowerState   int                      `json:"OS-EXT-STS:power_state"`
	AZ           string                   `json:"OS-EXT-AZ:availability_zone"`
	LaunchedAt   *string                  `json:"OS-SRV-USG:launched_at"`
	TerminatedAt *string                  `json:"OS-SRV-USG:terminated_at"`
	Volumes      []attachedJSON           `json:"os-extended-volumes:volumes_attached"`
	Locked       any                      `json:"locked,omitempty"`
	Description  any                      `json:"description,omitempty"`
	Tags         any                      `json:"tags,omitempty"`
	Host         any                      `json:"OS-EXT-SRV-ATTR:host,omitempty"`
	HypervisorHN any                      `json:"OS-EXT-SRV-ATTR:hypervisor_hostname,omitempty"`
	InstanceName any                      `json:"OS-EXT-SRV-ATTR:instance_name,omitempty"`
	Reservation  any                      `json:"OS-EXT-SRV-ATTR:reservation_id,omitempty"`
	LaunchIndex  any                      `json:"OS-EXT-SRV-ATTR:launch_index,omitempty"`
	Hostname     any                      `json:"OS-EXT-SRV-ATTR:hostname,omitempty"`
	KernelID     any                      `json:"OS-EXT-SRV-ATTR:kernel_id,omitempty"`
	RamdiskID    any                      `json:"OS-EXT-SRV-ATTR:ramdisk_id,omitempty"`
	RootDevice   any                      `json:"OS-EXT-SRV-ATTR:root_device_name,omitempty"`
	UserData     any                      `json:"OS-EXT-SRV-ATTR:user_data,omitempty"`
	Fault        any                      `json:"fault,omitempty"`
	// SecurityGroups are the groups of the server's ports, by name.
	SecurityGroups []nameJSON `json:"security_groups,omitempty"`
}

// imageRef is a server's image, "" when it has none (it boots from a
// volume), as Nova shows it.
func imageRef(publicURL, id string) any {
	if id == "" {
		return ""
	}
	return refJSON{ID: id, Links: []linkJSON{{"bookmark", publicURL + "/compute/images/" + id}}}
}

// attachedJSON is one of a server's volumes (delete_on_termination from 2.3).
type attachedJSON struct {
	ID                  string `json:"id"`
	DeleteOnTermination *bool  `json:"delete_on_termination,omitempty"`
}

func attached(c *fiber.Ctx, in model.Instance) []attachedJSON {
	out := make([]attachedJSON, len(in.Volumes))
	for i, v := range in.Volumes {
		out[i].ID = v.VolumeID
		if version(c).AtLeast(2, 3) {
			d := v.DeleteOnTermination
			out[i].DeleteOnTermination = &d
		}
	}
	return out
}

type nameJSON struct {
	Name string `json:"name"`
}

// addressJSON is one of a server's addresses, per network.
type addressJSON struct {
	Addr    string `json:"addr"`
	Version int    `json:"version"`
	Type    string `json:"OS-EXT-IPS:type"`
	MAC     string `json:"OS-EXT-IPS-MAC:mac_addr"`
}

// addresses are a server's addresses by network name, from its network
// info (fixed and floating, as Nova's extended IPs show them).
func addresses(in model.Instance) map[string][]addressJSON {
	out := map[string][]addressJSON{}
	for _, n := range in.NICs {
		for _, ip := range n.IPs {
			out[n.NetworkName] = append(out[n.NetworkName], addressJSON{Addr: ip.Address, Version: ip.Version, Type: ip.Type, MAC: n.MAC})
		}
	}
	return out
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func tsStr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(novaTS)
	return &s
}

// orNull is v, or an explicit null when v is empty.
func orNull(v string) any {
	if v == "" {
		return jsonNull
	}
	return v
}

// serverView renders an instance as Nova's server, for the microversion
// asked. Host details and fault details are for admins only.
func (h *Handler) serverView(c *fiber.Ctx, in model.Instance) serverJSON {
	v := version(c)
	tok := api.Token(c)
	md := in.Metadata
	if md == nil {
		md = map[string]string{}
	}
	m := serverJSON{
		ID: in.ID, Name: in.Name, Status: compute.Status(in.VMState, in.TaskState),
		TenantID: in.ProjectID, UserID: in.UserID, Metadata: md, HostID: hostID(in.ProjectID, in.Host),
		Image:   imageRef(h.publicURL, in.ImageID),
		Created: ts(in.CreatedAt), Updated: ts(in.UpdatedAt), Links: h.serverLinkList(in.ID), KeyName: strPtr(in.KeyName),
		ConfigDrive: "True", DiskConfig: "MANUAL", VMState: string(in.VMState), TaskState: strPtr(string(in.TaskState)),
		PowerState: int(in.PowerState), AZ: in.AvailabilityZone, LaunchedAt: tsStr(in.LaunchedAt),
		TerminatedAt: tsStr(in.TerminatedAt), Volumes: attached(c, in), Addresses: addresses(in),
		SecurityGroups: serverGroups(in),
	}
	if m.AZ == "" {
		m.AZ = "nova"
	}
	if m.Status == "BUILD" || m.Status == "ACTIVE" {
		// 0, as Nova's libvirt driver says of a build: the portal shows
		// its steps, the API does not. `openstack server create --wait`
		// writes a non-zero progress to stdout ("Progress: 85"), before
		// the server it prints, and -f json output stops being JSON (it
		// broke our own CLI tests, and would break users' scripts).
		m.Progress = 0
	}
	if v.AtLeast(2, 47) {
		m.Flavor = fiber.Map{"vcpus": in.VCPUs, "ram": in.MemoryMB, "disk": in.RootGB, "ephemeral": 0, "swap": 0,
			"original_name": in.FlavorName}
	} else {
		m.Flavor = refJSON{ID: in.FlavorID, Links: []linkJSON{{"bookmark", h.publicURL + "/compute/flavors/" + in.FlavorID}}}
	}
	if v.AtLeast(2, 9) {
		m.Locked = in.Locked()
	}
	if v.AtLeast(2, 19) {
		m.Description = jsonNull
	}
	if v.AtLeast(2, 26) {
		if m.Tags = in.Tags; in.Tags == nil {
			m.Tags = []string{}
		}
	}
	if policy.Allowed(tok, policy.ShowServerHost, policy.Target{}) {
		m.Host, m.HypervisorHN, m.InstanceName = orNull(in.Host), orNull(in.Host), "nimbus-"+in.ID
		if v.AtLeast(2, 3) {
			m.Reservation, m.LaunchIndex, m.Hostname = in.ReservationID, in.LaunchIndex, in.Name
			m.KernelID, m.RamdiskID, m.RootDevice, m.UserData = "", "", "/dev/vda", orNull(in.UserData)
		}
	}
	if in.Fault != nil && (in.VMState == model.VMError || in.VMState == model.VMDeleted) {
		f := fiber.Map{"code": in.Fault.Code, "message": in.Fault.Message, "created": ts(in.Fault.Created)}
		if policy.Allowed(tok, policy.ShowFaultDetails, policy.Target{}) && in.Fault.Details != "" {
			f["details"] = in.Fault.Details
		}
		m.Fault = f
	}
	return m
}

func (h *Handler) serverLinkList(id string) []linkJSON {
	return []linkJSON{
		{"self", h.publicURL + "/compute/v2.1/servers/" + id},
		{"bookmark", h.publicURL + "/compute/servers/" + id},
	}
}

type createBody struct {
	Server *struct {
		Name      *string           `json:"name"`
		FlavorRef json.RawMessage   `json:"flavorRef"`
		ImageRef  *string           `json:"imageRef"`
		KeyName   string            `json:"key_name"`
		UserData  string            `json:"user_data"`
		Metadata  map[string]string `json:"metadata"`
		AZ        string            `json:"availability_zone"`
		MinCount  json.RawMessage   `json:"min_count"`
		MaxCount  json.RawMessage   `json:"max_count"`
		Networks  json.RawMessage   `json:"networks"`
		Groups    []struct {
			Name string `json:"name"`
		} `json:"security_groups"`
		ReturnRes bool      `json:"return_reservation_id"`
		Tags      *[]string `json:"tags"` // 2.52
		BDM       []bdmJSON `json:"block_device_mapping_v2"`
		// Fields a user must not set: refused rather than silently taken.
		ProjectID *json.RawMessage `json:"project_id"`
		TenantID  *json.RawMessage `json:"tenant_id"`
		UserID    *json.RawMessage `json:"user_id"`
		Host      *json.RawMessage `json:"host"`
		Status    *json.RawMessage `json:"status"`
		VMState   *json.RawMessage `json:"OS-EXT-STS:vm_state"`
		TaskState *json.RawMessage `json:"OS-EXT-STS:task_state"`
	} `json:"server"`
	// Hints are scheduler hints; group names the server group to join.
	Hints *struct {
		Group json.RawMessage `json:"group"`
	} `json:"os:scheduler_hints"`
}

// bdmJSON is one entry of block_device_mapping_v2.
type bdmJSON struct {
	SourceType          string          `json:"source_type"`
	DestinationType     string          `json:"destination_type"`
	UUID                string          `json:"uuid"`
	VolumeSize          json.RawMessage `json:"volume_size"`
	BootIndex           json.RawMessage `json:"boot_index"`
	DeleteOnTermination json.RawMessage `json:"delete_on_termination"`
	DeviceName          string          `json:"device_name"`
}

// blockDevices reads block_device_mapping_v2 (numbers and booleans may
// come as strings, as Nova's schema takes them).
func blockDevices(in []bdmJSON) ([]compute.BlockDevice, error) {
	var out []compute.BlockDevice
	for _, b := range in {
		size, err := intField(b.VolumeSize, "volume_size")
		if err != nil {
			return nil, err
		}
		d := compute.BlockDevice{SourceType: b.SourceType, DestinationType: b.DestinationType, UUID: b.UUID, VolumeSize: size}
		if raw := string(b.BootIndex); raw != "" && raw != "null" && raw != `"none"` && raw != `"None"` {
			n, err := intField(b.BootIndex, "boot_index")
			if err != nil {
				return nil, err
			}
			d.BootIndex = &n
		}
		switch strings.Trim(strings.ToLower(string(b.DeleteOnTermination)), `"`) {
		case "", "null", "false", "0", "no", "off":
		case "true", "1", "yes", "on":
			d.DeleteOnTermination = true
		default:
			return nil, fault.Invalid("delete_on_termination", "Invalid input for field/attribute delete_on_termination.")
		}
		out = append(out, d)
	}
	return out, nil
}

// groupHint reads the group scheduler hint: a string, or (as the CLI may
// send it) a list of one.
func (b createBody) groupHint() (string, error) {
	if b.Hints == nil || len(b.Hints.Group) == 0 {
		return "", nil
	}
	var g string
	if json.Unmarshal(b.Hints.Group, &g) == nil {
		return g, nil
	}
	var gs []string
	if json.Unmarshal(b.Hints.Group, &gs) == nil && len(gs) == 1 {
		return gs[0], nil
	}
	return "", fault.Invalid("group", "Invalid input for field/attribute group: a server group id is required.")
}

// intField reads Nova's count fields, which may be numbers or strings.
func intField(raw json.RawMessage, field string) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if n, err := strconv.Atoi(s); err == nil {
			return n, nil
		}
	}
	return 0, fault.Invalid(field, "Invalid input for field/attribute %s.", field)
}

func (h *Handler) createServer(c *fiber.Ctx) error {
	var b createBody
	if err := decode(c, &b); err != nil {
		return err
	}
	s := b.Server
	if s == nil {
		return fault.Invalid("server", "Invalid input for field/attribute server. 'server' is a required property")
	}
	for name, f := range map[string]*json.RawMessage{"project_id": s.ProjectID, "tenant_id": s.TenantID, "user_id": s.UserID,
		"host": s.Host, "status": s.Status, "OS-EXT-STS:vm_state": s.VMState, "OS-EXT-STS:task_state": s.TaskState} {
		if f != nil {
			return fault.Invalid(name, "Additional properties are not allowed ('%s' was unexpected)", name)
		}
	}
	if s.Name == nil {
		return fault.Invalid("name", "Invalid input for field/attribute server. 'name' is a required property")
	}
	var flavor string
	if err := json.Unmarshal(s.FlavorRef, &flavor); err != nil {
		var n int
		if err := json.Unmarshal(s.FlavorRef, &n); err != nil {
			return fault.Invalid("flavorRef", "Invalid input for field/attribute flavorRef.")
		}
		flavor = strconv.Itoa(n)
	}
	netMode, nics, err := parseNetworks(s.Networks)
	if err != nil {
		return err
	}
	minC, err := intField(s.MinCount, "min_count")
	if err != nil {
		return err
	}
	maxC, err := intField(s.MaxCount, "max_count")
	if err != nil {
		return err
	}
	// Nova's schema: both at least 1 when given (absent means 1 and min).
	for _, f := range []struct {
		raw   json.RawMessage
		field string
		n     int
	}{{s.MinCount, "min_count", minC}, {s.MaxCount, "max_count", maxC}} {
		if len(f.raw) > 0 && f.n < 1 {
			return fault.Invalid(f.field, "Invalid input for field/attribute %s. Value: %s. %s is less than the minimum of 1", f.field, f.raw, f.raw)
		}
	}
	image := ""
	if s.ImageRef != nil {
		image = *s.ImageRef
	}
	var tags []string
	if s.Tags != nil {
		if !version(c).AtLeast(2, 52) {
			return fault.Invalid("tags", "Additional properties are not allowed ('tags' was unexpected)")
		}
		tags = *s.Tags
	}
	group, err := b.groupHint()
	if err != nil {
		return err
	}
	bdms, err := blockDevices(s.BDM)
	if err != nil {
		return err
	}
	ins, err := h.svc.Create(c.UserContext(), api.Token(c), compute.CreateRequest{
		Name: *s.Name, FlavorRef: flavor, ImageRef: image, KeyName: s.KeyName, UserData: s.UserData,
		Metadata: s.Metadata, Tags: tags, AZ: s.AZ, MinCount: minC, MaxCount: maxC, RequestID: api.ReqID(c),
		Group: group, NetworksMode: netMode, NICs: nics, SecurityGroups: groupNames(s.Groups), BlockDevices: bdms,
	})
	if err != nil {
		return err
	}
	if s.ReturnRes {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"reservation_id": ins[0].ReservationID})
	}
	c.Location(h.publicURL + "/compute/v2.1/servers/" + ins[0].ID)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"server": fiber.Map{
		"id": ins[0].ID, "links": h.serverLinkList(ins[0].ID), "OS-DCF:diskConfig": "MANUAL",
		"security_groups": []fiber.Map{{"name": "default"}},
	}})
}

// truthy reads a boolean query parameter as Nova does.
func truthy(v string) bool {
	v = strings.ToLower(v)
	return v != "" && v != "0" && v != "false" && v != "no" && v != "off"
}

// changesSinceLayouts are the ISO 8601 forms Nova's changes-since takes;
// the ones without a zone are UTC.
var changesSinceLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02"}

// parseChangesSince reads an ISO 8601 time. A '+' sent unencoded in a
// query arrives as a space; it is read back as the zone's sign.
func parseChangesSince(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, s := range []string{v, strings.Replace(v, " ", "+", 1)} {
		for _, layout := range changesSinceLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
	}
	return time.Time{}, fault.Invalid("changes-since", "Invalid input for query parameters changes-since. Value: %s. %s is not a 'date-time'", v, v)
}

func (h *Handler) listServers(detail bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		o := compute.ListOptions{Name: strings.Clone(c.Query("name")), Status: strings.Clone(c.Query("status")),
			Marker: strings.Clone(c.Query("marker")), Host: strings.Clone(c.Query("host")),
			Image: strings.Clone(c.Query("image")), Flavor: strings.Clone(c.Query("flavor")), IP: strings.Clone(c.Query("ip")),
			Deleted: truthy(c.Query("deleted")), SortKey: strings.Clone(c.Query("sort_key")), SortDir: strings.Clone(c.Query("sort_dir"))}
		tagFilters(c, &o)
		// all_tenants given with no value ("?all_tenants") counts as true,
		// as in Nova.
		if c.Context().QueryArgs().Has("all_tenants") {
			o.AllTenants = c.Query("all_tenants") == "" || truthy(c.Query("all_tenants"))
		}
		if p := c.Query("project_id", c.Query("tenant_id")); p != "" && o.AllTenants {
			o.ProjectID = strings.Clone(p)
		}
		if v := c.Query("changes-since", c.Query("changes_since")); v != "" {
			t, err := parseChangesSince(v)
			if err != nil {
				return err
			}
			o.ChangesSince = &t
		}
		limit := 1000
		if v := c.Query("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fault.Invalid("limit", "Invalid input for query parameters limit.")
			}
			limit = min(n, 1000)
		}
		if limit == 0 { // Nova answers an empty page
			return c.JSON(fiber.Map{"servers": []any{}})
		}
		o.Limit = limit
		// The next page's link keeps every filter of this request,
		// encoded, with the last server as its marker.
		q := url.Values{}
		c.Context().QueryArgs().VisitAll(func(k, v []byte) {
			if key := string(k); key != "marker" && key != "limit" {
				q.Add(key, string(v))
			}
		})
		next := func(lastID string) []fiber.Map {
			path := "/compute/v2.1/servers"
			if detail {
				path += "/detail"
			}
			nq := url.Values{"limit": {strconv.Itoa(limit)}, "marker": {lastID}}
			for k, vs := range q {
				nq[k] = vs
			}
			return []fiber.Map{{"rel": "next", "href": h.publicURL + path + "?" + nq.Encode()}}
		}
		if detail {
			return h.listDetail(c, o, limit, next)
		}
		ins, err := h.svc.List(c.UserContext(), api.Token(c), o)
		if err != nil {
			return err
		}
		out := make([]any, len(ins))
		for i, in := range ins {
			out[i] = fiber.Map{"id": in.ID, "name": in.Name, "links": h.serverLinkList(in.ID)}
		}
		body := fiber.Map{"servers": out}
		if limit > 0 && len(ins) == limit {
			body["servers_links"] = next(ins[len(ins)-1].ID)
		}
		return c.JSON(body)
	}
}

// listDetail answers /servers/detail from the rendered-server cache: only
// instances changed since they were last rendered are read and encoded.
func (h *Handler) listDetail(c *fiber.Ctx, o compute.ListOptions, limit int, next func(string) []fiber.Map) error {
	variant := renderVariant(c)
	keys, fresh, err := h.svc.ListChanged(c.UserContext(), api.Token(c), o, func(k store.InstanceKey) bool {
		_, ok := h.rendered.get(renderKey(k, variant))
		return ok
	})
	if err != nil {
		return err
	}
	enc := c.App().Config().JSONEncoder
	buf := make([]byte, 0, 64+len(keys)*1200)
	buf = append(buf, `{"servers":[`...)
	n := 0
	for _, k := range keys {
		key := renderKey(k, variant)
		b, ok := h.rendered.get(key)
		if !ok {
			in, found := fresh[k.ID]
			if !found {
				continue // deleted between the two reads
			}
			if b, err = enc(h.serverView(c, in)); err != nil {
				return err
			}
			if in.UpdatedAt.Equal(k.UpdatedAt) { // changed between the reads: show, do not keep
				h.rendered.put(key, b)
			}
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
		n++
	}
	buf = append(buf, ']')
	if limit > 0 && len(keys) == limit {
		links, err := enc(next(keys[len(keys)-1].ID))
		if err != nil {
			return err
		}
		buf = append(buf, `,"servers_links":`...)
		buf = append(buf, links...)
	}
	buf = append(buf, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(buf)
}

func (h *Handler) showServer(c *fiber.Ctx) error {
	in, err := h.svc.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"server": h.serverView(c, in)})
}

// updatedView is the server PUT /servers/{id} answers: Nova leaves out
// the extended attributes there (availability zone, config drive, host
// attributes, key name, usage, extended status and volumes).
func updatedView(v serverJSON) fiber.Map {
	m := fiber.Map{"id": v.ID, "name": v.Name, "status": v.Status, "tenant_id": v.TenantID, "user_id": v.UserID,
		"metadata": v.Metadata, "hostId": v.HostID, "image": v.Image, "flavor": v.Flavor, "created": v.Created,
		"updated": v.Updated, "addresses": v.Addresses, "accessIPv4": v.AccessIPv4, "accessIPv6": v.AccessIPv6,
		"links": v.Links, "OS-DCF:diskConfig": v.DiskConfig}
	for k, x := range map[string]any{"progress": v.Progress, "locked": v.Locked, "description": v.Description, "tags": v.Tags, "fault": v.Fault} {
		if x != nil {
			m[k] = x
		}
	}
	return m
}

func (h *Handler) updateServer(c *fiber.Ctx) error {
	var b struct {
		Server *struct {
			Name *string `json:"name"`
		} `json:"server"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Server == nil || b.Server.Name == nil {
		return fault.Invalid("server", "Only the name can be updated here.")
	}
	in, err := h.svc.Rename(c.UserContext(), api.Token(c), api.Param(c, "id"), *b.Server.Name)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"server": updatedView(h.serverView(c, in))})
}

func (h *Handler) deleteServer(c *fiber.Ctx) error {
	if err := h.svc.Act(c.UserContext(), api.Token(c), api.Param(c, "id"), compute.ActionDelete, api.ReqID(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (h *Handler) serverAction(c *fiber.Ctx) error {
	var b map[string]json.RawMessage
	if err := decode(c, &b); err != nil {
		return err
	}
	if len(b) != 1 {
		return fault.Invalid("action", "There is no such action: expected exactly one action in the body.")
	}
	var a compute.Action
	for k, v := range b {
		switch k {
		case "os-getVNCConsole":
			return h.vncConsoleAction(c, v)
		case "os-getConsoleOutput":
			return h.consoleOutput(c, v)
		case "createImage":
			return h.createImage(c, v)
		case "rebuild":
			return h.rebuild(c, v)
		case "rescue":
			return h.rescue(c, v)
		case "resize":
			return h.resize(c, v)
		case "migrate":
			return h.migrate(c, v)
		case "os-resetState":
			var b struct {
				State string `json:"state"`
			}
			if err := json.Unmarshal(v, &b); err != nil || (b.State != "active" && b.State != "error") {
				return fault.Invalid("state", "Invalid input for field/attribute state. Value must be one of 'active', 'error'.")
			}
			if err := h.svc.ResetState(c.UserContext(), api.Token(c), api.Param(c, "id"), b.State == "error"); err != nil {
				return err
			}
			return empty(c, fiber.StatusAccepted)
		case "addSecurityGroup", "removeSecurityGroup":
			var g struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(v, &g); err != nil || g.Name == "" {
				return fault.Invalid("name", "Invalid input for field/attribute %s: a security group name is required.", k)
			}
			if err := h.svc.ChangeSecurityGroup(c.UserContext(), api.Token(c), api.Param(c, "id"), g.Name, k == "addSecurityGroup"); err != nil {
				return err
			}
			return empty(c, fiber.StatusAccepted)
		case "shelve":
			if !isNullOrObject(v) {
				return fault.Invalid(k, "Invalid input for field/attribute shelve. Value: %s. %s is not of type 'null'", v, v)
			}
			if err := h.svc.Shelve(c.UserContext(), api.Token(c), api.Param(c, "id"), api.ReqID(c)); err != nil {
				return err
			}
			return empty(c, fiber.StatusAccepted)

		case "os-start":
			a = compute.ActionStart
		case "os-stop":
			a = compute.ActionStop
		case "reboot":
			var r struct {
				Type string `json:"type"`
			}
			if err := json.Unmarshal(v, &r); err != nil {
				return fault.Invalid("reboot", "Invalid input for field/attribute reboot.")
			}
			switch strings.ToUpper(r.Type) {
			case "SOFT":
				a = compute.ActionReboot
			case "HARD":
				a = compute.ActionRebootHard
			default:
				return fault.Invalid("reboot", "Argument 'type' for reboot must be a string with value 'SOFT' or 'HARD'.")
			}
		default:
			simple, ok := simpleActions[k]
			if !ok {
				return fault.Invalid("action", "There is no such action: %s", k)
			}
			if !isNullOrObject(v) {
				return fault.Invalid(k, "Invalid input for field/attribute %s. Value: %s. %s is not of type 'null', 'object'", k, v, v)
			}
			a = simple
		}
	}
	if err := h.svc.Act(c.UserContext(), api.Token(c), api.Param(c, "id"), a, api.ReqID(c)); err != nil {
		return err
	}
	if a == compute.ActionConfirm {
		return empty(c, fiber.StatusNoContent) // as Nova answers it
	}
	return empty(c, fiber.StatusAccepted)
}

// createImage snapshots a server's disk into a new image: 202, with the
// image in Location (below 2.45) or in the body (2.45 on), as Nova.
func (h *Handler) createImage(c *fiber.Ctx, v json.RawMessage) error {
	var b struct {
		Name     *string           `json:"name"`
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(v, &b); err != nil || isNull(v) {
		return fault.Invalid("createImage", "Invalid input for field/attribute createImage: an object with a name is required.")
	}
	if b.Name == nil {
		return fault.InvalidAs("required", "name", "Invalid input for field/attribute name. 'name' is a required property")
	}
	im, err := h.svc.Snapshot(c.UserContext(), api.Token(c), api.Param(c, "id"),
		compute.SnapshotRequest{Name: *b.Name, Metadata: b.Metadata, RequestID: api.ReqID(c)})
	if err != nil {
		return err
	}
	if version(c).AtLeast(2, 45) {
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"image_id": im.ID})
	}
	c.Set(fiber.HeaderLocation, h.publicURL+"/image/v2/images/"+im.ID)
	return empty(c, fiber.StatusAccepted)
}

// rebuild gives a server a fresh disk from imageRef, optionally with a
// new name, metadata and (2.54) key pair: 202 with the server.
func (h *Handler) rebuild(c *fiber.Ctx, v json.RawMessage) error {
	var b struct {
		ImageRef *string           `json:"imageRef"`
		Name     *string           `json:"name"`
		Metadata map[string]string `json:"metadata"`
		KeyName  json.RawMessage   `json:"key_name"`
	}
	if err := json.Unmarshal(v, &b); err != nil || isNull(v) {
		return fault.Invalid("rebuild", "Invalid input for field/attribute rebuild: an object with an imageRef is required.")
	}
	if b.ImageRef == nil {
		return fault.InvalidAs("required", "imageRef", "Invalid input for field/attribute imageRef. 'imageRef' is a required property")
	}
	r := compute.RebuildRequest{ImageRef: *b.ImageRef, Name: b.Name, Metadata: b.Metadata, RequestID: api.ReqID(c)}
	if len(b.KeyName) > 0 {
		if !version(c).AtLeast(2, 54) {
			return fault.Invalid("key_name", "Additional properties are not allowed ('key_name' was unexpected)")
		}
		var k *string
		if err := json.Unmarshal(b.KeyName, &k); err != nil {
			return fault.Invalid("key_name", "key_name must be a string or null")
		}
		none := ""
		if k == nil {
			k = &none // null: the server keeps no key pair
		}
		r.KeyName = k
	}
	in, err := h.svc.Rebuild(c.UserContext(), api.Token(c), api.Param(c, "id"), r)
	if err != nil {
		return err
	}
	// Nova's rebuild answers with the server's plain fields only (the
	// extended attributes join at 2.75, above the microversions served).
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"server": updatedView(h.serverView(c, in))})
}

// rescue boots a server from a rescue image: 200 with the rescue
// system's administrator password, as Nova.
func (h *Handler) rescue(c *fiber.Ctx, v json.RawMessage) error {
	var b struct {
		AdminPass string `json:"adminPass"`
		ImageRef  string `json:"rescue_image_ref"`
	}
	if !isNull(v) {
		if err := json.Unmarshal(v, &b); err != nil {
			return fault.Invalid("rescue", "Invalid input for field/attribute rescue.")
		}
	}
	pass, err := h.svc.Rescue(c.UserContext(), api.Token(c), api.Param(c, "id"), b.ImageRef, b.AdminPass, api.ReqID(c))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"adminPass": pass})
}

// simpleActions are the actions whose body is {"<name>": null}.
var simpleActions = map[string]compute.Action{
	"pause": compute.ActionPause, "unpause": compute.ActionUnpause, "suspend": compute.ActionSuspend,
	"resume": compute.ActionResume, "lock": compute.ActionLock, "unlock": compute.ActionUnlock,
	"unrescue": compute.ActionUnrescue, "shelveOffload": compute.ActionOffload, "unshelve": compute.ActionUnshelve,
	"restore": compute.ActionRestore, "forceDelete": compute.ActionForceDelete,
	"confirmResize": compute.ActionConfirm, "revertResize": compute.ActionRevert,
	// (lock takes {"locked_reason": ...} from 2.73, above the microversions served)
}

func isNull(v json.RawMessage) bool { return strings.TrimSpace(string(v)) == "null" }

// isNullOrObject says whether an action's body is null or an object, as
// clients send {"pause": null} and {"pause": {}} alike (Nova has no
// schema for these bodies; lock's object holds locked_reason from 2.73).
func isNullOrObject(v json.RawMessage) bool {
	t := strings.TrimSpace(string(v))
	return t == "null" || strings.HasPrefix(t, "{")
}

func actionJSON(a model.InstanceAction) fiber.Map {
	var msg any
	if a.Message != "" {
		msg = a.Message
	}
	return fiber.Map{"action": a.Action, "instance_uuid": a.InstanceID, "message": msg, "project_id": a.ProjectID,
		"request_id": a.RequestID, "start_time": a.StartTime.UTC().Format(novaTS), "user_id": a.UserID}
}

func (h *Handler) listActions(c *fiber.Ctx) error {
	as, err := h.svc.Actions(c.UserContext(), api.Token(c), api.Param(c, "id"), version(c).AtLeast(2, 21))
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(as))
	for i, a := range as {
		out[i] = actionJSON(a)
	}
	return c.JSON(fiber.Map{"instanceActions": out})
}

func (h *Handler) showAction(c *fiber.Ctx) error {
	id, req := api.Param(c, "id"), api.Param(c, "req")
	as, err := h.svc.Actions(c.UserContext(), api.Token(c), id, version(c).AtLeast(2, 21))
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.RequestID != req {
			continue
		}
		m := actionJSON(a)
		evs := make([]fiber.Map, len(a.Events))
		for i, e := range a.Events {
			var result any
			if e.Result != "" {
				result = e.Result
			}
			ev := fiber.Map{"event": e.Event, "start_time": e.StartTime.UTC().Format(novaTS), "finish_time": tsPtr(e.FinishTime), "result": result}
			if policy.Allowed(api.Token(c), policy.ShowFaultDetails, policy.Target{}) {
				ev["traceback"] = nilIfEmpty(e.Traceback)
			}
			evs[i] = ev
		}
		m["events"] = evs
		return c.JSON(fiber.Map{"instanceAction": m})
	}
	return fault.NotFound("Action for request_id %s on instance %s not found", req, id)
}

// parseNetworks reads a server create's "networks": "auto" or "none"
// (from 2.37), or a list of {"uuid"}, {"port"} and {"fixed_ip"} entries.
func parseNetworks(raw json.RawMessage) (string, []network.NICRequest, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil, nil
	}
	var word string
	if json.Unmarshal(raw, &word) == nil {
		// Nova takes the words from 2.37; older clients sent them too and
		// Nimbus has always taken them, so they are taken at any version.
		if word != network.NetworksAuto && word != network.NetworksNone {
			return "", nil, fault.Invalid("networks", "Invalid input for field/attribute networks. Value: %q is not valid here.", word)
		}
		return word, nil, nil
	}
	var list []struct {
		UUID    *string `json:"uuid"`
		Port    *string `json:"port"`
		FixedIP *string `json:"fixed_ip"`
		Tag     *string `json:"tag"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", nil, fault.Invalid("networks", "Invalid input for field/attribute networks.")
	}
	var out []network.NICRequest
	for _, e := range list {
		var r network.NICRequest
		if e.UUID != nil {
			id, ok := validate.UUID(*e.UUID)
			if !ok {
				return "", nil, fault.Invalid("networks", "Invalid input for field/attribute uuid. Value: %s. '%s' is not a 'uuid'", *e.UUID, *e.UUID)
			}
			r.NetworkID = id
		}
		if e.Port != nil {
			id, ok := validate.UUID(*e.Port)
			if !ok {
				return "", nil, fault.Invalid("networks", "Invalid input for field/attribute port. Value: %s. '%s' is not a 'uuid'", *e.Port, *e.Port)
			}
			r.PortID = id
		}
		if e.FixedIP != nil {
			a, err := netip.ParseAddr(*e.FixedIP)
			if err != nil {
				return "", nil, fault.Invalid("networks", "Invalid input for field/attribute fixed_ip. Value: %s. '%s' is not a valid IP address", *e.FixedIP, *e.FixedIP)
			}
			r.FixedIP = a.String()
		}
		switch {
		case r.PortID != "" && (r.NetworkID != "" || r.FixedIP != ""):
			r.NetworkID, r.FixedIP = "", "" // Nova: a port wins over the rest
		case r.PortID == "" && r.NetworkID == "":
			return "", nil, fault.Invalid("networks", "Bad networks format: network uuid is not in proper format (%v)", e)
		}
		out = append(out, r)
	}
	return "", out, nil
}

func groupNames(gs []struct {
	Name string `json:"name"`
}) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out
}

// serverGroups are the names of the groups on a server's ports.
func serverGroups(in model.Instance) []nameJSON {
	var out []nameJSON
	seen := map[string]bool{}
	for _, n := range in.NICs {
		for _, g := range n.Groups {
			if !seen[g] {
				seen[g] = true
				out = append(out, nameJSON{g})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// serverIPs answers /servers/{id}/ips: the server's addresses.
func (h *Handler) serverIPs(c *fiber.Ctx) error {
	in, err := h.svc.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"addresses": addresses(in)})
}

// serverNetworkIPs answers /servers/{id}/ips/{network}.
func (h *Handler) serverNetworkIPs(c *fiber.Ctx) error {
	in, err := h.svc.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	name := api.Param(c, "network")
	addrs, ok := addresses(in)[name]
	if !ok {
		return fault.NotFound("Network %s could not be found.", name)
	}
	return c.JSON(fiber.Map{name: addrs})
}

// serverSecurityGroups answers /servers/{id}/os-security-groups.
func (h *Handler) serverSecurityGroups(c *fiber.Ctx) error {
	gs, err := h.svc.ServerSecurityGroups(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	out := []fiber.Map{}
	for _, g := range gs {
		rules := []fiber.Map{}
		for _, r := range g.Rules {
			if r.Direction != "ingress" {
				continue // Nova's view shows ingress rules only
			}
			rule := fiber.Map{"id": r.ID, "parent_group_id": g.ID, "ip_protocol": nilIfEmpty(r.Protocol),
				"from_port": r.PortRangeMin, "to_port": r.PortRangeMax, "ip_range": fiber.Map{}, "group": fiber.Map{}}
			if r.RemoteIPPrefix != "" {
				rule["ip_range"] = fiber.Map{"cidr": r.RemoteIPPrefix}
			}
			rules = append(rules, rule)
		}
		out = append(out, fiber.Map{"id": g.ID, "name": g.Name, "description": g.Description, "tenant_id": g.ProjectID, "rules": rules})
	}
	return c.JSON(fiber.Map{"security_groups": out})
}
