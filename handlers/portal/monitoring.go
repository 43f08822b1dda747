package portal

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/stats"
	"github.com/nimbus-cloud/nimbus/views"
)

// instanceStats is the Monitoring tab's body alone, fetched again each
// time the instance's host sends new samples.
func (h *Handler) instanceStats(c *fiber.Ctx) error {
	in, err := h.compute.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	m, err := h.monitoring(c, in)
	if err != nil {
		return err
	}
	return render(c, views.MonitoringBody(m))
}

// monitoring draws in's charts over the range the page asks for (?range=).
func (h *Handler) monitoring(c *fiber.Ctx, in model.Instance) (views.Monitoring, error) {
	r := stats.ParseRange(c.Query("range"))
	points, err := h.compute.InstanceStats(c.UserContext(), in, r)
	if err != nil {
		return views.Monitoring{}, err
	}
	window := int64(time.Hour / time.Second)
	if r == stats.Day {
		window = int64(24 * time.Hour / time.Second)
	}
	return views.Monitoring{InstanceID: in.ID, Range: string(r), Running: in.PowerState == model.PowerRunning,
		Charts: views.MonitoringCharts(c.UserContext(), points, window, time.Now().Unix(), float64(in.MemoryMB)*1024)}, nil
}
