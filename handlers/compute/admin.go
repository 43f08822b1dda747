package compute

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// limits answers GET /limits: the project's absolute limits and use,
// with the keys Nova shows at the microversion (the network ones until
// 2.35, maxImageMeta until 2.38, the personality ones until 2.56).
func (h *Handler) limits(c *fiber.Ctx) error {
	tok := api.Token(c)
	project := tok.ProjectID
	if p := c.Query("tenant_id"); p != "" && policy.Allowed(tok, policy.OtherProjectLimits, policy.Target{ProjectID: p}) {
		project = p
	}
	qs, err := h.svc.Quotas(c.UserContext(), tok, project)
	if err != nil {
		return err
	}
	q := map[string]compute.Quota{}
	for _, x := range qs {
		q[x.Resource] = x
	}
	v := version(c)
	abs := fiber.Map{
		"maxTotalInstances": q["instances"].Limit, "maxTotalCores": q["cores"].Limit, "maxTotalRAMSize": q["ram"].Limit,
		"maxTotalKeypairs": q["key_pairs"].Limit, "maxServerMeta": q["metadata_items"].Limit,
		"maxServerGroups": q["server_groups"].Limit, "maxServerGroupMembers": q["server_group_members"].Limit,
		"totalInstancesUsed": q["instances"].InUse, "totalCoresUsed": q["cores"].InUse, "totalRAMUsed": q["ram"].InUse,
		"totalServerGroupsUsed": 0,
	}
	if !v.AtLeast(2, 36) {
		abs["maxSecurityGroups"], abs["maxSecurityGroupRules"] = q["security_groups"].Limit, q["security_group_rules"].Limit
		abs["maxTotalFloatingIps"], abs["totalFloatingIpsUsed"], abs["totalSecurityGroupsUsed"] = q["floating_ips"].Limit, 0, 0
	}
	if !v.AtLeast(2, 39) {
		abs["maxImageMeta"] = q["metadata_items"].Limit
	}
	if !v.AtLeast(2, 57) {
		abs["maxPersonality"], abs["maxPersonalitySize"] = q["injected_files"].Limit, q["injected_file_content_bytes"].Limit
	}
	return c.JSON(fiber.Map{"limits": fiber.Map{"rate": []any{}, "absolute": abs}})
}

// quotaRemovedAt is the microversion from which Nova neither shows nor
// takes a quota: 2.36 dropped the nova-network ones, 2.57 injected files.
var quotaRemovedAt = map[string]Version{
	"fixed_ips": {Major: 2, Minor: 36}, "floating_ips": {Major: 2, Minor: 36}, "security_groups": {Major: 2, Minor: 36}, "security_group_rules": {Major: 2, Minor: 36},
	"networks":       {Major: 2, Minor: 36},
	"injected_files": {Major: 2, Minor: 57}, "injected_file_content_bytes": {Major: 2, Minor: 57}, "injected_file_path_bytes": {Major: 2, Minor: 57},
}

// quotaShown reports whether resource is part of quota sets at v.
func quotaShown(v Version, resource string) bool {
	r, ok := quotaRemovedAt[resource]
	return !ok || !v.AtLeast(r.Major, r.Minor)
}

func quotaSetJSON(c *fiber.Ctx, id string, qs []compute.Quota, detail bool) fiber.Map {
	v := version(c)
	m := fiber.Map{"id": id}
	for _, q := range qs {
		if !quotaShown(v, q.Resource) {
			continue
		}
		if detail {
			m[q.Resource] = fiber.Map{"limit": q.Limit, "in_use": q.InUse, "reserved": 0}
		} else {
			m[q.Resource] = q.Limit
		}
	}
	return fiber.Map{"quota_set": m}
}

func (h *Handler) showQuotas(detail bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id := api.Param(c, "project")
		qs, err := h.svc.Quotas(c.UserContext(), api.Token(c), id)
		if err != nil {
			return err
		}
		return c.JSON(quotaSetJSON(c, id, qs, detail))
	}
}

func (h *Handler) defaultQuotas(c *fiber.Ctx) error {
	d, err := h.svc.DefaultQuotas(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	qs := make([]compute.Quota, 0, len(compute.QuotaResources)+len(compute.LegacyQuotaResources))
	for _, r := range append(append([]string{}, compute.QuotaResources...), compute.LegacyQuotaResources...) {
		qs = append(qs, compute.Quota{Resource: r, Limit: d[r]})
	}
	return c.JSON(quotaSetJSON(c, api.Param(c, "project"), qs, false))
}

func (h *Handler) updateQuotas(c *fiber.Ctx) error {
	var b struct {
		QuotaSet map[string]json.RawMessage `json:"quota_set"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.QuotaSet == nil {
		return fault.Invalid("quota_set", "'quota_set' is a required property")
	}
	limits := map[string]int{}
	force := false
	for k, raw := range b.QuotaSet {
		if k == "force" {
			if err := json.Unmarshal(raw, &force); err != nil {
				var s string
				if json.Unmarshal(raw, &s) != nil {
					return fault.Invalid("force", "Invalid input for field/attribute force.")
				}
				force, _ = strconv.ParseBool(s)
			}
			continue
		}
		if !quotaShown(version(c), k) {
			return fault.Invalid(k, "Invalid input for field/attribute quota_set. Additional properties are not allowed ('%s' was unexpected)", k)
		}
		if k == "networks" { // nova-network's, taken before 2.36 and kept nowhere, as Nova does
			continue
		}
		if string(raw) == "null" { // Nova's schema: an integer, never null
			return fault.Invalid(k, "Invalid input for field/attribute %s. Value: None. None is not of type 'integer', 'string'", k)
		}
		n, err := intField(raw, k)
		if err != nil {
			return err
		}
		limits[k] = n
	}
	id := api.Param(c, "project")
	qs, err := h.svc.SetQuotas(c.UserContext(), api.Token(c), id, limits, force)
	if err != nil {
		return err
	}
	out := quotaSetJSON(c, id, qs, false)
	delete(out["quota_set"].(fiber.Map), "id")
	return c.JSON(out)
}

func (h *Handler) resetQuotas(c *fiber.Ctx) error {
	if err := h.svc.ResetQuotas(c.UserContext(), api.Token(c), api.Param(c, "project")); err != nil {
		return err
	}
	return empty(c, fiber.StatusAccepted)
}

// hostRef is a host's id as the microversion shows it.
func hostRef(c *fiber.Ctx, h model.ComputeHost) any {
	if version(c).AtLeast(2, 53) {
		return h.UUID
	}
	return h.ID
}

func state(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func status(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "enabled"
}

func (h *Handler) hypervisorJSON(c *fiber.Ctx, hv compute.HostView, detail bool) fiber.Map {
	m := fiber.Map{"id": hostRef(c, hv.ComputeHost), "hypervisor_hostname": hv.Host, "state": state(hv.Up), "status": status(hv.Disabled)}
	if !detail {
		return m
	}
	var reason any
	if hv.DisabledReason != "" {
		reason = hv.DisabledReason
	}
	m["hypervisor_type"], m["hypervisor_version"], m["host_ip"] = hv.HypervisorType, 1, "127.0.0.1"
	m["vcpus"], m["vcpus_used"], m["memory_mb"], m["memory_mb_used"] = hv.VCPUs, hv.VCPUsUsed, hv.MemoryMB, hv.MemoryMBUsed
	m["local_gb"], m["local_gb_used"], m["running_vms"] = hv.DiskGB, hv.DiskGBUsed, hv.RunningVMs
	m["free_ram_mb"], m["free_disk_gb"] = hv.MemoryMB-hv.MemoryMBUsed, hv.DiskGB-hv.DiskGBUsed
	m["disk_available_least"], m["current_workload"], m["cpu_info"] = hv.DiskGB-hv.DiskGBUsed, 0, cpuInfo(c, hv.ComputeHost)
	m["service"] = fiber.Map{"host": hv.Host, "id": hostRef(c, hv.ComputeHost), "disabled_reason": reason}
	return m
}

// cpuInfo is a hypervisor's cpu_info: an object from microversion 2.28,
// the same object JSON-encoded in a string before, as Nova shows it. It
// holds what agents report: the architecture and the CPU count.
func cpuInfo(c *fiber.Ctx, h model.ComputeHost) any {
	info := fiber.Map{"arch": h.Arch, "topology": fiber.Map{"sockets": 1, "cores": h.VCPUs, "threads": 1}, "features": []string{}}
	if version(c).AtLeast(2, 28) {
		return info
	}
	b, _ := json.Marshal(info)
	return string(b)
}

func (h *Handler) listHypervisors(detail bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		hs, err := h.svc.Hosts(c.UserContext(), api.Token(c))
		if err != nil {
			return err
		}
		v := version(c)
		pattern := c.Query("hypervisor_hostname_pattern")
		if pattern != "" && !v.AtLeast(2, 53) {
			return fault.Invalid("hypervisor_hostname_pattern", "Additional properties are not allowed ('hypervisor_hostname_pattern' was unexpected)")
		}
		withServers := v.AtLeast(2, 53) && truthy(c.Query("with_servers"))
		out := make([]fiber.Map, 0, len(hs))
		for _, hv := range hs {
			if pattern != "" && !strings.Contains(hv.Host, pattern) {
				continue
			}
			m := h.hypervisorJSON(c, hv, detail)
			if withServers {
				if err := h.addServers(c, m, hv.Host); err != nil {
					return err
				}
			}
			out = append(out, m)
		}
		if pattern != "" && len(out) == 0 {
			return fault.NotFound("No hypervisor matching '%s' could be found.", pattern)
		}
		return c.JSON(fiber.Map{"hypervisors": out})
	}
}

// addServers puts the instances on host into a hypervisor's entry, as
// Nova's servers and with_servers answers do (absent when none).
func (h *Handler) addServers(c *fiber.Ctx, m fiber.Map, host string) error {
	ins, err := h.svc.List(c.UserContext(), api.Token(c), compute.ListOptions{AllTenants: true, Host: host, Limit: 1000})
	if err != nil {
		return err
	}
	if len(ins) == 0 {
		return nil
	}
	servers := make([]fiber.Map, len(ins))
	for i, in := range ins {
		servers[i] = fiber.Map{"name": "nimbus-" + in.ID, "uuid": in.ID}
	}
	m["servers"] = servers
	return nil
}

// searchHypervisors is GET /os-hypervisors/{pattern}/search and, with
// servers, /os-hypervisors/{pattern}/servers: the hypervisors whose host
// name contains pattern (before microversion 2.53, which replaced both
// with query parameters).
func (h *Handler) searchHypervisors(servers bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if version(c).AtLeast(2, 53) {
			return fault.NotFound("Not Found")
		}
		hs, err := h.svc.Hosts(c.UserContext(), api.Token(c))
		if err != nil {
			return err
		}
		pattern := api.Param(c, "id")
		out := []fiber.Map{}
		for _, hv := range hs {
			if !strings.Contains(hv.Host, pattern) {
				continue
			}
			m := h.hypervisorJSON(c, hv, false)
			if servers {
				if err := h.addServers(c, m, hv.Host); err != nil {
					return err
				}
			}
			out = append(out, m)
		}
		if len(out) == 0 {
			return fault.NotFound("No hypervisor matching '%s' could be found.", pattern)
		}
		return c.JSON(fiber.Map{"hypervisors": out})
	}
}

func (h *Handler) showHypervisor(c *fiber.Ctx) error {
	hs, err := h.svc.Hosts(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	id := c.Params("id")
	for _, hv := range hs {
		if id == hv.UUID || id == strconv.Itoa(hv.ID) {
			m := h.hypervisorJSON(c, hv, true)
			if version(c).AtLeast(2, 53) && truthy(c.Query("with_servers")) {
				if err := h.addServers(c, m, hv.Host); err != nil {
					return err
				}
			}
			return c.JSON(fiber.Map{"hypervisor": m})
		}
	}
	return fault.NotFound("Hypervisor %s could not be found.", api.Param(c, "id"))
}

func (h *Handler) hypervisorStats(c *fiber.Ctx) error {
	hs, err := h.svc.Hosts(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	var st struct{ vcpus, vcpusUsed, mem, memUsed, disk, diskUsed, vms int }
	for _, hv := range hs {
		st.vcpus += hv.VCPUs
		st.vcpusUsed += hv.VCPUsUsed
		st.mem += hv.MemoryMB
		st.memUsed += hv.MemoryMBUsed
		st.disk += hv.DiskGB
		st.diskUsed += hv.DiskGBUsed
		st.vms += hv.RunningVMs
	}
	return c.JSON(fiber.Map{"hypervisor_statistics": fiber.Map{
		"count": len(hs), "vcpus": st.vcpus, "vcpus_used": st.vcpusUsed, "memory_mb": st.mem, "memory_mb_used": st.memUsed,
		"local_gb": st.disk, "local_gb_used": st.diskUsed, "free_ram_mb": st.mem - st.memUsed, "free_disk_gb": st.disk - st.diskUsed,
		"running_vms": st.vms, "current_workload": 0, "disk_available_least": st.disk - st.diskUsed,
	}})
}

func (h *Handler) serviceJSON(c *fiber.Ctx, hv compute.HostView) fiber.Map {
	var reason any
	if hv.DisabledReason != "" {
		reason = hv.DisabledReason
	}
	m := fiber.Map{"id": hostRef(c, hv.ComputeHost), "binary": "nova-compute", "host": hv.Host, "zone": hv.AZ,
		"status": status(hv.Disabled), "state": state(hv.Up), "updated_at": hv.LastSeen.UTC().Format(novaTS),
		"disabled_reason": reason}
	if version(c).AtLeast(2, 11) {
		m["forced_down"] = false
	}
	return m
}

func (h *Handler) listServices(c *fiber.Ctx) error {
	hs, err := h.svc.Hosts(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	out := []fiber.Map{}
	for _, hv := range hs {
		if (c.Query("host") == "" || c.Query("host") == hv.Host) && (c.Query("binary") == "" || c.Query("binary") == "nova-compute") {
			out = append(out, h.serviceJSON(c, hv))
		}
	}
	return c.JSON(fiber.Map{"services": out})
}

// updateServiceLegacy is PUT /os-services/{enable,disable,disable-log-reason}
// (before microversion 2.53).
func (h *Handler) updateServiceLegacy(c *fiber.Ctx) error {
	if version(c).AtLeast(2, 53) {
		return fault.NotFound("Service %s could not be found.", api.Param(c, "action"))
	}
	var b struct {
		Host   string `json:"host"`
		Binary string `json:"binary"`
		Reason string `json:"disabled_reason"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.Binary != "nova-compute" {
		return fault.Invalid("binary", "Only nova-compute services can be enabled or disabled here.")
	}
	action := c.Params("action")
	enable := action == "enable"
	if action != "enable" && action != "disable" && action != "disable-log-reason" {
		return fault.NotFound("Unknown action %s", api.Param(c, "action"))
	}
	hv, err := h.svc.SetHostEnabled(c.UserContext(), api.Token(c), b.Host, enable, b.Reason)
	if err != nil {
		return err
	}
	m := fiber.Map{"host": hv.Host, "binary": "nova-compute", "status": status(hv.Disabled)}
	if !enable && b.Reason != "" {
		m["disabled_reason"] = b.Reason
	}
	return c.JSON(fiber.Map{"service": m})
}

// updateService is PUT /os-services/{uuid} (microversion 2.53).
func (h *Handler) updateService(c *fiber.Ctx) error {
	if !version(c).AtLeast(2, 53) {
		return h.updateServiceLegacy(c)
	}
	var b struct {
		Status *string `json:"status"`
		Reason string  `json:"disabled_reason"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	hs, err := h.svc.Hosts(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	id := c.Params("action")
	for _, hv := range hs {
		if hv.UUID != id {
			continue
		}
		if b.Status == nil || (*b.Status != "enabled" && *b.Status != "disabled") {
			return fault.Invalid("status", "status must be enabled or disabled")
		}
		if _, err := h.svc.SetHostEnabled(c.UserContext(), api.Token(c), hv.Host, *b.Status == "enabled", b.Reason); err != nil {
			return err
		}
		hs, _ = h.svc.Hosts(c.UserContext(), api.Token(c))
		for _, x := range hs {
			if x.UUID == id {
				return c.JSON(fiber.Map{"service": h.serviceJSON(c, x)})
			}
		}
	}
	return fault.NotFound("Service %s could not be found.", api.Param(c, "action"))
}

func (h *Handler) availabilityZones(detail bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		tok := api.Token(c)
		if detail {
			if err := policy.Check(tok, policy.ZoneDetail, policy.Target{}); err != nil {
				return err
			}
		}
		zones, err := h.svc.Zones(c.UserContext(), tok)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(zones))
		for z := range zones {
			names = append(names, z)
		}
		sort.Strings(names)
		out := []fiber.Map{}
		for _, z := range names {
			available := false
			hosts := fiber.Map{}
			for _, hv := range zones[z] {
				available = available || (hv.Up && !hv.Disabled)
				hosts[hv.Host] = fiber.Map{"nova-compute": fiber.Map{"available": hv.Up, "active": !hv.Disabled,
					"updated_at": hv.LastSeen.UTC().Format(novaTS)}}
			}
			zi := fiber.Map{"zoneName": z, "zoneState": fiber.Map{"available": available}, "hosts": nil}
			if detail {
				zi["hosts"] = hosts
			}
			out = append(out, zi)
		}
		return c.JSON(fiber.Map{"availabilityZoneInfo": out})
	}
}
