// Package policy says who may do what. One table maps every operation of
// the API and the portal to a rule over the caller's token, following
// OpenStack's default policies: admin anywhere is admin everywhere; reader
// and member act inside their own project; a user may act on themselves.
package policy

import (
	"fmt"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

// Op names one operation, in OpenStack's policy naming.
type Op string

// Identity operations.
const (
	ListProjects     Op = "identity:list_projects"
	GetProject       Op = "identity:get_project"
	CreateProject    Op = "identity:create_project"
	UpdateProject    Op = "identity:update_project"
	DeleteProject    Op = "identity:delete_project"
	ListUsers        Op = "identity:list_users"
	GetUser          Op = "identity:get_user"
	CreateUser       Op = "identity:create_user"
	UpdateUser       Op = "identity:update_user"
	DeleteUser       Op = "identity:delete_user"
	ChangePassword   Op = "identity:change_password"
	ListUserProjects Op = "identity:list_user_projects"
	ListRoles        Op = "identity:list_roles"
	GetRole          Op = "identity:get_role"
	CreateRole       Op = "identity:create_role"
	UpdateRole       Op = "identity:update_role"
	DeleteRole       Op = "identity:delete_role"
	ListDomains      Op = "identity:list_domains"
	GetDomain        Op = "identity:get_domain"
	ListGrants       Op = "identity:list_grants"
	CheckGrant       Op = "identity:check_grant"
	CreateGrant      Op = "identity:create_grant"
	RevokeGrant      Op = "identity:revoke_grant"
	ListAssignments  Op = "identity:list_role_assignments"
	ValidateToken    Op = "identity:validate_token"
	RevokeToken      Op = "identity:revoke_token"
)

// Image operations (Glance's names). Reading is decided by visibility in
// the image service; these cover the changes.
const (
	AddImage       Op = "image:add_image"
	ModifyImage    Op = "image:modify_image"
	UploadImage    Op = "image:upload_image"
	DeleteImage    Op = "image:delete_image"
	PublicizeImage Op = "image:publicize_image"
	ListImages     Op = "image:get_images"
	// ListAllImages sees every project's private and shared images.
	ListAllImages Op = "image:get_images:all_projects"
)

// Compute operations (Nova's names).
const (
	ListFlavors        Op = "os_compute_api:flavors:index"
	ManageFlavors      Op = "os_compute_api:os-flavor-manage"
	ManageFlavorAccess Op = "os_compute_api:os-flavor-access"
	ManageKeypairs     Op = "os_compute_api:os-keypairs"
	ManageOthersKeys   Op = "os_compute_api:os-keypairs:others"
	CreateServer       Op = "os_compute_api:servers:create"
	ListServers        Op = "os_compute_api:servers:index"
	ListAllServers     Op = "os_compute_api:servers:index:get_all_tenants"
	GetServer          Op = "os_compute_api:servers:show"
	UpdateServer       Op = "os_compute_api:servers:update"
	DeleteServer       Op = "os_compute_api:servers:delete"
	ServerAction       Op = "os_compute_api:servers:action"
	RemoteConsole      Op = "os_compute_api:os-remote-consoles"
	ConsoleOutput      Op = "os_compute_api:os-console-output"
	ShowServerHost     Op = "os_compute_api:os-extended-server-attributes"
	ShowFaultDetails   Op = "os_compute_api:servers:show:fault_details"
	ManageHosts        Op = "os_compute_api:os-services:update"
	ListHosts          Op = "os_compute_api:os-hypervisors"
	ServerDiagnostics  Op = "os_compute_api:os-server-diagnostics"
	// Usage: a project's readers see their project's, admins every one's.
	ShowUsage    Op = "os_compute_api:os-simple-tenant-usage:show"
	ListUsage    Op = "os_compute_api:os-simple-tenant-usage:list"
	ManageQuotas Op = "os_compute_api:os-quota-sets:update"
	// ListPrivateFlavors sees flavors that are not public without access.
	ListPrivateFlavors Op = "os_compute_api:os-flavor-access:list_private"
	// AllServerFilters allows the list filters Nova keeps for admins
	// (host, deleted).
	AllServerFilters   Op = "os_compute_api:servers:allow_all_filters"
	ShowActionDetails  Op = "os_compute_api:os-instance-actions:events:details"
	OtherProjectLimits Op = "os_compute_api:limits:other_project"
	ZoneDetail         Op = "os_compute_api:os-availability-zone:detail"
	// OverrideLock acts on a locked instance as if it were not, and
	// unlocks what someone else locked.
	OverrideLock Op = "os_compute_api:os-lock-server:unlock:unlock_override"
	// ShelveOffload frees a shelved instance's host at once.
	ShelveOffload Op = "os_compute_api:os-shelve:shelve_offload"
	// Server groups: members create and delete their project's, readers
	// list and show them, admins see every project's.
	CreateServerGroup   Op = "os_compute_api:os-server-groups:create"
	ListServerGroups    Op = "os_compute_api:os-server-groups:index"
	ListAllServerGroups Op = "os_compute_api:os-server-groups:index:all_projects"
	ShowServerGroup     Op = "os_compute_api:os-server-groups:show"
	DeleteServerGroup   Op = "os_compute_api:os-server-groups:delete"
	// ResetState sets an instance's state by hand.
	ResetState Op = "os_compute_api:os-admin-actions:reset_state"
	// MigrateServer moves an instance to another host (cold), and
	// ListMigrations lists moves (os-migrations, /servers/{id}/migrations).
	MigrateServer  Op = "os_compute_api:os-migrate-server:migrate"
	ListMigrations Op = "os_compute_api:os-migrations:index"
	// Host aggregates: admins list and change them.
	ListAggregates   Op = "os_compute_api:os-aggregates:index"
	ManageAggregates Op = "os_compute_api:os-aggregates:update"
	// Server metadata and tags: Nova names each route's operation.
	ListServerMetadata    Op = "os_compute_api:server-metadata:index"
	ShowServerMetadata    Op = "os_compute_api:server-metadata:show"
	CreateServerMetadata  Op = "os_compute_api:server-metadata:create"
	UpdateServerMetadata  Op = "os_compute_api:server-metadata:update"
	ReplaceServerMetadata Op = "os_compute_api:server-metadata:update_all"
	DeleteServerMetadata  Op = "os_compute_api:server-metadata:delete"
	ListServerTags        Op = "os_compute_api:os-server-tags:index"
	ShowServerTag         Op = "os_compute_api:os-server-tags:show"
	AddServerTag          Op = "os_compute_api:os-server-tags:update"
	ReplaceServerTags     Op = "os_compute_api:os-server-tags:update_all"
	DeleteServerTag       Op = "os_compute_api:os-server-tags:delete"
	DeleteServerTags      Op = "os_compute_api:os-server-tags:delete_all"
)

// Networking operations (Neutron's policy names). Readers look at their
// project's resources, members change them; shared and external
// networks, provider segments, port bindings, chosen floating addresses
// and a router's SNAT are the admin's.
const (
	CreateNetwork         Op = "create_network"
	GetNetwork            Op = "get_network"
	UpdateNetwork         Op = "update_network"
	DeleteNetwork         Op = "delete_network"
	CreateSharedNetwork   Op = "create_network:shared"
	CreateExternalNetwork Op = "create_network:router:external"
	ProviderNetwork       Op = "create_network:provider:network_type"
	CreateSubnet          Op = "create_subnet"
	GetSubnet             Op = "get_subnet"
	UpdateSubnet          Op = "update_subnet"
	DeleteSubnet          Op = "delete_subnet"
	CreatePort            Op = "create_port"
	GetPort               Op = "get_port"
	UpdatePort            Op = "update_port"
	DeletePort            Op = "delete_port"
	BindPort              Op = "create_port:binding:host_id"
	CreateSecurityGroup   Op = "create_security_group"
	GetSecurityGroup      Op = "get_security_group"
	UpdateSecurityGroup   Op = "update_security_group"
	DeleteSecurityGroup   Op = "delete_security_group"
	CreateSecurityRule    Op = "create_security_group_rule"
	GetSecurityRule       Op = "get_security_group_rule"
	DeleteSecurityRule    Op = "delete_security_group_rule"
	CreateRouter          Op = "create_router"
	GetRouter             Op = "get_router"
	UpdateRouter          Op = "update_router"
	DeleteRouter          Op = "delete_router"
	AddRouterInterface    Op = "add_router_interface"
	RemoveRouterInterface Op = "remove_router_interface"
	RouterSNAT            Op = "create_router:external_gateway_info:enable_snat"
	RouterGatewayIPs      Op = "create_router:external_gateway_info:external_fixed_ips"
	CreateFloatingIP      Op = "create_floatingip"
	GetFloatingIP         Op = "get_floatingip"
	UpdateFloatingIP      Op = "update_floatingip"
	DeleteFloatingIP      Op = "delete_floatingip"
	FloatingIPAddress     Op = "create_floatingip:floating_ip_address"
	GetNetworkQuota       Op = "get_quota"
	UpdateNetworkQuota    Op = "update_quota"
	// NetworkAdmin is Neutron's context_is_admin: every project's
	// resources are visible, and resources may be made for any project.
	NetworkAdmin Op = "context_is_admin"
)

// Block storage operations (Cinder's policy names). Readers look at
// their project's volumes and snapshots, members change them; volume
// types, other projects' volumes, hosts and quotas are the admin's.
const (
	GetVolume         Op = "volume:get"
	ChangeVolume      Op = "volume:update"
	ListAllVolumes    Op = "volume:get_all_tenants"
	ManageVolumeTypes Op = "volume_extension:types_manage"
	UpdateVolumeQuota Op = "volume_extension:quotas:update"
	// VolumeHost shows which storage host keeps a volume.
	VolumeHost Op = "volume_extension:volume_host_attribute"
)

// Portal-only operations (the pages with no API of their own yet).
const (
	ViewProject Op = "portal:view_project"
	ViewAdmin   Op = "portal:view_admin"
)

// Target is what an operation acts on: the project that owns it and, for
// operations on a user, that user.
type Target struct {
	ProjectID string
	UserID    string
	DomainID  string // operations on a domain
}

// Rule decides from the caller's token and the target.
type Rule func(t *model.Token, target Target) bool

// The rules the table is made of.
var (
	// Admin: the admin role (on any project).
	Admin Rule = func(t *model.Token, _ Target) bool { return t.IsAdmin() }
	// ProjectReader: admin, or reader (or higher) in the target's project.
	ProjectReader Rule = func(t *model.Token, g Target) bool {
		return t.IsAdmin() || (t.ProjectID != "" && t.ProjectID == g.ProjectID && t.HasRole(model.RoleReader))
	}
	// ProjectMember: admin, or member (or higher) in the target's project.
	ProjectMember Rule = func(t *model.Token, g Target) bool {
		return t.IsAdmin() || (t.ProjectID != "" && t.ProjectID == g.ProjectID && t.HasRole(model.RoleMember))
	}
	// AdminOrSelf: admin, or the target user is the caller.
	AdminOrSelf Rule = func(t *model.Token, g Target) bool { return t.IsAdmin() || isSelf(t, g) }
	// AdminOrOwnDomain: admin, or the target domain is the caller's
	// project's domain (Keystone's get_domain rule for project tokens).
	AdminOrOwnDomain Rule = func(t *model.Token, g Target) bool {
		return t.IsAdmin() || (g.DomainID != "" && t.ProjDomain.ID == g.DomainID)
	}
	// Self: only the caller, never on someone's behalf.
	Self Rule = func(t *model.Token, g Target) bool { return isSelf(t, g) }
)

// isSelf: the target user is the caller, who is someone (a token or a
// Target{} without a user id is nobody's, so nobody is its "self").
func isSelf(t *model.Token, g Target) bool { return t.UserID != "" && t.UserID == g.UserID }

// table is the one place that says who may do what.
var table = map[Op]Rule{
	ListProjects:        Admin,
	GetProject:          ProjectReader,
	CreateProject:       Admin,
	UpdateProject:       Admin,
	DeleteProject:       Admin,
	ListUsers:           Admin,
	GetUser:             AdminOrSelf,
	CreateUser:          Admin,
	UpdateUser:          Admin,
	DeleteUser:          Admin,
	ChangePassword:      Self,
	ListUserProjects:    AdminOrSelf,
	ListRoles:           Admin,
	GetRole:             Admin,
	CreateRole:          Admin,
	UpdateRole:          Admin,
	DeleteRole:          Admin,
	ListDomains:         Admin,
	GetDomain:           AdminOrOwnDomain,
	ListGrants:          Admin,
	CheckGrant:          Admin,
	CreateGrant:         Admin,
	RevokeGrant:         Admin,
	ListAssignments:     Admin,
	ValidateToken:       AdminOrSelf,
	RevokeToken:         AdminOrSelf,
	AddImage:            ProjectMember,
	ModifyImage:         ProjectMember,
	UploadImage:         ProjectMember,
	DeleteImage:         ProjectMember,
	PublicizeImage:      Admin,
	ListImages:          ProjectReader,
	GetVolume:           ProjectReader,
	ChangeVolume:        ProjectMember,
	ListAllVolumes:      Admin,
	ManageVolumeTypes:   Admin,
	UpdateVolumeQuota:   Admin,
	VolumeHost:          Admin,
	ListFlavors:         ProjectReader,
	ManageFlavors:       Admin,
	ManageFlavorAccess:  Admin,
	ManageKeypairs:      AdminOrSelf,
	ManageOthersKeys:    Admin,
	CreateServer:        ProjectMember,
	ListServers:         ProjectReader,
	ListAllServers:      Admin,
	GetServer:           ProjectReader,
	UpdateServer:        ProjectMember,
	DeleteServer:        ProjectMember,
	ServerAction:        ProjectMember,
	RemoteConsole:       ProjectMember,
	ConsoleOutput:       ProjectMember,
	ShowServerHost:      Admin,
	ShowFaultDetails:    Admin,
	ManageHosts:         Admin,
	ListHosts:           Admin,
	ServerDiagnostics:   Admin,
	ShowUsage:           ProjectReader,
	ListUsage:           Admin,
	ManageQuotas:        Admin,
	ListAllImages:       Admin,
	ListPrivateFlavors:  Admin,
	AllServerFilters:    Admin,
	ShowActionDetails:   Admin,
	OtherProjectLimits:  Admin,
	ZoneDetail:          Admin,
	OverrideLock:        Admin,
	ShelveOffload:       Admin,
	ResetState:          Admin,
	MigrateServer:       Admin,
	ListMigrations:      Admin,
	ListAggregates:      Admin,
	ManageAggregates:    Admin,
	CreateServerGroup:   ProjectMember,
	ListServerGroups:    ProjectReader,
	ListAllServerGroups: Admin,
	ShowServerGroup:     ProjectReader,
	DeleteServerGroup:   ProjectMember,
	ViewProject:         ProjectReader,
	ViewAdmin:           Admin,

	// Networking: readers look, members change, admins the rest.
	CreateNetwork: ProjectMember, GetNetwork: ProjectReader, UpdateNetwork: ProjectMember, DeleteNetwork: ProjectMember,
	CreateSharedNetwork: Admin, CreateExternalNetwork: Admin, ProviderNetwork: Admin,
	CreateSubnet: ProjectMember, GetSubnet: ProjectReader, UpdateSubnet: ProjectMember, DeleteSubnet: ProjectMember,
	CreatePort: ProjectMember, GetPort: ProjectReader, UpdatePort: ProjectMember, DeletePort: ProjectMember, BindPort: Admin,
	CreateSecurityGroup: ProjectMember, GetSecurityGroup: ProjectReader, UpdateSecurityGroup: ProjectMember,
	DeleteSecurityGroup: ProjectMember, CreateSecurityRule: ProjectMember, GetSecurityRule: ProjectReader,
	DeleteSecurityRule: ProjectMember,
	CreateRouter:       ProjectMember, GetRouter: ProjectReader, UpdateRouter: ProjectMember, DeleteRouter: ProjectMember,
	AddRouterInterface: ProjectMember, RemoveRouterInterface: ProjectMember, RouterSNAT: Admin, RouterGatewayIPs: Admin,
	CreateFloatingIP: ProjectMember, GetFloatingIP: ProjectReader, UpdateFloatingIP: ProjectMember,
	DeleteFloatingIP: ProjectMember, FloatingIPAddress: Admin,
	GetNetworkQuota: ProjectReader, UpdateNetworkQuota: Admin, NetworkAdmin: Admin,

	// Server metadata and tags: readers look, members change.
	ListServerMetadata:    ProjectReader,
	ShowServerMetadata:    ProjectReader,
	CreateServerMetadata:  ProjectMember,
	UpdateServerMetadata:  ProjectMember,
	ReplaceServerMetadata: ProjectMember,
	DeleteServerMetadata:  ProjectMember,
	ListServerTags:        ProjectReader,
	ShowServerTag:         ProjectReader,
	AddServerTag:          ProjectMember,
	ReplaceServerTags:     ProjectMember,
	DeleteServerTag:       ProjectMember,
	DeleteServerTags:      ProjectMember,
}

// Allowed reports whether the token may perform op on target. An operation
// missing from the table is refused.
func Allowed(t *model.Token, op Op, target Target) bool {
	if t == nil {
		return false
	}
	rule, ok := table[op]
	return ok && rule(t, target)
}

// Check is Allowed as an error: fault.ErrForbidden when refused.
func Check(t *model.Token, op Op, target Target) error {
	if Allowed(t, op, target) {
		return nil
	}
	return fmt.Errorf("%s: %w", op, fault.ErrForbidden)
}

// Ops lists every operation in the table (tests walk it).
func Ops() []Op {
	out := make([]Op, 0, len(table))
	for op := range table {
		out = append(out, op)
	}
	return out
}
