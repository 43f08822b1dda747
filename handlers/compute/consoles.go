package compute

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// remoteConsole is POST /servers/{id}/remote-consoles (microversion 2.6
// and later, as in Nova).
func (h *Handler) remoteConsole(c *fiber.Ctx) error {
	if !version(c).AtLeast(2, 6) {
		return fault.NotFound("The resource could not be found.")
	}
	var b struct {
		RemoteConsole *struct {
			Protocol string `json:"protocol"`
			Type     string `json:"type"`
		} `json:"remote_console"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.RemoteConsole == nil || b.RemoteConsole.Protocol == "" || b.RemoteConsole.Type == "" {
		return fault.Invalid("remote_console", "Invalid input for field/attribute remote_console: 'protocol' and 'type' are required.")
	}
	rc := b.RemoteConsole
	u, err := h.svc.RemoteConsole(c.UserContext(), api.Token(c), api.Param(c, "id"), rc.Protocol, rc.Type)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"remote_console": fiber.Map{"protocol": rc.Protocol, "type": rc.Type, "url": u}})
}

// vncConsoleAction is the older os-getVNCConsole action (up to 2.5).
func (h *Handler) vncConsoleAction(c *fiber.Ctx, raw json.RawMessage) error {
	if version(c).AtLeast(2, 6) {
		return fault.NotFound("The resource could not be found.")
	}
	var b struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &b); err != nil || b.Type == "" {
		return fault.Invalid("os-getVNCConsole", "Invalid input for field/attribute os-getVNCConsole: 'type' is required.")
	}
	u, err := h.svc.RemoteConsole(c.UserContext(), api.Token(c), api.Param(c, "id"), "vnc", b.Type)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"console": fiber.Map{"type": b.Type, "url": u}})
}

// consoleOutput is the os-getConsoleOutput action: the last "length"
// lines of the serial log (all of it for null or -1).
func (h *Handler) consoleOutput(c *fiber.Ctx, raw json.RawMessage) error {
	var b struct {
		Length json.RawMessage `json:"length"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return fault.Invalid("os-getConsoleOutput", "Invalid input for field/attribute os-getConsoleOutput.")
	}
	lines := -1 // all
	if l := strings.Trim(string(b.Length), `"`); l != "" && l != "null" {
		n, err := strconv.Atoi(l)
		if err != nil || n < -1 {
			return fault.Invalid("length", "Invalid input for field/attribute length. Value: %s. It must be an integer of -1 or more.", l)
		}
		lines = n
	}
	out, err := h.svc.ConsoleOutput(c.UserContext(), api.Token(c), api.Param(c, "id"), max(lines, 0))
	if err != nil {
		return err
	}
	if lines == 0 {
		out = "" // asked for no lines: only access and state were checked
	}
	return c.JSON(fiber.Map{"output": out})
}
