package compute

import (
	"context"
	"errors"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/netspec"
	"github.com/nimbus-cloud/nimbus/internal/network"
	"github.com/nimbus-cloud/nimbus/internal/policy"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// Nova's os-interface: a server's network interfaces, added and taken
// away while it exists; the host hot-plugs them into a running guest.

// nicChangeTimeout bounds waiting for the host to plug or unplug a NIC
// (its datapath first waits for the port in its document).
const nicChangeTimeout = 60 * time.Second

// Interfaces returns a server and the ports bound to it.
func (s *Service) Interfaces(ctx context.Context, caller *model.Token, id string) (model.Instance, []model.Port, error) {
	in, err := s.Get(ctx, caller, id)
	if err != nil || s.opt.Network == nil {
		return in, nil, err
	}
	ports, err := s.opt.Network.InstancePorts(ctx, in)
	return in, ports, err
}

// interfaceTarget is a server whose interfaces may change now: active,
// paused or stopped, with no task (Nova's states for attach and detach).
func (s *Service) interfaceTarget(ctx context.Context, caller *model.Token, id, what string) (model.Instance, error) {
	in, err := s.Get(ctx, caller, id)
	if err != nil {
		return in, err
	}
	if err := policy.Check(caller, policy.ServerAction, policy.Target{ProjectID: in.ProjectID}); err != nil {
		return in, err
	}
	if s.opt.Network == nil {
		return in, fault.Invalid("networks", "This cloud has no networking")
	}
	switch in.VMState {
	case model.VMActive, model.VMPaused, model.VMStopped:
	default:
		return in, fault.Conflict("Cannot '%s' instance %s while it is in vm_state %s", what, id, in.VMState)
	}
	if in.TaskState != model.TaskNone {
		return in, fault.Conflict("Cannot '%s' instance %s while it is in task_state %s", what, id, in.TaskState)
	}
	return in, nil
}

// plugNIC asks the instance's host to plug or unplug a NIC.
func (s *Service) plugNIC(ctx context.Context, in model.Instance, nic model.NIC, plug bool) error {
	if in.Host == "" || s.opt.RDB == nil {
		return nil // nowhere to plug it: the next build on a host has it
	}
	kind := queue.CallUnplugNIC
	if plug {
		kind = queue.CallPlugNIC
	}
	rep, err := queue.Call(ctx, s.opt.RDB, s.opt.RedisPrefix, in.Host, queue.Request{Kind: kind, InstanceID: in.ID,
		NIC: &queue.NIC{PortID: nic.PortID, MAC: nic.MAC, Device: netspec.TapDevice(nic.PortID), MTU: nic.MTU}}, nicChangeTimeout)
	if errors.Is(err, queue.ErrNoReply) {
		return fault.Conflict("The compute host of instance %s did not answer; try again later.", in.ID)
	}
	if err != nil {
		return err
	}
	if rep.Error != "" {
		s.log.Warn("NIC change", "instance_id", in.ID, "host", in.Host, "plug", plug, "error", rep.Error)
		return fault.Conflict("Failed to %s the interface of instance %s on its host.", map[bool]string{true: "attach", false: "detach"}[plug], in.ID)
	}
	return nil
}

// AttachInterface adds a port to a server (made on a network, or the one
// given) and hot-plugs it; when the host cannot, nothing is kept.
func (s *Service) AttachInterface(ctx context.Context, caller *model.Token, id string, r network.NICRequest) (model.Port, error) {
	in, err := s.interfaceTarget(ctx, caller, id, "attach_interface")
	if err != nil {
		return model.Port{}, err
	}
	p, err := s.opt.Network.AttachInterface(ctx, caller, in, r)
	if err != nil {
		return p, err
	}
	after, err := s.store.Instance(ctx, in.ID)
	if err != nil {
		return p, err
	}
	var nic model.NIC
	for _, n := range after.NICs {
		if n.PortID == p.ID {
			nic = n
		}
	}
	if err := s.plugNIC(ctx, after, nic, true); err != nil {
		if derr := s.opt.Network.DetachInterface(context.WithoutCancel(ctx), after, p.ID); derr != nil {
			s.log.Warn("undo an interface the host could not plug", "instance_id", in.ID, "port_id", p.ID, "error", derr)
		}
		return p, err
	}
	return p, nil
}

// DetachInterface unplugs a port from a server, then deletes it (Nova
// made it) or unbinds it.
func (s *Service) DetachInterface(ctx context.Context, caller *model.Token, id, portID string) error {
	in, err := s.interfaceTarget(ctx, caller, id, "detach_interface")
	if err != nil {
		return err
	}
	for _, n := range in.NICs {
		if n.PortID == portID {
			if err := s.plugNIC(ctx, in, n, false); err != nil {
				return err
			}
			return s.opt.Network.DetachInterface(ctx, in, portID)
		}
	}
	return fault.NotFound("Port %s is not attached", portID)
}
