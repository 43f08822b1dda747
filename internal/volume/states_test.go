package volume_test

import (
	"errors"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/volume"
)

// TestCheck walks the table: what each op needs of a volume, the status
// it takes meanwhile, and Cinder's refusals (delete while attached or
// with snapshots, extend to a smaller size or of an attached volume
// before 3.42, attach twice, a snapshot of an in-use volume without
// force).
func TestCheck(t *testing.T) {
	avail := volume.Volume{ID: "v", Status: volume.Available, SizeGB: 2}
	inUse := volume.Volume{ID: "v", Status: volume.InUse, SizeGB: 2, Attachments: 1}
	for _, c := range []struct {
		name string
		v    volume.Volume
		a    volume.Ask
		want volume.Status // "" : refused
	}{
		{"delete available", avail, volume.Ask{Op: volume.OpDelete}, volume.Deleting},
		{"delete error", volume.Volume{Status: volume.Error}, volume.Ask{Op: volume.OpDelete}, volume.Deleting},
		{"delete attached", inUse, volume.Ask{Op: volume.OpDelete}, ""},
		{"delete with snapshots", volume.Volume{Status: volume.Available, Snapshots: 1}, volume.Ask{Op: volume.OpDelete}, ""},
		{"delete while creating", volume.Volume{Status: volume.Creating}, volume.Ask{Op: volume.OpDelete}, ""},
		{"delete after a failed delete", volume.Volume{Status: volume.ErrorDeleting}, volume.Ask{Op: volume.OpDelete}, ""},
		{"extend", avail, volume.Ask{Op: volume.OpExtend, NewSizeGB: 3}, volume.Extending},
		{"extend to the same size", avail, volume.Ask{Op: volume.OpExtend, NewSizeGB: 2}, ""},
		{"extend smaller", avail, volume.Ask{Op: volume.OpExtend, NewSizeGB: 1}, ""},
		{"extend attached before 3.42", inUse, volume.Ask{Op: volume.OpExtend, NewSizeGB: 3}, ""},
		{"extend attached at 3.42", inUse, volume.Ask{Op: volume.OpExtend, NewSizeGB: 3, ExtendInUse: true}, volume.Extending},
		{"extend while creating", volume.Volume{Status: volume.Creating, SizeGB: 1}, volume.Ask{Op: volume.OpExtend, NewSizeGB: 3, ExtendInUse: true}, ""},
		{"attach", avail, volume.Ask{Op: volume.OpAttach}, volume.Attaching},
		{"attach twice", inUse, volume.Ask{Op: volume.OpAttach}, ""},
		{"attach while attaching", volume.Volume{Status: volume.Attaching}, volume.Ask{Op: volume.OpAttach}, ""},
		{"detach", inUse, volume.Ask{Op: volume.OpDetach}, volume.Detaching},
		{"detach a detached volume", avail, volume.Ask{Op: volume.OpDetach}, ""},
		{"snapshot available", avail, volume.Ask{Op: volume.OpSnapshot}, volume.Available},
		{"snapshot in-use", inUse, volume.Ask{Op: volume.OpSnapshot}, ""},
		{"snapshot in-use with force", inUse, volume.Ask{Op: volume.OpSnapshot, Force: true}, volume.InUse},
		{"snapshot in error", volume.Volume{Status: volume.Error}, volume.Ask{Op: volume.OpSnapshot, Force: true}, ""},
		{"unknown op", avail, volume.Ask{Op: "rename"}, ""},
	} {
		got, err := volume.Check(c.v, c.a)
		var r *volume.Refusal
		switch {
		case c.want == "" && !errors.As(err, &r):
			t.Errorf("%s: %q %v, want a refusal", c.name, got, err)
		case c.want != "" && (err != nil || got != c.want):
			t.Errorf("%s: %q %v, want %q", c.name, got, err, c.want)
		}
	}
}

// TestAfter: a failed attach or detach goes back where it began; a
// failed extend or delete is an error status.
func TestAfter(t *testing.T) {
	for _, c := range []struct {
		op   volume.Op
		ok   bool
		want volume.Status
	}{
		{volume.OpAttach, true, volume.InUse}, {volume.OpAttach, false, volume.Available},
		{volume.OpDetach, true, volume.Available}, {volume.OpDetach, false, volume.InUse},
		{volume.OpExtend, false, volume.ErrorExtend}, {volume.OpDelete, false, volume.ErrorDeleting},
	} {
		if got := volume.After(c.op, c.ok); got != c.want {
			t.Errorf("%s ok=%v: %q, want %q", c.op, c.ok, got, c.want)
		}
	}
}
