// Package model holds the plain structs and enums that every layer shares.
// It imports nothing from the project, so any package may depend on it.
package model

import "time"

// Domain is a Keystone domain: a namespace for users and projects.
type Domain struct {
	ID          string
	Name        string
	Description string
	Enabled     bool
}

// Project is a Keystone project (a tenant): the owner of resources and quotas.
type Project struct {
	ID          string
	DomainID    string
	Name        string
	Description string
	Enabled     bool
	CreatedAt   time.Time
}

// User is a person or service account. PasswordHash never leaves the store
// and identity packages.
type User struct {
	ID               string
	DomainID         string
	Name             string
	Email            string
	Description      string
	Enabled          bool
	DefaultProjectID string
	PasswordHash     string
	CreatedAt        time.Time
}

// Role is a named role such as admin, member or reader.
type Role struct {
	ID          string
	Name        string
	Description string
}

// RoleAssignment grants Role to User on Project.
type RoleAssignment struct {
	UserID    string
	ProjectID string
	RoleID    string
	// Names are filled when the caller asks for them (include_names).
	UserName    string
	ProjectName string
	RoleName    string
	UserDomain  Domain
	ProjDomain  Domain
}

// Role names seeded at first start. Each implies the ones after it, as
// Keystone's bootstrap sets them up (admin -> member -> reader).
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleReader = "reader"
)

// DefaultDomainID is the id of the domain Keystone creates at bootstrap.
const DefaultDomainID = "default"

// Token is what a validated token says about its bearer: who, scoped to
// which project, with which roles, until when.
type Token struct {
	// Hash is the SHA-256 of the token string; the string itself is never stored.
	Hash        []byte
	UserID      string
	UserName    string
	UserDomain  Domain
	ProjectID   string // empty for an unscoped token
	ProjectName string
	ProjDomain  Domain
	Roles       []Role // effective roles, implied roles included
	Methods     []string
	IssuedAt    time.Time
	ExpiresAt   time.Time
	AuditID     string
	// AuditChain holds the audit ids of the tokens this one was made from,
	// parent first; revoking any of them revokes this one too.
	AuditChain []string
}

// HasRole reports whether the token carries the named role.
func (t *Token) HasRole(name string) bool {
	for _, r := range t.Roles {
		if r.Name == name {
			return true
		}
	}
	return false
}

// IsAdmin reports whether the token carries the admin role. As in OpenStack's
// default policy, admin on any project is admin of the whole cloud.
func (t *Token) IsAdmin() bool { return t.ProjectID != "" && t.HasRole(RoleAdmin) }
