package compute

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/compute"
	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

const novaTS = "2006-01-02T15:04:05.000000"

func keypairJSON(c *fiber.Ctx, k model.KeyPair) fiber.Map {
	m := fiber.Map{"name": k.Name, "public_key": k.PublicKey, "fingerprint": k.Fingerprint}
	if version(c).AtLeast(2, 2) {
		m["type"] = k.Type
	}
	return m
}

// userParam is ?user_id= (microversion 2.10, admins only).
func userParam(c *fiber.Ctx) (string, error) {
	u := c.Query("user_id")
	if u != "" && !version(c).AtLeast(2, 10) {
		return "", fault.Invalid("user_id", "user_id needs microversion 2.10")
	}
	return u, nil
}

func (h *Handler) listKeyPairs(c *fiber.Ctx) error {
	u, err := userParam(c)
	if err != nil {
		return err
	}
	ks, err := h.svc.KeyPairs(c.UserContext(), api.Token(c), u)
	if err != nil {
		return err
	}
	out := make([]fiber.Map, len(ks))
	for i, k := range ks {
		out[i] = fiber.Map{"keypair": keypairJSON(c, k)}
	}
	return c.JSON(fiber.Map{"keypairs": out})
}

func (h *Handler) showKeyPair(c *fiber.Ctx) error {
	u, err := userParam(c)
	if err != nil {
		return err
	}
	k, err := h.svc.KeyPair(c.UserContext(), api.Token(c), api.Param(c, "name"), u)
	if err != nil {
		return err
	}
	m := keypairJSON(c, k)
	m["user_id"], m["created_at"], m["deleted"], m["deleted_at"], m["updated_at"], m["id"] =
		k.UserID, k.CreatedAt.UTC().Format(novaTS), false, nil, nil, 0
	return c.JSON(fiber.Map{"keypair": m})
}

func (h *Handler) createKeyPair(c *fiber.Ctx) error {
	var b struct {
		KeyPair *struct {
			Name      string `json:"name"`
			PublicKey string `json:"public_key"`
			Type      string `json:"type"`
			UserID    string `json:"user_id"`
		} `json:"keypair"`
	}
	if err := decode(c, &b); err != nil {
		return err
	}
	if b.KeyPair == nil {
		return fault.Invalid("keypair", "is required")
	}
	in := compute.KeyPairInput{Name: b.KeyPair.Name, PublicKey: b.KeyPair.PublicKey}
	v := version(c)
	if b.KeyPair.Type != "" && !v.AtLeast(2, 2) {
		return fault.Invalid("type", "Additional properties are not allowed ('type' was unexpected)")
	}
	if b.KeyPair.UserID != "" && !v.AtLeast(2, 10) {
		return fault.Invalid("user_id", "Additional properties are not allowed ('user_id' was unexpected)")
	}
	in.Type, in.UserID = b.KeyPair.Type, b.KeyPair.UserID
	k, private, err := h.svc.CreateKeyPair(c.UserContext(), api.Token(c), in)
	if err != nil {
		return err
	}
	m := keypairJSON(c, k)
	m["user_id"] = k.UserID
	if private != "" {
		m["private_key"] = private
	}
	status := fiber.StatusOK
	if v.AtLeast(2, 2) {
		status = fiber.StatusCreated
	}
	return c.Status(status).JSON(fiber.Map{"keypair": m})
}

func (h *Handler) deleteKeyPair(c *fiber.Ctx) error {
	u, err := userParam(c)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteKeyPair(c.UserContext(), api.Token(c), api.Param(c, "name"), u); err != nil {
		return err
	}
	if version(c).AtLeast(2, 2) {
		return c.SendStatus(fiber.StatusNoContent)
	}
	return empty(c, fiber.StatusAccepted)
}
