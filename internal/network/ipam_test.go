package network

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/model"
)

func pools(ps ...string) []model.AllocationPool {
	var out []model.AllocationPool
	for i := 0; i < len(ps); i += 2 {
		out = append(out, model.AllocationPool{Start: ps[i], End: ps[i+1]})
	}
	return out
}

func TestParseCIDR(t *testing.T) {
	for _, c := range []struct {
		cidr    string
		version int
		ok      bool
	}{
		{"10.0.0.0/24", 4, true}, {"10.0.0.5/24", 4, false}, {"10.0.0.0/33", 4, false}, {"fd00::/64", 6, true},
		{"fd00::/64", 4, false}, {"10.0.0.0/24", 6, false}, {"bogus", 4, false}, {"10.0.0.0/31", 4, false},
	} {
		_, err := parseCIDR(c.cidr, c.version)
		if (err == nil) != c.ok {
			t.Errorf("parseCIDR(%q, %d): err %v, want ok=%v", c.cidr, c.version, err, c.ok)
		}
		var v *fault.Validation
		if err != nil && !errors.As(err, &v) {
			t.Errorf("parseCIDR(%q): %v is not a 400", c.cidr, err)
		}
	}
}

func TestDefaultPools(t *testing.T) {
	p := netip.MustParsePrefix("10.0.0.0/24")
	if got, want := defaultPools(p, netip.MustParseAddr("10.0.0.1")), pools("10.0.0.2", "10.0.0.254"); !reflect.DeepEqual(got, want) {
		t.Errorf("gateway first: %v, want %v", got, want)
	}
	if got, want := defaultPools(p, netip.MustParseAddr("10.0.0.100")), pools("10.0.0.1", "10.0.0.99", "10.0.0.101", "10.0.0.254"); !reflect.DeepEqual(got, want) {
		t.Errorf("gateway inside: %v, want %v", got, want)
	}
	if got, want := defaultPools(p, netip.Addr{}), pools("10.0.0.1", "10.0.0.254"); !reflect.DeepEqual(got, want) {
		t.Errorf("no gateway: %v, want %v", got, want)
	}
	if got, want := defaultPools(netip.MustParsePrefix("fd00::/126"), netip.MustParseAddr("fd00::1")), pools("fd00::2", "fd00::3"); !reflect.DeepEqual(got, want) {
		t.Errorf("IPv6 keeps the last address: %v, want %v", got, want)
	}
}

func TestCheckPools(t *testing.T) {
	p, gw := netip.MustParsePrefix("10.0.0.0/24"), netip.MustParseAddr("10.0.0.1")
	for name, c := range map[string]struct {
		pools []model.AllocationPool
		kind  error
	}{
		"fine":              {pools("10.0.0.10", "10.0.0.20", "10.0.0.30", "10.0.0.40"), nil},
		"outside":           {pools("10.0.1.10", "10.0.1.20"), fault.ErrNotFound},
		"broadcast":         {pools("10.0.0.10", "10.0.0.255"), fault.ErrNotFound},
		"backwards":         {pools("10.0.0.20", "10.0.0.10"), fault.ErrNotFound},
		"overlap":           {pools("10.0.0.10", "10.0.0.20", "10.0.0.15", "10.0.0.40"), fault.ErrNotFound},
		"holds the gateway": {pools("10.0.0.1", "10.0.0.20"), fault.ErrConflict},
		"not an address":    {pools("x", "10.0.0.20"), fault.ErrNotFound},
	} {
		err := checkPools(p, gw, c.pools)
		var v *fault.Validation
		switch {
		case c.kind == nil && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.kind == fault.ErrNotFound && !errors.As(err, &v): // stands for 400 here
			t.Errorf("%s: got %v, want a 400", name, err)
		case c.kind == fault.ErrConflict && !errors.Is(err, fault.ErrConflict):
			t.Errorf("%s: got %v, want a 409", name, err)
		}
	}
}

func TestFirstFree(t *testing.T) {
	ps := pools("10.0.0.2", "10.0.0.4", "10.0.0.10", "10.0.0.10")
	gw := netip.MustParseAddr("10.0.0.1")
	var used []netip.Addr
	var got []string
	for {
		a, ok := firstFree(ps, used, gw)
		if !ok {
			break
		}
		got = append(got, a.String())
		used = append(used, a)
	}
	if want := []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("allocated %v, want %v then exhaustion", got, want)
	}
	// A hole left by a released address is found again.
	a, ok := firstFree(ps, []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.4")}, gw)
	if !ok || a.String() != "10.0.0.3" {
		t.Errorf("hole: got %v %v, want 10.0.0.3", a, ok)
	}
}

func TestRandomMAC(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		m := randomMAC()
		if len(m) != 17 || m[:9] != "fa:16:3e:" {
			t.Fatalf("mac %q", m)
		}
		seen[m] = true
	}
	if len(seen) < 95 {
		t.Errorf("only %d distinct MACs of 100", len(seen))
	}
}
