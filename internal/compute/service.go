// Package compute is Nova's core: flavors, key pairs and (with the
// instance issue) the instance lifecycle. Every method that acts for a
// caller checks the policy table first.
package compute

import (
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Service is the compute service shared by the API and the portal.
type Service struct {
	store *store.Store
}

// New returns a Service.
func New(st *store.Store) *Service { return &Service{store: st} }
