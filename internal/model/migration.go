package model

import "time"

// Migration is a resize or a cold migration of an instance (Nova's
// migrations, os-migrations): from SourceHost to DestHost, from the old
// flavor to the new one (the same for a migration).
type Migration struct {
	ID            int64
	UUID          string
	InstanceID    string
	ProjectID     string
	UserID        string
	Type          string // "resize" or "migration"
	Status        MigrationStatus
	SourceHost    string
	DestHost      string // "" until placed
	RequestedHost string // the target an admin named (migrate at 2.56)
	OldFlavor     Flavor
	NewFlavor     Flavor
	// SourceClaim and DestClaim say the migration holds the old flavor's
	// claim on the source, the new flavor's on the destination.
	SourceClaim, DestClaim bool
	DiskSHA512             string
	DiskSize               int64
	CreatedAt              time.Time
	UpdatedAt              time.Time
	FinishedAt             *time.Time
}

// MigrationStatus is Nova's migration status.
type MigrationStatus string

// The statuses, in the order a resize passes them.
const (
	MigrationPreMigrating  MigrationStatus = "pre-migrating"  // asked, the destination being chosen
	MigrationMigrating     MigrationStatus = "migrating"      // the source copying the disk out
	MigrationPostMigrating MigrationStatus = "post-migrating" // the destination starting it
	MigrationFinished      MigrationStatus = "finished"       // VERIFY_RESIZE
	MigrationConfirming    MigrationStatus = "confirming"
	MigrationConfirmed     MigrationStatus = "confirmed"
	MigrationReverting     MigrationStatus = "reverting"
	MigrationReverted      MigrationStatus = "reverted"
	MigrationError         MigrationStatus = "error"
)

// Open says whether the migration still holds claims or disks.
func (s MigrationStatus) Open() bool {
	switch s {
	case MigrationConfirmed, MigrationReverted, MigrationError:
		return false
	}
	return true
}
