package compute

import (
	"strconv"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/handlers/api"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// renderedServers keeps the JSON of servers as /servers/detail rendered
// them, keyed by the instance's id and last change (store.InstanceKey) and
// by what else shapes the answer: the microversion and what the caller may
// see. Clients poll large lists (the CLI, Terraform, dashboards); with the
// cache a page of unchanged servers costs one narrow query and a copy.
// A changed instance has a new key, so nothing is ever stale; old entries
// are dropped all at once when the cache is full.
type renderedServers struct {
	mu  sync.RWMutex
	m   map[string][]byte
	max int
}

func newRenderedServers(max int) *renderedServers {
	return &renderedServers{m: make(map[string][]byte), max: max}
}

func (r *renderedServers) get(key string) ([]byte, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	b, ok := r.m[key]
	return b, ok
}

func (r *renderedServers) put(key string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= r.max {
		clear(r.m)
	}
	r.m[key] = b
}

// renderVariant is what, besides the instance, changes its rendering.
func renderVariant(c *fiber.Ctx) string {
	tok := api.Token(c)
	v := version(c).String()
	if policy.Allowed(tok, policy.ShowServerHost, policy.Target{}) {
		v += "|host"
	}
	if policy.Allowed(tok, policy.ShowFaultDetails, policy.Target{}) {
		v += "|fault"
	}
	return v
}

func renderKey(k store.InstanceKey, variant string) string {
	return k.ID + "|" + strconv.FormatInt(k.UpdatedAt.UnixNano(), 10) + "|" + variant
}
