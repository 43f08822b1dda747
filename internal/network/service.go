// Package network is Nimbus's Neutron: networks and their segments,
// subnets and IP address management, ports, security groups, routers and
// floating IPs, with Neutron's rules and quotas. It keeps the desired
// state in PostgreSQL; the hosts' datapaths follow it (netspec).
package network

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// Options are the operator's choices (Neutron's ML2 configuration).
type Options struct {
	// TenantNetworkType is the type of networks projects create
	// (vxlan, vlan or local).
	TenantNetworkType string
	// VNIs and VLANs are the ranges tenant segments are taken from; VLANs
	// on TenantPhysicalNetwork.
	VNIs                  Range
	VLANs                 Range
	TenantPhysicalNetwork string
	// PhysicalNetworks are the names flat and VLAN provider networks may
	// use (each host maps them to an interface).
	PhysicalNetworks []string
	// MTU is the physical networks' MTU; VXLAN networks get 50 less.
	MTU int
	// Changed is told after each committed change that may alter a
	// host's datapath (nil: nobody listens).
	Changed func(ctx context.Context)
}

// Range is an inclusive range of segmentation ids.
type Range struct{ Min, Max int }

// Service is the networking domain service.
type Service struct {
	store *store.Store
	log   *slog.Logger
	opts  Options
}

// New returns a Service.
func New(st *store.Store, log *slog.Logger, opts Options) *Service {
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	if opts.TenantNetworkType == "" {
		opts.TenantNetworkType = "vxlan"
	}
	if opts.VNIs == (Range{}) {
		opts.VNIs = Range{1, 1000}
	}
	return &Service{store: st, log: log.With("component", "network"), opts: opts}
}

// Error is a Neutron fault: the condition (fault's sentinels give the
// HTTP status) and Neutron's name for it ("NetworkNotFound"), which its
// clients read from the NeutronError body.
type Error struct {
	Type string
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func notFound(kind, id string) error {
	return &Error{Type: kind + "NotFound", Err: fault.NotFound("%s %s could not be found.", spaced(kind), id)}
}

func conflict(typ, format string, args ...any) error {
	return &Error{Type: typ, Err: fault.Conflict(format, args...)}
}

func badRequest(format string, args ...any) error {
	return &Error{Type: "HTTPBadRequest", Err: fault.Invalid("", format, args...)}
}

// invalidInput is Neutron's InvalidInput: "Invalid input for operation: ...".
func invalidInput(format string, args ...any) error {
	return &Error{Type: "InvalidInput", Err: fault.Invalid("", "Invalid input for operation: "+format, args...)}
}

func spaced(kind string) string {
	switch kind {
	case "SecurityGroup":
		return "Security group"
	case "SecurityGroupRule":
		return "Security group rule"
	case "FloatingIP":
		return "Floating IP"
	}
	return kind
}

// forbidden is a policy refusal naming the rule, as Neutron words it.
func forbidden(op policy.Op) error {
	return &Error{Type: "PolicyNotAuthorized", Err: fmt.Errorf("rule:%s is disallowed by policy: %w", op, fault.ErrForbidden)}
}

func check(caller *model.Token, op policy.Op, project string) error {
	if !policy.Allowed(caller, op, policy.Target{ProjectID: project}) {
		return forbidden(op)
	}
	return nil
}

// ownerOf is the project a new resource belongs to: the caller's, or the
// one an admin names.
func ownerOf(caller *model.Token, asked string) (string, error) {
	if asked == "" || asked == caller.ProjectID {
		return caller.ProjectID, nil
	}
	if !policy.Allowed(caller, policy.NetworkAdmin, policy.Target{}) {
		return "", &Error{Type: "HTTPBadRequest", Err: fault.Invalid("project_id",
			"Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges")}
	}
	return asked, nil
}

// visibleProject is the project whose resources a listing shows: the
// caller's, or every project's ("") for an admin.
func visibleProject(caller *model.Token) string {
	if policy.Allowed(caller, policy.NetworkAdmin, policy.Target{}) {
		return ""
	}
	return caller.ProjectID
}

// quota takes n more of resource in project, inside tx after LockQuota;
// Neutron answers an exceeded quota with 409 OverQuota.
func quota(ctx context.Context, tx *store.Store, project, resource string, n int,
	count func(context.Context, string) (int, error)) error {
	limits, _, err := tx.LockQuota(ctx, project)
	if err != nil {
		if orNotFound(err, nil) == nil {
			return nil // a project Keystone no longer has: nothing to count against
		}
		return err
	}
	l, ok := limits[resource]
	if !ok || l < 0 {
		return nil
	}
	used, err := count(ctx, project)
	if err != nil {
		return err
	}
	if used+n > l {
		return &Error{Type: "OverQuota", Err: fmt.Errorf("Quota exceeded for resources: ['%s']: %w", resource,
			&fault.OverQuota{Resource: resource, Limit: l, Used: used, Requested: n})}
	}
	return nil
}

// changed tells the datapath side that desired state moved.
// HostsChanged tells the service that ports moved between hosts (an
// instance placed): the hosts' datapath documents are due.
func (s *Service) HostsChanged(ctx context.Context) { s.changed(ctx) }

func (s *Service) changed(ctx context.Context) {
	if s.opts.Changed != nil {
		s.opts.Changed(context.WithoutCancel(ctx))
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// orNotFound words the store's bare "no such row" as the resource the
// caller asked for; a not-found the service already worded (another
// resource named in the request) keeps its own words.
func orNotFound(err, as error) error {
	if err == store.ErrNotFound {
		return as
	}
	return err
}
