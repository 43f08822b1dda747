package model

// Flavor is a Nova flavor: the size of an instance.
type Flavor struct {
	ID          string
	Name        string
	VCPUs       int
	RAMMB       int
	DiskGB      int
	EphemeralGB int
	SwapMB      int
	RXTXFactor  float64
	IsPublic    bool
	Description string
}

// QuotaLimits holds one project's limits (or the defaults). -1 means unlimited.
type QuotaLimits struct {
	Instances          int
	Cores              int
	RAMMB              int
	KeyPairs           int
	MetadataItems      int
	ServerGroups       int
	ServerGroupMembers int
	Images             int
}
