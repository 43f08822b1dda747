package identity

import "github.com/gofiber/fiber/v2"

func (h *Handler) versionDoc() fiber.Map {
	return fiber.Map{
		"id":      "v3.14",
		"status":  "stable",
		"updated": "2020-04-07T00:00:00Z",
		"links":   []fiber.Map{{"rel": "self", "href": h.cfg.PublicURL + "/identity/v3/"}},
		"media-types": []fiber.Map{{
			"base": "application/json", "type": "application/vnd.openstack.identity-v3+json",
		}},
	}
}

// versions answers GET /identity as Keystone does: 300 with the list.
func (h *Handler) versions(c *fiber.Ctx) error {
	return c.Status(fiber.StatusMultipleChoices).JSON(fiber.Map{"versions": fiber.Map{"values": []fiber.Map{h.versionDoc()}}})
}

func (h *Handler) version(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"version": h.versionDoc()})
}

// listLinks is the "links" object of a collection answer.
func (h *Handler) listLinks(path string) fiber.Map {
	return fiber.Map{"self": h.cfg.PublicURL + "/identity/v3/" + path, "previous": nil, "next": nil}
}

func (h *Handler) selfLink(kind, id string) fiber.Map {
	return fiber.Map{"self": h.cfg.PublicURL + "/identity/v3/" + kind + "/" + id}
}
