package compute

import (
	"context"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// RecordHosts stores the hosts' latest reports (capacity and liveness).
func (s *Service) RecordHosts(ctx context.Context, hosts []model.ComputeHost) error {
	for _, h := range hosts {
		if err := s.store.UpsertHost(ctx, h); err != nil {
			return err
		}
	}
	return nil
}
