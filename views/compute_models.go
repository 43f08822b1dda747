package views

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

// ImageRow is one line of Project > Images.
type ImageRow struct {
	ID         string
	Name       string
	Status     string // raw Glance status: queued, saving, active, ...
	Visibility string // raw: public, private, shared, community
	DiskFormat string
	Size       int64
	HasSize    bool
	Owned      bool // owned by the current project
	Created    string
	CanDelete  bool
	CanUpload  bool // queued and changeable by the caller
	// Received of Total bytes (0: unknown) of the data arriving now,
	// while the image is saving (an upload, a snapshot).
	Received, Total int64
}

// uploadText is how far an upload has come: "45% · 12.0 MiB of 26.0 MiB",
// or the bytes alone when the total is unknown.
func uploadText(ctx context.Context, im ImageRow) string {
	if im.Total <= 0 {
		return imageSizeText(ctx, im.Received)
	}
	return t(ctx, "images.upload_progress", int(im.Received*100/im.Total), imageSizeText(ctx, im.Received), imageSizeText(ctx, im.Total))
}

// ImageList is Project > Images.
type ImageList struct {
	Page
	Images    []ImageRow
	CanCreate bool
	// CanPublicize shows the Make public / Make private buttons (admins).
	CanPublicize bool
	// Sort and SortAsc: the column the server sorted by (ImageSortColumns;
	// "" : newest first).
	Sort    string
	SortAsc bool
}

// ImageSortColumns are the columns the images list sorts by (Glance's
// sort keys).
var ImageSortColumns = []string{"name", "status", "size", "created_at"}

// Sorting is the images list's sort, for its column headers.
func (v ImageList) Sorting() Sorting {
	return Sorting{Base: "/project/images", Query: url.Values{}, Key: v.Sort, Asc: v.SortAsc}
}

// ImageForm creates an image record (the data follows on the upload page).
type ImageForm struct {
	Page
	Form
	DiskFormats  []Ref
	Visibilities []Ref
}

// ImageUpload is the page that sends an image's data.
type ImageUpload struct {
	Page
	ID         string
	Name       string
	DiskFormat string
	Queued     bool // data can still be uploaded
}

// KeyPairRow is one line of Project > Key Pairs.
type KeyPairRow struct {
	Name        string
	Fingerprint string
	Type        string
}

// KeyPairList is Project > Key Pairs.
type KeyPairList struct {
	Page
	KeyPairs []KeyPairRow
}

// KeyPairForm creates (Import false) or imports (Import true) a key pair.
type KeyPairForm struct {
	Page
	Form
	Import bool
}

// KeyPairCreated shows a generated private key, once.
type KeyPairCreated struct {
	Page
	Name        string
	Fingerprint string
	PrivateKey  string
}

// FlavorRow is one line of Admin > Flavors.
type FlavorRow struct {
	ID       string
	Name     string
	VCPUs    int
	RAMMB    int
	DiskGB   int
	IsPublic bool
}

// FlavorList is Admin > Flavors.
type FlavorList struct {
	Page
	Flavors []FlavorRow
	Order   ListOrder
}

// FlavorForm creates a flavor.
type FlavorForm struct {
	Page
	Form
}

// HostRow is one compute host, for Hypervisors and Compute Services.
type HostRow struct {
	Host           string
	Zone           string
	Type           string
	Up             bool
	Disabled       bool
	DisabledReason string
	VCPUs          int
	VCPUsUsed      int
	MemoryMB       int
	MemoryMBUsed   int
	DiskGB         int
	DiskGBUsed     int
	RunningVMs     int
	Updated        string
	// Load is the host's newest sample and its last hour (nil: none yet).
	Load *HostLoad
}

// HostLoad is what a host's agent last said of its load.
type HostLoad struct {
	CPUPct    float64
	Load1     float64
	MemoryKiB uint64
	UsedKiB   uint64
	Spark     string // the last hour's CPU share, an SVG path in a 120x24 box
}

// HostSpark draws a host's CPU share over the hour ending at end.
func HostSpark(samples []model.HostSample, end int64) string {
	var b strings.Builder
	const w, h, window = 120.0, 24.0, 3600
	prev := int64(0)
	for _, s := range samples {
		if s.At < end-window {
			continue
		}
		cmd := "L"
		if b.Len() == 0 || s.At-prev > 30 {
			cmd = "M"
		}
		prev = s.At
		fmt.Fprintf(&b, "%s%.1f %.1f ", cmd, w*float64(s.At-(end-window))/window, h-h*min(s.CPUPct, 100)/100)
	}
	return strings.TrimSpace(b.String())
}

// UnrecognisedRow is a domain a host reported that the database does not
// place on it; Nimbus leaves it alone for an admin to decide.
type UnrecognisedRow struct {
	Host       string
	InstanceID string
	Power      string
	ReasonKey  string // catalogue key of why
	PlacedOn   string
	FirstSeen  string
	LastSeen   string
}

// DeadLetterRow is a job or event the cloud gave up on.
type DeadLetterRow struct {
	At         string
	Stream     string
	Kind       string
	InstanceID string
	Reason     string
}

// HostList is Admin > Hypervisors and Admin > Compute Services.
type HostList struct {
	Page
	Hosts        []HostRow
	Unrecognised []UnrecognisedRow // Hypervisors only
	DeadLetters  []DeadLetterRow   // Hypervisors only: the newest
	DeadTotal    int64             // how many are kept
	// ErrorHost is the host whose disable form holds Form's errors.
	ErrorHost string
	Form      Form
}

// imageStatusKeys and imageVisibilityKeys translate Glance's words.
var (
	imageStatusKeys = map[string]string{
		"queued":      "images.status_queued",
		"saving":      "images.status_saving",
		"active":      "images.status_active",
		"killed":      "images.status_killed",
		"deleted":     "images.status_deleted",
		"deactivated": "images.status_deactivated",
		"uploading":   "images.status_uploading",
		"importing":   "images.status_importing",
	}
	imageVisibilityKeys = map[string]string{
		"public":    "images.visibility_public",
		"private":   "images.visibility_private",
		"shared":    "images.visibility_shared",
		"community": "images.visibility_community",
	}
)

// catalogueOr returns the catalogue's words for raw by keys, or raw itself
// when the catalogue has none.
func catalogueOr(ctx context.Context, keys map[string]string, raw string) string {
	if k, ok := keys[raw]; ok {
		return t(ctx, k)
	}
	return raw
}

func imageStatusText(ctx context.Context, s string) string {
	return catalogueOr(ctx, imageStatusKeys, s)
}

func imageVisibilityText(ctx context.Context, v string) string {
	return catalogueOr(ctx, imageVisibilityKeys, v)
}

// imageStatusClass colours an image's status badge.
func imageStatusClass(s string) string {
	switch s {
	case "active":
		return "bg-green-100 text-green-800"
	case "queued", "saving", "uploading", "importing":
		return "bg-amber-100 text-amber-800"
	case "killed", "deleted":
		return "bg-red-100 text-red-800"
	}
	return "bg-slate-200 text-slate-700"
}

// imageSizeText is a byte count in binary units, with the catalogue's unit names.
func imageSizeText(ctx context.Context, n int64) string {
	units := []string{"images.size_kib", "images.size_mib", "images.size_gib", "images.size_tib"}
	if n < 1024 {
		return t(ctx, "images.size_bytes", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return t(ctx, units[i], v)
}

// hostUsageText is "used / total" with the catalogue's unit.
func hostUsageText(ctx context.Context, key string, used, total int) string {
	return t(ctx, key, used, total)
}

// imageCLICommand is the openstack CLI command that creates the image with
// its data, for browsers without script.
func imageCLICommand(ctx context.Context, v ImageUpload) string {
	return t(ctx, "images.upload_cli", v.DiskFormat, shellQuote(v.Name))
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// escapeSegment escapes s for use as one segment of a URL path (key pair
// names may hold spaces).
func escapeSegment(s string) string { return url.PathEscape(s) }

// ServerGroupList is Project > Server Groups.
type ServerGroupList struct {
	Page
	Groups   []ServerGroupRow
	Policies []string
}

// ServerGroupRow is one group.
type ServerGroupRow struct {
	ID, Name, Policy string
	Members          int
}
