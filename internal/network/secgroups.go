package network

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// GroupInput is a security group's create or update body.
type GroupInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Stateful    *bool   `json:"stateful"`
	ProjectID   string  `json:"project_id"`
	TenantID    string  `json:"tenant_id"`
}

// RuleInput is a security group rule's create body.
type RuleInput struct {
	GroupID        *string `json:"security_group_id"`
	Direction      *string `json:"direction"`
	Ethertype      *string `json:"ethertype"`
	Protocol       *any    `json:"protocol"`
	PortRangeMin   *int    `json:"port_range_min"`
	PortRangeMax   *int    `json:"port_range_max"`
	RemoteIPPrefix *string `json:"remote_ip_prefix"`
	RemoteGroupID  *string `json:"remote_group_id"`
	Description    *string `json:"description"`
	ProjectID      string  `json:"project_id"`
	TenantID       string  `json:"tenant_id"`
}

// defaultRules are Neutron's rules of a project's default group: all
// egress, and ingress from the group's own members.
func defaultRules(g model.SecurityGroup) []model.SecurityGroupRule {
	var rs []model.SecurityGroupRule
	for _, et := range []string{"IPv4", "IPv6"} {
		rs = append(rs,
			model.SecurityGroupRule{ID: uuid.NewString(), GroupID: g.ID, ProjectID: g.ProjectID, Direction: "egress", Ethertype: et},
			model.SecurityGroupRule{ID: uuid.NewString(), GroupID: g.ID, ProjectID: g.ProjectID, Direction: "ingress", Ethertype: et,
				RemoteGroupID: g.ID})
	}
	return rs
}

// defaultGroup returns the project's default group, making it (with its
// rules, outside the quota, as Neutron does) on first use, inside tx.
func (s *Service) defaultGroup(ctx context.Context, tx *store.Store, project string) (model.SecurityGroup, error) {
	g, err := tx.DefaultSecurityGroup(ctx, project)
	if !errors.Is(err, store.ErrNotFound) {
		return g, err
	}
	if err := tx.LockProjectGroups(ctx, project); err != nil {
		return g, err
	}
	if g, err = tx.DefaultSecurityGroup(ctx, project); !errors.Is(err, store.ErrNotFound) {
		return g, err
	}
	g = model.SecurityGroup{ID: uuid.NewString(), ProjectID: project, Name: "default",
		Description: "Default security group", IsDefault: true, Stateful: true}
	if err := tx.CreateSecurityGroup(ctx, g); err != nil {
		return g, err
	}
	for _, r := range defaultRules(g) {
		if err := tx.CreateSecurityGroupRule(ctx, r); err != nil {
			return g, err
		}
	}
	return tx.DefaultSecurityGroup(ctx, project)
}

// defaultGroupID is defaultGroup's id, in one query once it exists.
func (s *Service) defaultGroupID(ctx context.Context, tx *store.Store, project string) (string, error) {
	id, err := tx.DefaultSecurityGroupID(ctx, project)
	if !errors.Is(err, store.ErrNotFound) {
		return id, err
	}
	g, err := s.defaultGroup(ctx, tx, project)
	return g.ID, err
}

// EnsureDefaultGroup makes the caller's project's default group if it has
// none yet (listing groups shows it, as in Neutron).
func (s *Service) EnsureDefaultGroup(ctx context.Context, project string) error {
	if project == "" {
		return nil
	}
	if _, err := s.store.DefaultSecurityGroup(ctx, project); !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return s.store.Tx(ctx, func(tx *store.Store) error {
		_, err := s.defaultGroup(ctx, tx, project)
		return err
	})
}

// CreateSecurityGroup makes a group with Neutron's two egress rules.
func (s *Service) CreateSecurityGroup(ctx context.Context, caller *model.Token, in GroupInput) (model.SecurityGroup, error) {
	project, err := ownerOf(caller, firstNonEmpty(in.ProjectID, in.TenantID))
	if err != nil {
		return model.SecurityGroup{}, err
	}
	if err := check(caller, policy.CreateSecurityGroup, project); err != nil {
		return model.SecurityGroup{}, err
	}
	if err := texts(in.Name, in.Description); err != nil {
		return model.SecurityGroup{}, err
	}
	g := model.SecurityGroup{ID: uuid.NewString(), ProjectID: project, Stateful: true}
	set(&g.Name, in.Name)
	set(&g.Description, in.Description)
	set(&g.Stateful, in.Stateful)
	if g.Name == "default" {
		return g, conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if _, err := s.defaultGroup(ctx, tx, project); err != nil {
			return err
		}
		if err := quota(ctx, tx, project, "security_group", 1, tx.CountSecurityGroups); err != nil {
			return err
		}
		if err := tx.CreateSecurityGroup(ctx, g); err != nil {
			return err
		}
		for _, et := range []string{"IPv4", "IPv6"} {
			r := model.SecurityGroupRule{ID: uuid.NewString(), GroupID: g.ID, ProjectID: project, Direction: "egress", Ethertype: et}
			if err := tx.CreateSecurityGroupRule(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return g, err
	}
	return s.store.SecurityGroup(ctx, g.ID)
}

// visibleGroup is a group of the caller's project (an admin: any).
func (s *Service) visibleGroup(ctx context.Context, caller *model.Token, id string) (model.SecurityGroup, error) {
	g, err := s.store.SecurityGroup(ctx, id)
	if err == nil && !policy.Allowed(caller, policy.GetSecurityGroup, policy.Target{ProjectID: g.ProjectID}) {
		err = store.ErrNotFound
	}
	if err != nil {
		return g, orNotFound(err, notFound("SecurityGroup", id))
	}
	return g, nil
}

// SecurityGroup returns a group the caller may see.
func (s *Service) SecurityGroup(ctx context.Context, caller *model.Token, id string) (model.SecurityGroup, error) {
	return s.visibleGroup(ctx, caller, id)
}

// SecurityGroups lists the caller's project's groups (making its default
// group first), every project's for an admin.
func (s *Service) SecurityGroups(ctx context.Context, caller *model.Token) ([]model.SecurityGroup, error) {
	if err := check(caller, policy.GetSecurityGroup, caller.ProjectID); err != nil {
		return nil, err
	}
	if err := s.EnsureDefaultGroup(ctx, caller.ProjectID); err != nil {
		return nil, err
	}
	return s.store.SecurityGroups(ctx, visibleProject(caller))
}

// UpdateSecurityGroup renames a group; the default one keeps its name.
func (s *Service) UpdateSecurityGroup(ctx context.Context, caller *model.Token, id string, in GroupInput) (model.SecurityGroup, error) {
	g, err := s.visibleGroup(ctx, caller, id)
	if err != nil {
		return g, err
	}
	if err := check(caller, policy.UpdateSecurityGroup, g.ProjectID); err != nil {
		return g, err
	}
	if err := texts(in.Name, in.Description); err != nil {
		return g, err
	}
	if in.Name != nil && (*in.Name == "default") != g.IsDefault {
		if g.IsDefault {
			return g, conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
		}
		return g, conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
	}
	set(&g.Name, in.Name)
	set(&g.Description, in.Description)
	set(&g.Stateful, in.Stateful)
	if err := s.store.UpdateSecurityGroup(ctx, g); err != nil {
		return g, orNotFound(err, notFound("SecurityGroup", id))
	}
	s.changed(ctx)
	return s.store.SecurityGroup(ctx, id)
}

// DeleteSecurityGroup removes a group no port uses; the default group
// only an admin removes.
func (s *Service) DeleteSecurityGroup(ctx context.Context, caller *model.Token, id string) error {
	g, err := s.visibleGroup(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := check(caller, policy.DeleteSecurityGroup, g.ProjectID); err != nil {
		return err
	}
	if g.IsDefault && !policy.Allowed(caller, policy.NetworkAdmin, policy.Target{}) {
		return conflict("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
	}
	err = s.store.DeleteSecurityGroup(ctx, id)
	if errors.Is(err, store.ErrConflict) {
		return conflict("SecurityGroupInUse", "Security Group %s in use.", id)
	}
	if err != nil {
		return orNotFound(err, notFound("SecurityGroup", id))
	}
	s.changed(ctx)
	return nil
}

// protocols are the names Neutron takes for IP protocol numbers.
var protocols = map[string]int{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
	"ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "dccp": 33, "udplite": 136, "vrrp": 112, "ipip": 4, "ospf": 89, "pgm": 113}

// portProtocols take port ranges.
var portProtocols = map[string]bool{"tcp": true, "udp": true, "sctp": true, "dccp": true, "udplite": true,
	"6": true, "17": true, "132": true, "33": true, "136": true}

// CreateSecurityGroupRule adds a rule to a group of the caller's project.
func (s *Service) CreateSecurityGroupRule(ctx context.Context, caller *model.Token, in RuleInput) (model.SecurityGroupRule, error) {
	if in.GroupID == nil {
		return model.SecurityGroupRule{}, badRequest("Invalid input for operation: security_group_id is required.")
	}
	g, err := s.visibleGroup(ctx, caller, *in.GroupID)
	if err != nil {
		return model.SecurityGroupRule{}, err
	}
	if err := check(caller, policy.CreateSecurityRule, g.ProjectID); err != nil {
		return model.SecurityGroupRule{}, err
	}
	r, err := ruleOf(g, in)
	if err != nil {
		return r, err
	}
	if r.RemoteGroupID != "" {
		if _, err := s.visibleGroup(ctx, caller, r.RemoteGroupID); err != nil {
			return r, err
		}
	}
	err = s.store.Tx(ctx, func(tx *store.Store) error {
		if err := quota(ctx, tx, g.ProjectID, "security_group_rule", 1, tx.CountSecurityGroupRules); err != nil {
			return err
		}
		return tx.CreateSecurityGroupRule(ctx, r)
	})
	if errors.Is(err, store.ErrDuplicate) {
		id := ""
		if cur, lerr := s.store.SecurityGroup(ctx, g.ID); lerr == nil {
			for _, o := range cur.Rules {
				if sameRule(o, r) {
					id = o.ID
				}
			}
		}
		return r, conflict("SecurityGroupRuleExists", "Security group rule already exists. Rule id is %s.", id)
	}
	if err != nil {
		return r, orNotFound(err, notFound("SecurityGroup", g.ID))
	}
	s.changed(ctx)
	return s.store.SecurityGroupRule(ctx, r.ID)
}

func sameRule(a, b model.SecurityGroupRule) bool {
	eq := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return a.Direction == b.Direction && a.Ethertype == b.Ethertype && a.Protocol == b.Protocol &&
		eq(a.PortRangeMin, b.PortRangeMin) && eq(a.PortRangeMax, b.PortRangeMax) &&
		a.RemoteIPPrefix == b.RemoteIPPrefix && a.RemoteGroupID == b.RemoteGroupID
}

// ruleOf checks a rule body as Neutron does and gives the rule to store.
func ruleOf(g model.SecurityGroup, in RuleInput) (model.SecurityGroupRule, error) {
	r := model.SecurityGroupRule{ID: uuid.NewString(), GroupID: g.ID, ProjectID: g.ProjectID, Ethertype: "IPv4"}
	if in.Direction == nil || (*in.Direction != "ingress" && *in.Direction != "egress") {
		d := "None"
		if in.Direction != nil {
			d = *in.Direction
		}
		return r, invalidInput("'%s' is not in ['ingress', 'egress'].", d)
	}
	r.Direction = *in.Direction
	if in.Ethertype != nil {
		switch strings.ToLower(*in.Ethertype) {
		case "ipv4":
			r.Ethertype = "IPv4"
		case "ipv6":
			r.Ethertype = "IPv6"
		default:
			return r, invalidInput("'%s' is not in ['IPv4', 'IPv6'].", *in.Ethertype)
		}
	}
	if in.Description != nil {
		if err := texts(nil, in.Description); err != nil {
			return r, err
		}
		r.Description = *in.Description
	}
	if in.Protocol != nil && *in.Protocol != nil {
		switch v := (*in.Protocol).(type) {
		case string:
			r.Protocol = strings.ToLower(v)
		case float64:
			r.Protocol = strconv.Itoa(int(v))
		default:
			return r, &Error{Type: "SecurityGroupRuleInvalidProtocol", Err: fault.Invalid("protocol", "Security group rule protocol %v not supported.", v)}
		}
		if r.Protocol == "any" {
			r.Protocol = ""
		}
		if n, err := strconv.Atoi(r.Protocol); err == nil {
			if n < 0 || n > 255 {
				return r, &Error{Type: "SecurityGroupRuleInvalidProtocol", Err: fault.Invalid("protocol", "Security group rule protocol %s not supported. Only protocol values [None, tcp, udp, icmp, icmpv6] and integer representations [0 to 255] are supported.", r.Protocol)}
			}
		} else if _, ok := protocols[r.Protocol]; !ok && r.Protocol != "" {
			return r, &Error{Type: "SecurityGroupRuleInvalidProtocol", Err: fault.Invalid("protocol", "Security group rule protocol %s not supported. Only protocol values [None, tcp, udp, icmp, icmpv6] and integer representations [0 to 255] are supported.", r.Protocol)}
		}
		if r.Protocol == "icmp" && r.Ethertype == "IPv6" {
			r.Protocol = "ipv6-icmp"
		}
	}
	r.PortRangeMin, r.PortRangeMax = in.PortRangeMin, in.PortRangeMax
	// Each value is a port first (Neutron's attribute check), whatever
	// the protocol; then the protocol's own rules.
	for _, v := range []*int{r.PortRangeMin, r.PortRangeMax} {
		if v != nil && (*v < 0 || *v > 65535) {
			return r, &Error{Type: "InvalidInput", Err: fault.Invalid("port_range_min", "Invalid value for port %d", *v)}
		}
	}
	if r.PortRangeMin != nil || r.PortRangeMax != nil {
		switch {
		case portProtocols[r.Protocol]:
			for _, v := range []*int{r.PortRangeMin, r.PortRangeMax} {
				if v != nil && *v == 0 {
					return r, &Error{Type: "SecurityGroupInvalidPortValue", Err: fault.Invalid("port_range_min", "Invalid value for port 0")}
				}
			}
			if r.PortRangeMin == nil || r.PortRangeMax == nil || *r.PortRangeMin > *r.PortRangeMax {
				return r, &Error{Type: "SecurityGroupInvalidPortRange", Err: fault.Invalid("port_range_min",
					"For TCP/UDP protocols, port_range_min must be <= port_range_max")}
			}
		case r.Protocol == "icmp" || r.Protocol == "1" || r.Protocol == "ipv6-icmp" || r.Protocol == "icmpv6" || r.Protocol == "58":
			if r.PortRangeMin == nil && r.PortRangeMax != nil {
				return r, &Error{Type: "SecurityGroupMissingIcmpType", Err: fault.Invalid("port_range_min",
					"ICMP code (port-range-max) %d is provided but ICMP type (port-range-min) is missing.", *r.PortRangeMax)}
			}
			for _, f := range []struct {
				v           *int
				field, attr string
			}{{r.PortRangeMin, "type", "port_range_min"}, {r.PortRangeMax, "code", "port_range_max"}} {
				if f.v != nil && *f.v > 255 {
					return r, &Error{Type: "SecurityGroupInvalidIcmpValue", Err: fault.Invalid(f.attr,
						"Invalid value for ICMP %s (%s) %d. It must be 0 to 255.", f.field, f.attr, *f.v)}
				}
			}
		default:
			return r, &Error{Type: "SecurityGroupInvalidPortRange", Err: fault.Invalid("port_range_min",
				"Invalid protocol %q for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.", r.Protocol)}
		}
	}
	if in.RemoteIPPrefix != nil && *in.RemoteIPPrefix != "" {
		if in.RemoteGroupID != nil && *in.RemoteGroupID != "" {
			return r, &Error{Type: "SecurityGroupRemoteGroupAndRemoteIpPrefix", Err: fault.Invalid("remote_ip_prefix",
				"Only remote_ip_prefix or remote_group_id may be provided.")}
		}
		p, err := netip.ParsePrefix(*in.RemoteIPPrefix)
		if err != nil {
			a, aerr := netip.ParseAddr(*in.RemoteIPPrefix)
			if aerr != nil {
				return r, invalidInput("'%s' is not a valid IP subnet.", *in.RemoteIPPrefix)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if (p.Addr().Is4() && r.Ethertype != "IPv4") || (!p.Addr().Is4() && r.Ethertype != "IPv6") {
			return r, &Error{Type: "SecurityGroupRuleParameterConflict", Err: fault.Invalid("remote_ip_prefix",
				"Conflicting value ethertype %s for CIDR %s", r.Ethertype, *in.RemoteIPPrefix)}
		}
		r.RemoteIPPrefix = p.Masked().String()
	}
	if in.RemoteGroupID != nil && *in.RemoteGroupID != "" {
		r.RemoteGroupID = *in.RemoteGroupID
	}
	return r, nil
}

// SecurityGroupRule returns a rule of a group the caller may see.
func (s *Service) SecurityGroupRule(ctx context.Context, caller *model.Token, id string) (model.SecurityGroupRule, error) {
	r, err := s.store.SecurityGroupRule(ctx, id)
	if err == nil && !policy.Allowed(caller, policy.GetSecurityRule, policy.Target{ProjectID: r.ProjectID}) {
		err = store.ErrNotFound
	}
	if err != nil {
		return r, orNotFound(err, notFound("SecurityGroupRule", id))
	}
	return r, nil
}

// SecurityGroupRules lists the rules of the groups the caller sees.
func (s *Service) SecurityGroupRules(ctx context.Context, caller *model.Token) ([]model.SecurityGroupRule, error) {
	if err := check(caller, policy.GetSecurityRule, caller.ProjectID); err != nil {
		return nil, err
	}
	if err := s.EnsureDefaultGroup(ctx, caller.ProjectID); err != nil {
		return nil, err
	}
	return s.store.SecurityGroupRules(ctx, visibleProject(caller))
}

// DeleteSecurityGroupRule removes a rule.
func (s *Service) DeleteSecurityGroupRule(ctx context.Context, caller *model.Token, id string) error {
	r, err := s.SecurityGroupRule(ctx, caller, id)
	if err != nil {
		return err
	}
	if err := check(caller, policy.DeleteSecurityRule, r.ProjectID); err != nil {
		return err
	}
	if err := s.store.DeleteSecurityGroupRule(ctx, id); err != nil {
		return orNotFound(err, notFound("SecurityGroupRule", id))
	}
	s.changed(ctx)
	return nil
}
