package views

import "strconv"

// UsagePage is Project > Usage (Servers) or Admin > Usage (Projects).
type UsagePage struct {
	Page
	Form
	All      bool
	Servers  []UsageRow
	Projects []UsageRow
	Total    UsageRow
}

// UsageRow is one instance's or project's usage in the period.
type UsageRow struct {
	ID, Name, Flavor, StateKey                   string
	VCPUs, DiskGB, MemoryMB, Instances           int
	Hours, VCPUHours, DiskGBHours, MemoryMBHours float64
}

// hours writes an amount of hours as the page shows it: two decimals.
func hours(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// usageCSVPath is where the page's table is offered as CSV.
func usageCSVPath(v UsagePage) string {
	if v.All {
		return "/admin/usage.csv"
	}
	return "/project/usage.csv"
}
