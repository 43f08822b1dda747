package portal

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/views"
)

// Project > Usage and Admin > Usage: what instances used in a period
// (os-simple-tenant-usage's figures), on a page and as CSV.

const dateLayout = "2006-01-02"

// usageDates reads ?start= and ?end= (dates, the end included); left out,
// the period is this month so far, as Horizon's. A bad or reversed date
// is a form error shown on the page, with this month instead.
func usageDates(c *fiber.Ctx) (start, end time.Time, f views.Form) {
	now := time.Now().UTC()
	start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	end = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	f = views.Form{Values: map[string]string{}, Errors: map[string]string{}}
	s, e := start, end
	if v := c.Query("start"); v != "" {
		t, err := time.Parse(dateLayout, v)
		if err != nil {
			f.Errors["start"] = i18n.T(c.UserContext(), "usage.bad_date")
		}
		s = t
	}
	if v := c.Query("end"); v != "" {
		t, err := time.Parse(dateLayout, v)
		if err != nil {
			f.Errors["end"] = i18n.T(c.UserContext(), "usage.bad_date")
		}
		e = t
	}
	if len(f.Errors) == 0 && e.Before(s) {
		f.Errors["end"] = i18n.T(c.UserContext(), "usage.end_before_start")
	}
	if len(f.Errors) == 0 {
		start, end = s, e
	}
	f.Values["start"], f.Values["end"] = start.Format(dateLayout), end.Format(dateLayout)
	return start, end, f
}

// usage reads the period's usage: the caller's project, or every
// project's (all).
func (h *Handler) usage(c *fiber.Ctx, all bool) (views.UsagePage, error) {
	start, end, f := usageDates(c)
	tok := api.Token(c)
	project := tok.ProjectID
	if all {
		project = ""
	}
	us, err := h.compute.Usage(c.UserContext(), tok, project, start, end.Add(24*time.Hour))
	if err != nil {
		return views.UsagePage{}, err
	}
	v := views.UsagePage{Form: f, All: all}
	names := map[string]string{}
	if all {
		ps, err := h.svc.Projects(c.UserContext(), tok, store.ProjectFilter{})
		if err != nil {
			return v, err
		}
		for _, p := range ps {
			names[p.ID] = p.Name
		}
	}
	for _, u := range us {
		v.Total.VCPUHours += u.VCPUHours
		v.Total.DiskGBHours += u.DiskGBHours
		v.Total.MemoryMBHours += u.MemoryMBHours
		v.Total.Hours += u.Hours
		v.Total.Instances += len(u.Servers)
		if all {
			v.Projects = append(v.Projects, views.UsageRow{Name: names[u.ProjectID], ID: u.ProjectID, Instances: len(u.Servers),
				VCPUHours: u.VCPUHours, DiskGBHours: u.DiskGBHours, MemoryMBHours: u.MemoryMBHours, Hours: u.Hours})
			continue
		}
		for _, s := range u.Servers {
			in := s.Instance
			state := "status." + compute.Status(in.VMState, in.TaskState)
			if s.Ended != nil {
				state = "usage.terminated"
			}
			v.Servers = append(v.Servers, views.UsageRow{Name: in.Name, ID: in.ID, VCPUs: in.VCPUs, DiskGB: in.RootGB,
				MemoryMB: in.MemoryMB, Hours: s.Hours, StateKey: state, Flavor: in.FlavorName})
		}
	}
	return v, nil
}

func (h *Handler) usagePage(all bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		v, err := h.usage(c, all)
		if err != nil {
			return err
		}
		if all {
			v.Page = h.page(c, "admin-usage", "usage.admin_title")
		} else {
			v.Page = h.page(c, "usage", "usage.title")
		}
		return render(c, views.UsageReport(v))
	}
}

// usageCSV is the page's table as CSV: a row per instance (a project's)
// or per project (all), with the period in the file's name.
func (h *Handler) usageCSV(all bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		v, err := h.usage(c, all)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="usage-%s-%s.csv"`, v.V("start"), v.V("end")))
		w := csv.NewWriter(c.Response().BodyWriter())
		num := func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
		if all {
			w.Write([]string{"project_id", "project", "instances", "vcpu_hours", "disk_gb_hours", "memory_mb_hours", "hours"})
			for _, r := range v.Projects {
				w.Write([]string{r.ID, r.Name, strconv.Itoa(r.Instances), num(r.VCPUHours), num(r.DiskGBHours), num(r.MemoryMBHours), num(r.Hours)})
			}
		} else {
			w.Write([]string{"instance_id", "name", "flavor", "vcpus", "disk_gb", "memory_mb", "hours"})
			for _, r := range v.Servers {
				w.Write([]string{r.ID, r.Name, r.Flavor, strconv.Itoa(r.VCPUs), strconv.Itoa(r.DiskGB), strconv.Itoa(r.MemoryMB), num(r.Hours)})
			}
		}
		w.Flush()
		return w.Error()
	}
}
