package portal

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/views"
)

// detailTab is the instance page's tab; anything unknown is the overview.
func detailTab(q string) string {
	switch q {
	case "log", "console", "actions":
		return q
	}
	return "overview"
}

// consoleReady: there is a screen to show.
func consoleReady(in model.Instance) bool {
	return in.VMState == model.VMActive && in.PowerState == model.PowerRunning && in.VNCPort > 0
}

// consolePage is the full-page console.
func (h *Handler) consolePage(c *fiber.Ctx) error {
	in, err := h.compute.Get(c.UserContext(), api.Token(c), api.Param(c, "id"))
	if err != nil {
		return err
	}
	return render(c, views.ConsolePage(views.ConsoleView{Title: in.Name, CSRF: sess(c).CSRF,
		TokenURL: "/project/instances/" + in.ID + "/console-token"}))
}

// consoleToken gives the console script a websocket URL with a fresh
// token (a token opens one session; every connect asks again).
func (h *Handler) consoleToken(c *fiber.Ctx) error {
	token, err := h.compute.ConsoleToken(c.UserContext(), api.Token(c), api.Param(c, "id"), "vnc", "novnc")
	if errors.Is(err, fault.ErrConflict) {
		return c.Status(fiber.StatusConflict).JSON(fiber.Map{"message": i18n.T(c.UserContext(), "console.not_running")})
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"url": h.compute.ConsoleWebsocketURL(token)})
}

// consoleLog is the Log tab's body: the serial log's last lines, asked of
// the instance's agent; the tab polls it while the instance runs.
func (h *Handler) consoleLog(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	in, err := h.compute.Get(ctx, tok, api.Param(c, "id"))
	if err != nil {
		return err
	}
	lines, _ := strconv.Atoi(c.Query("lines", "200"))
	if lines < 0 || lines > 10000 {
		lines = 200
	}
	v := views.ConsoleLog{InstanceID: in.ID, Lines: lines, Live: in.VMState == model.VMActive}
	out, err := h.compute.ConsoleOutput(ctx, tok, in.ID, lines)
	switch {
	case errors.Is(err, fault.ErrConflict):
		v.Error = i18n.T(ctx, "instances.log.unavailable", err.Error())
	case err != nil:
		return err
	default:
		v.Output = out
	}
	return render(c, views.ConsoleLogBody(v))
}
