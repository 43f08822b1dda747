package portal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	case "log", "console", "actions", "monitoring":
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
	out, size, err := h.compute.ConsoleTail(ctx, tok, in.ID, lines)
	v.Offset = size
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

// consoleLogStream is the Log tab's event stream: what the guest writes to
// its serial log after offset, as the instance's agent pushes it, each
// piece a "log" event whose data is a JSON string.
func (h *Handler) consoleLogStream(c *fiber.Ctx) error {
	ctx, tok := c.UserContext(), api.Token(c)
	id := api.Param(c, "id")
	offset, err := strconv.ParseInt(c.Query("offset", "0"), 10, 64)
	if err != nil || offset < 0 {
		return fault.Invalid("offset", "offset is a length in bytes.")
	}
	if err := h.compute.CanReadLog(ctx, tok, id); err != nil {
		return err // refused (another project's instance: 404) before the stream's 200
	}
	if eventStreamHead(c) {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if h.cfg.Live != nil {
			// The controller is stopping: end the stream, as the change
			// feed's do.
			go func() {
				select {
				case <-h.cfg.Live.Stopped():
					cancel()
				case <-fctx.Done():
				}
			}()
		}
		fmt.Fprintf(w, "retry: %d\n\n", liveRetryMs)
		if w.Flush() != nil {
			return
		}
		err := h.compute.FollowLog(fctx, tok, id, offset, func(text string) error {
			if text == "" {
				fmt.Fprint(w, ": ping\n\n")
			} else {
				b, _ := json.Marshal(text)
				fmt.Fprintf(w, "event: log\ndata: %s\n\n", b)
			}
			return w.Flush()
		})
		if err != nil {
			fmt.Fprintf(w, "event: gone\ndata: {}\n\n")
			_ = w.Flush()
		}
	})
	return nil
}
