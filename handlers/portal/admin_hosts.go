package portal

import (
	"errors"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/store"
	"github.com/nimbus-cloud/nimbus/views"
)

// Admin > Hypervisors and Admin > Compute Services: one row per compute
// host, as Nova shows one hypervisor and one nova-compute service each.

func (h *Handler) hostList(c *fiber.Ctx, active, title string, f views.Form, errorHost string) (views.HostList, error) {
	hs, err := h.compute.Hosts(c.UserContext(), api.Token(c))
	if err != nil {
		return views.HostList{}, err
	}
	v := views.HostList{Page: h.page(c, active, title), Form: f, ErrorHost: errorHost}
	for _, x := range hs {
		r := views.HostRow{Host: x.Host, Zone: x.AZ, Type: x.HypervisorType, Up: x.Up,
			Disabled: x.Disabled, DisabledReason: x.DisabledReason,
			VCPUs: x.VCPUs, VCPUsUsed: x.VCPUsUsed, MemoryMB: x.MemoryMB, MemoryMBUsed: x.MemoryMBUsed,
			DiskGB: x.DiskGB, DiskGBUsed: x.DiskGBUsed, RunningVMs: x.RunningVMs}
		if !x.LastSeen.IsZero() {
			r.Updated = i18n.Time(c.UserContext(), x.LastSeen)
		}
		v.Hosts = append(v.Hosts, r)
	}
	return v, nil
}

func (h *Handler) hypervisorList(c *fiber.Ctx) error {
	v, err := h.hostList(c, "admin-hypervisors", "hosts.hypervisors_title", views.Form{}, "")
	if err != nil {
		return err
	}
	names := make([]string, len(v.Hosts))
	for i, r := range v.Hosts {
		names[i] = r.Host
	}
	load, err := h.compute.HostLoad(c.UserContext(), api.Token(c), names)
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	for i, r := range v.Hosts {
		// A sample older than three intervals is a host that stopped
		// reporting: no load is better than a stale one.
		if ss := load[r.Host]; len(ss) > 0 && now-ss[len(ss)-1].At < 60 {
			last := ss[len(ss)-1]
			v.Hosts[i].Load = &views.HostLoad{CPUPct: last.CPUPct, Load1: last.Load1, MemoryKiB: last.MemoryKiB,
				UsedKiB: last.UsedKiB, Spark: views.HostSpark(ss, now)}
		}
	}
	ds, err := h.compute.UnrecognisedDomains(c.UserContext(), api.Token(c))
	if err != nil {
		return err
	}
	for _, d := range ds {
		key := "hosts.unrecognised_unknown"
		if d.Reason == store.PlacedElsewhere {
			key = "hosts.unrecognised_elsewhere"
			if d.PlacedOn == "" {
				key = "hosts.unrecognised_nowhere"
			}
		}
		v.Unrecognised = append(v.Unrecognised, views.UnrecognisedRow{Host: d.Host, InstanceID: d.InstanceID, Power: d.Power,
			ReasonKey: key, PlacedOn: d.PlacedOn, FirstSeen: i18n.Time(c.UserContext(), d.FirstSeen),
			LastSeen: i18n.Time(c.UserContext(), d.LastSeen)})
	}
	dead, total, err := h.compute.DeadLetters(c.UserContext(), api.Token(c), 20)
	if err != nil {
		return err
	}
	v.DeadTotal = total
	for _, d := range dead {
		v.DeadLetters = append(v.DeadLetters, views.DeadLetterRow{At: i18n.Time(c.UserContext(), d.At), Stream: d.Stream,
			Kind: d.Kind, InstanceID: d.InstanceID, Reason: d.Reason})
	}
	return render(c, views.HypervisorListPage(v))
}

func (h *Handler) serviceList(c *fiber.Ctx) error {
	v, err := h.hostList(c, "admin-services", "hosts.services_title", views.Form{}, "")
	if err != nil {
		return err
	}
	return render(c, views.ComputeServicesPage(v))
}

// serviceSetEnabled enables a host for scheduling, or disables it with the
// reason from the form.
func (h *Handler) serviceSetEnabled(on bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx := c.UserContext()
		host, err := url.PathUnescape(api.Param(c, "host"))
		if err != nil {
			return fault.ErrNotFound
		}
		f := readForm(c, "reason")
		_, err = h.compute.SetHostEnabled(ctx, api.Token(c), host, on, f.V("reason"))
		var verr *fault.Validation
		if !on && errors.As(err, &verr) {
			f.Errors["reason"] = i18n.T(ctx, "hosts.error_reason")
			v, lerr := h.hostList(c, "admin-services", "hosts.services_title", f, host)
			if lerr != nil {
				return lerr
			}
			c.Status(fiber.StatusUnprocessableEntity)
			return render(c, views.ComputeServicesPage(v))
		}
		if err != nil {
			return err
		}
		if on {
			h.flash(c, "ok", "hosts.enabled_flash", host)
		} else {
			h.flash(c, "ok", "hosts.disabled_flash", host)
		}
		return c.Redirect("/admin/services", fiber.StatusSeeOther)
	}
}
