package policy_test

import (
	"sort"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// The reference is written from OpenStack's default policy descriptions
// (Keystone, Nova and Glance since their "secure RBAC" defaults), not
// from policy.go: admin anywhere is admin everywhere; reader and member
// act inside the project their token is scoped to; a user acts on
// themselves; a project token reads its own project's domain. An
// operation the reference does not know fails the test, so a new table
// entry needs a line here too.
type refRule int

const (
	refAdmin         refRule = iota // "role:admin"
	refProjectReader                // "role:reader and project_id:%(project_id)s", or admin
	refProjectMember                // "role:member and project_id:%(project_id)s", or admin
	refAdminOrUser                  // "user_id:%(user_id)s", or admin
	refUser                         // "user_id:%(user_id)s" only (Keystone's change_password)
	refAdminOrDomain                // "token.project.domain.id:%(target.domain.id)s", or admin
)

var reference = map[string]refRule{
	// Keystone: the project, user, role, domain and grant APIs are the
	// cloud admin's; a project's members read their project, a user
	// reads and lists themselves, checks and revokes their own tokens.
	"identity:list_projects": refAdmin, "identity:get_project": refProjectReader,
	"identity:create_project": refAdmin, "identity:update_project": refAdmin, "identity:delete_project": refAdmin,
	"identity:list_users": refAdmin, "identity:get_user": refAdminOrUser, "identity:create_user": refAdmin,
	"identity:update_user": refAdmin, "identity:delete_user": refAdmin, "identity:change_password": refUser,
	"identity:list_user_projects": refAdminOrUser,
	"identity:list_roles":         refAdmin, "identity:get_role": refAdmin, "identity:create_role": refAdmin,
	"identity:update_role": refAdmin, "identity:delete_role": refAdmin,
	"identity:list_domains": refAdmin, "identity:get_domain": refAdminOrDomain,
	"identity:list_grants": refAdmin, "identity:check_grant": refAdmin, "identity:create_grant": refAdmin,
	"identity:revoke_grant": refAdmin, "identity:list_role_assignments": refAdmin,
	"identity:validate_token": refAdminOrUser, "identity:revoke_token": refAdminOrUser,
	// Glance: members change their project's images, readers list them;
	// public images and every project's images are the admin's.
	"image:add_image": refProjectMember, "image:modify_image": refProjectMember, "image:upload_image": refProjectMember,
	"image:delete_image": refProjectMember, "image:publicize_image": refAdmin, "image:get_images": refProjectReader,
	"image:get_images:all_projects": refAdmin,
	// Neutron: PROJECT_READER to look, PROJECT_MEMBER to change; shared,
	// external and provider networks, port bindings, a chosen floating
	// address, SNAT and gateway addresses and quotas are ADMIN.
	"create_network": refProjectMember, "get_network": refProjectReader, "update_network": refProjectMember,
	"delete_network": refProjectMember, "create_network:shared": refAdmin, "create_network:router:external": refAdmin,
	"create_network:provider:network_type": refAdmin,
	"create_subnet":                        refProjectMember, "get_subnet": refProjectReader, "update_subnet": refProjectMember,
	"delete_subnet": refProjectMember,
	"create_port":   refProjectMember, "get_port": refProjectReader, "update_port": refProjectMember,
	"delete_port": refProjectMember, "create_port:binding:host_id": refAdmin,
	"create_security_group": refProjectMember, "get_security_group": refProjectReader,
	"update_security_group": refProjectMember, "delete_security_group": refProjectMember,
	"create_security_group_rule": refProjectMember, "get_security_group_rule": refProjectReader,
	"delete_security_group_rule": refProjectMember,
	"create_router":              refProjectMember, "get_router": refProjectReader, "update_router": refProjectMember,
	"delete_router": refProjectMember, "add_router_interface": refProjectMember,
	"remove_router_interface": refProjectMember, "create_router:external_gateway_info:enable_snat": refAdmin,
	"create_router:external_gateway_info:external_fixed_ips": refAdmin,
	"create_floatingip": refProjectMember, "get_floatingip": refProjectReader, "update_floatingip": refProjectMember,
	"delete_floatingip": refProjectMember, "create_floatingip:floating_ip_address": refAdmin,
	"get_quota": refProjectReader, "update_quota": refAdmin, "context_is_admin": refAdmin,
	// Cinder: PROJECT_READER_OR_ADMIN to look, PROJECT_MEMBER_OR_ADMIN to
	// change, ADMIN for types, quotas, hosts and other projects.
	"volume:get": refProjectReader, "volume:update": refProjectMember, "volume:get_all_tenants": refAdmin,
	"volume_extension:types_manage": refAdmin, "volume_extension:quotas:update": refAdmin,
	"volume_extension:volume_host_attribute": refAdmin,
	// Nova: PROJECT_READER_OR_ADMIN to look, PROJECT_MEMBER_OR_ADMIN to
	// change, ADMIN for hosts, quotas, flavors and other projects, and
	// "admin or owner" (the user) for key pairs.
	"os_compute_api:flavors:index": refProjectReader, "os_compute_api:os-flavor-manage": refAdmin,
	"os_compute_api:os-flavor-access": refAdmin, "os_compute_api:os-flavor-access:list_private": refAdmin,
	"os_compute_api:os-keypairs": refAdminOrUser, "os_compute_api:os-keypairs:others": refAdmin,
	"os_compute_api:servers:create": refProjectMember, "os_compute_api:servers:index": refProjectReader,
	"os_compute_api:servers:index:get_all_tenants": refAdmin, "os_compute_api:servers:show": refProjectReader,
	"os_compute_api:servers:update": refProjectMember, "os_compute_api:servers:delete": refProjectMember,
	"os_compute_api:servers:action": refProjectMember, "os_compute_api:os-remote-consoles": refProjectMember,
	"os_compute_api:os-console-output": refProjectMember, "os_compute_api:os-extended-server-attributes": refAdmin,
	"os_compute_api:servers:show:fault_details": refAdmin, "os_compute_api:os-services:update": refAdmin,
	"os_compute_api:os-hypervisors": refAdmin, "os_compute_api:os-server-diagnostics": refAdmin,
	"os_compute_api:os-simple-tenant-usage:list": refAdmin, "os_compute_api:os-simple-tenant-usage:show": refProjectReader, "os_compute_api:os-quota-sets:update": refAdmin,
	"os_compute_api:servers:allow_all_filters": refAdmin, "os_compute_api:os-instance-actions:events:details": refAdmin,
	"os_compute_api:limits:other_project": refAdmin, "os_compute_api:os-availability-zone:detail": refAdmin,
	"os_compute_api:os-lock-server:unlock:unlock_override": refAdmin, "os_compute_api:os-shelve:shelve_offload": refAdmin,
	"os_compute_api:os-admin-actions:reset_state": refAdmin,
	"os_compute_api:os-migrate-server:migrate":    refAdmin, "os_compute_api:os-migrations:index": refAdmin,
	"os_compute_api:os-aggregates:index": refAdmin, "os_compute_api:os-aggregates:update": refAdmin,
	"os_compute_api:os-server-groups:create": refProjectMember, "os_compute_api:os-server-groups:index": refProjectReader,
	"os_compute_api:os-server-groups:index:all_projects": refAdmin, "os_compute_api:os-server-groups:show": refProjectReader,
	"os_compute_api:os-server-groups:delete": refProjectMember,
	"os_compute_api:server-metadata:index":   refProjectReader, "os_compute_api:server-metadata:show": refProjectReader,
	"os_compute_api:server-metadata:create": refProjectMember, "os_compute_api:server-metadata:update": refProjectMember,
	"os_compute_api:server-metadata:update_all": refProjectMember, "os_compute_api:server-metadata:delete": refProjectMember,
	"os_compute_api:os-server-tags:index": refProjectReader, "os_compute_api:os-server-tags:show": refProjectReader,
	"os_compute_api:os-server-tags:update": refProjectMember, "os_compute_api:os-server-tags:update_all": refProjectMember,
	"os_compute_api:os-server-tags:delete": refProjectMember, "os_compute_api:os-server-tags:delete_all": refProjectMember,
	// The portal's own pages: a project's overview is its readers', the
	// admin pages the admin's.
	"portal:view_project": refProjectReader, "portal:view_admin": refAdmin,
}

// refToken is a caller as the reference sees it.
type refToken struct {
	user, project, projectDomain string
	roles                        map[string]bool // effective roles, implied ones included
}

func refAllowed(c refToken, op string, g policy.Target) bool {
	rule, ok := reference[op]
	if !ok {
		return false
	}
	scoped := c.project != ""
	admin := scoped && c.roles["admin"]
	inProject := scoped && c.project == g.ProjectID
	self := c.user != "" && c.user == g.UserID // a user is themselves only when they are someone
	switch rule {
	case refAdmin:
		return admin
	case refProjectReader:
		return admin || (inProject && (c.roles["reader"] || c.roles["member"] || c.roles["admin"]))
	case refProjectMember:
		return admin || (inProject && (c.roles["member"] || c.roles["admin"]))
	case refAdminOrUser:
		return admin || self
	case refUser:
		return self
	case refAdminOrDomain:
		return admin || (scoped && c.projectDomain != "" && c.projectDomain == g.DomainID)
	}
	return false
}

// TestReferenceCoversTable: every operation of the table has a line in
// the reference (a new operation without one fails here first).
func TestReferenceCoversTable(t *testing.T) {
	for _, op := range policy.Ops() {
		if _, ok := reference[string(op)]; !ok {
			t.Errorf("%s is in the policy table but not in the reference", op)
		}
	}
	if len(reference) != len(policy.Ops()) {
		t.Errorf("reference has %d operations, the table %d", len(reference), len(policy.Ops()))
	}
}

// FuzzPolicyAgainstReference: for any token (roles, user, project and its
// domain) x target (project, user, domain) x operation, policy.Allowed
// agrees with the reference, and Check agrees with Allowed.
func FuzzPolicyAgainstReference(f *testing.F) {
	ops := make([]string, 0, len(policy.Ops())+4)
	for _, op := range policy.Ops() {
		ops = append(ops, string(op))
	}
	sort.Strings(ops)
	ops = append(ops, "identity:nope", "", "IDENTITY:LIST_PROJECTS", "identity:list_projects ")
	users := []string{"", "u1", "u2"}
	projects := []string{"", "p1", "p2", "P1"}
	domains := []string{"", "default", "d2"}
	roleNames := []string{"reader", "member", "admin", "Admin", "observer"}
	for i := range ops {
		f.Add(uint16(i), uint8(0b00111), uint8(1), uint8(1), uint8(1), uint8(1), uint8(1), uint8(1))
	}
	f.Add(uint16(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0), uint8(0))
	f.Add(uint16(3), uint8(0b00100), uint8(1), uint8(0), uint8(0), uint8(2), uint8(2), uint8(2))
	f.Fuzz(func(t *testing.T, opIdx uint16, roleBits, tu, tp, td, gu, gp, gd uint8) {
		op := ops[int(opIdx)%len(ops)]
		c := refToken{user: users[int(tu)%len(users)], project: projects[int(tp)%len(projects)], roles: map[string]bool{}}
		if c.project != "" { // project tokens name their project's domain
			c.projectDomain = domains[int(td)%len(domains)]
		}
		for i, r := range roleNames {
			if roleBits&(1<<i) != 0 {
				c.roles[r] = true
			}
		}
		// Keystone's bootstrap: admin implies member implies reader;
		// tokens carry the effective set.
		if c.roles["admin"] {
			c.roles["member"] = true
		}
		if c.roles["member"] {
			c.roles["reader"] = true
		}
		tok := &model.Token{UserID: c.user, ProjectID: c.project, ProjDomain: model.Domain{ID: c.projectDomain}}
		for _, r := range roleNames {
			if c.roles[r] {
				tok.Roles = append(tok.Roles, model.Role{Name: r})
			}
		}
		g := policy.Target{UserID: users[int(gu)%len(users)], ProjectID: projects[int(gp)%len(projects)], DomainID: domains[int(gd)%len(domains)]}
		got, want := policy.Allowed(tok, policy.Op(op), g), refAllowed(c, op, g)
		if got != want {
			t.Fatalf("Allowed(%+v, %q, %+v) = %v, the reference says %v", *tok, op, g, got, want)
		}
		if err := policy.Check(tok, policy.Op(op), g); (err == nil) != got {
			t.Fatalf("Check(%+v, %q, %+v) = %v, Allowed says %v", *tok, op, g, err, got)
		}
	})
}
