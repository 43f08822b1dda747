package views

// ProjectRow is one line of the admin project list.
type ProjectRow struct {
	ID          string
	Name        string
	Description string
	Enabled     bool
	Members     int
}

// ProjectList is the admin Projects page.
type ProjectList struct {
	Page
	Projects []ProjectRow
	Order    ListOrder
}

// ProjectForm creates or edits a project.
type ProjectForm struct {
	Page
	Form
	ID string // empty when creating
}

// MemberRow is one user's roles on a project.
type MemberRow struct {
	UserID   string
	UserName string
	Roles    []Ref
}

// ProjectMembers is the admin page of a project's role assignments.
type ProjectMembers struct {
	Page
	Form
	Project Ref
	Members []MemberRow
	Users   []Ref
	Roles   []Ref
}

// UserRow is one line of the admin user list.
type UserRow struct {
	ID             string
	Name           string
	Email          string
	Enabled        bool
	DefaultProject string
	Self           bool
}

// UserList is the admin Users page.
type UserList struct {
	Page
	Users []UserRow
	Order ListOrder
}

// UserForm creates or edits a user.
type UserForm struct {
	Page
	Form
	ID       string // empty when creating
	Projects []Ref
	Roles    []Ref
	// Assignments lists the user's roles per project (edit only).
	Assignments []ProjectRoles
}

// ProjectRoles is one project and the roles a user holds on it.
type ProjectRoles struct {
	Project Ref
	Roles   []Ref
}

// AggregateList is Admin > Host Aggregates.
type AggregateList struct {
	Page
	Aggregates []AggregateRow
	AllHosts   []string
}

// AggregateRow is one aggregate: its hosts, its metadata (key, value,
// sorted) and the hosts that may be added.
type AggregateRow struct {
	ID       int
	Name     string
	AZ       string
	Hosts    []string
	Metadata [][2]string
	Addable  []string
}
