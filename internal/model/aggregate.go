package model

import "time"

// Aggregate is a host aggregate (Nova's os-aggregates): hosts grouped
// under metadata the scheduler reads; its "availability_zone" key is the
// zone of its hosts.
type Aggregate struct {
	ID        int
	UUID      string
	Name      string
	Hosts     []string          // sorted
	Metadata  map[string]string // availability_zone among them, when set
	CreatedAt time.Time
	UpdatedAt *time.Time
}

// AZ is the aggregate's availability zone ("" when it names none).
func (a Aggregate) AZ() string { return a.Metadata["availability_zone"] }
