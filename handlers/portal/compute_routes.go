package portal

import (
	"github.com/gofiber/fiber/v2"
)

// registerImagesAndKeys mounts Project > Images and Key Pairs on g (/project).
func (h *Handler) registerImagesAndKeys(g fiber.Router) {
	g.Get("/images", h.imageList)
	g.Get("/images/new", h.imageNew)
	g.Post("/images", h.imageCreate)
	g.Get("/images/:id/upload", h.imageUploadPage)
	// The upload page's script streams the file here (X-CSRF-Token header);
	// handlers/image.IsUpload must let this path past the body limit.
	g.Put("/images/:id/file", h.imageUpload)
	g.Post("/images/:id/delete", h.imageDelete)
	g.Post("/images/bulk", h.imageBulkDelete)
	g.Post("/images/:id/visibility", h.imageVisibility)

	g.Get("/usage", h.usagePage(false))
	g.Get("/usage.csv", h.usageCSV(false))

	g.Get("/key_pairs", h.keyPairList)
	g.Get("/key_pairs/new", h.keyPairNew)
	g.Post("/key_pairs", h.keyPairCreate)
	g.Get("/key_pairs/import", h.keyPairImportPage)
	g.Post("/key_pairs/import", h.keyPairImport)
	g.Post("/key_pairs/:name/delete", h.keyPairDelete)
}

// registerAdminCompute mounts Admin > Flavors, Hypervisors and Compute
// Services on a (/admin).
func (h *Handler) registerAdminCompute(a fiber.Router) {
	a.Get("/instances", h.allInstances)
	a.Get("/instances/rows", h.allInstanceRows)
	a.Get("/flavors", h.flavorList)
	a.Get("/flavors/new", h.flavorNew)
	a.Post("/flavors", h.flavorCreate)
	a.Post("/flavors/:id/delete", h.flavorDelete)

	a.Get("/hypervisors", h.hypervisorList)
	a.Get("/usage", h.usagePage(true))
	a.Get("/usage.csv", h.usageCSV(true))
	a.Get("/services", h.serviceList)
	a.Post("/services/:host/disable", h.serviceSetEnabled(false))
	a.Post("/services/:host/enable", h.serviceSetEnabled(true))
	h.registerAdminAggregates(a)
}
