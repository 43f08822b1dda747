package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// UnrecognisedDomain is a Nimbus domain a host reported that the database
// does not place on that host. Nimbus never destroys such a domain on
// its own; it is listed for an admin.
type UnrecognisedDomain struct {
	Host       string
	InstanceID string
	Power      string
	Reason     string // UnknownInstance or PlacedElsewhere
	PlacedOn   string // PlacedElsewhere: the instance's host ("" for none)
	FirstSeen  time.Time
	LastSeen   time.Time
}

// Why a domain is not recognised.
const (
	UnknownInstance = "unknown"   // the database has no such instance
	PlacedElsewhere = "elsewhere" // the instance lives on another host, or none
)

// NoteUnrecognised records (or refreshes) an unrecognised domain.
func (s *Store) NoteUnrecognised(ctx context.Context, d UnrecognisedDomain) error {
	_, err := s.db.Exec(ctx, `INSERT INTO unrecognised_domains (host, instance_id, power, reason, placed_on)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (host, instance_id) DO UPDATE SET power = excluded.power, reason = excluded.reason,
			placed_on = excluded.placed_on, last_seen = now()`,
		d.Host, d.InstanceID, d.Power, d.Reason, d.PlacedOn)
	return mapErr(err)
}

// ForgetUnrecognised removes host's records except for the domains in
// present (the host's full list): those that are gone, or that the
// database now places there.
func (s *Store) ForgetUnrecognised(ctx context.Context, host string, present []string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM unrecognised_domains WHERE host = $1 AND NOT (instance_id::text = ANY($2))`,
		host, present)
	return mapErr(err)
}

// ForgetUnrecognisedDomain removes one record.
func (s *Store) ForgetUnrecognisedDomain(ctx context.Context, host, instanceID string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM unrecognised_domains WHERE host = $1 AND instance_id::text = $2`, host, instanceID)
	return mapErr(err)
}

// UnrecognisedDomains lists every record, by host and instance.
func (s *Store) UnrecognisedDomains(ctx context.Context) ([]UnrecognisedDomain, error) {
	rows, _ := s.db.Query(ctx, `SELECT host, instance_id::text, power, reason, placed_on, first_seen, last_seen
		FROM unrecognised_domains ORDER BY host, instance_id`)
	ds, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (UnrecognisedDomain, error) {
		var d UnrecognisedDomain
		err := row.Scan(&d.Host, &d.InstanceID, &d.Power, &d.Reason, &d.PlacedOn, &d.FirstSeen, &d.LastSeen)
		return d, err
	})
	return ds, mapErr(err)
}
