package portal

import (
	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// registerImagesAndKeys mounts Project > Images and Key Pairs on g (/project).
func (h *Handler) registerImagesAndKeys(g fiber.Router) {
	g.Get("/images", h.placeholder("images", "nav.images", "feature.images", policy.ViewProject))
	g.Get("/key_pairs", h.placeholder("keypairs", "nav.keypairs", "feature.keypairs", policy.ViewProject))
}

// registerAdminCompute mounts Admin > Flavors, Hypervisors and Compute
// Services on a (/admin).
func (h *Handler) registerAdminCompute(a fiber.Router) {
	a.Get("/flavors", h.placeholder("admin-flavors", "nav.flavors", "feature.flavors", policy.ViewAdmin))
	a.Get("/hypervisors", h.placeholder("admin-hypervisors", "nav.hypervisors", "feature.hypervisors", policy.ViewAdmin))
	a.Get("/services", h.placeholder("admin-services", "nav.services", "feature.compute_services", policy.ViewAdmin))
}
