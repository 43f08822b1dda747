package compute

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// os-simple-tenant-usage: what projects' instances used in a period, in
// hours and vCPU-, MB- and GB-hours (openstack usage list / show).

// usageTime is how Nova writes the period and instance times: ISO 8601,
// microseconds, no zone (UTC).
const usageTime = "2006-01-02T15:04:05.000000"

// usagePeriod reads ?start= and ?end= in the forms Nova takes; either
// left out is now, as in Nova.
func usagePeriod(c *fiber.Ctx) (time.Time, time.Time, error) {
	now := time.Now().UTC()
	parse := func(name string) (time.Time, error) {
		v := c.Query(name)
		if v == "" {
			return now, nil
		}
		for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999", "2006-01-02 15:04:05.999999",
			time.RFC3339Nano} {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fault.Invalid(name, "Datetime is in invalid format")
	}
	start, err := parse("start")
	if err != nil {
		return start, start, err
	}
	end, err := parse("end")
	return start, end, err
}

func (h *Handler) listUsage(c *fiber.Ctx) error {
	if strings.HasSuffix(c.Path(), "/") {
		// .../os-simple-tenant-usage/: a project's usage with an empty
		// id, which Nova does not route (404), not the list.
		return fault.NotFound("The resource could not be found.")
	}
	start, end, err := usagePeriod(c)
	if err != nil {
		return err
	}
	us, err := h.svc.Usage(c.UserContext(), api.Token(c), "", start, end)
	if err != nil {
		return err
	}
	detailed := truthy(c.Query("detailed"))
	out := make([]fiber.Map, len(us))
	for i, u := range us {
		out[i] = usageJSON(u, detailed)
	}
	return c.JSON(fiber.Map{"tenant_usages": out})
}

func (h *Handler) showUsage(c *fiber.Ctx) error {
	start, end, err := usagePeriod(c)
	if err != nil {
		return err
	}
	us, err := h.svc.Usage(c.UserContext(), api.Token(c), api.Param(c, "tenant"), start, end)
	if err != nil {
		return err
	}
	if len(us[0].Servers) == 0 {
		return c.JSON(fiber.Map{"tenant_usage": fiber.Map{}}) // as Nova, for a project that used nothing
	}
	return c.JSON(fiber.Map{"tenant_usage": usageJSON(us[0], true)})
}

func usageJSON(u compute.ProjectUsage, detailed bool) fiber.Map {
	m := fiber.Map{"tenant_id": u.ProjectID, "start": u.Start.Format(usageTime), "stop": u.Stop.Format(usageTime),
		"total_hours": u.Hours, "total_vcpus_usage": u.VCPUHours, "total_memory_mb_usage": u.MemoryMBHours,
		"total_local_gb_usage": u.DiskGBHours}
	if !detailed {
		return m
	}
	servers := make([]fiber.Map, len(u.Servers))
	for i, s := range u.Servers {
		in := s.Instance
		state := string(in.VMState)
		var ended any
		if s.Ended != nil {
			state, ended = "terminated", s.Ended.UTC().Format(usageTime)
		}
		servers[i] = fiber.Map{"instance_id": in.ID, "name": in.Name, "tenant_id": in.ProjectID, "flavor": in.FlavorName,
			"vcpus": in.VCPUs, "memory_mb": in.MemoryMB, "local_gb": in.RootGB, "hours": s.Hours, "state": state,
			"started_at": in.LaunchedAt.UTC().Format(usageTime), "ended_at": ended, "uptime": s.Uptime}
	}
	m["server_usages"] = servers
	return m
}
