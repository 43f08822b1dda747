package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/model"
	"github.com/nimbus-cloud/nimbus/internal/store"
)

// TestInstanceTags (migration 009): tags come back sorted with the
// instance, every change moves updated_at (which keys the API's cached
// renderings), a removal of a tag it has not is ErrNotFound, the table
// refuses tags over 60 characters, and an instance's tags go with it.
func TestInstanceTags(t *testing.T) {
	ctx := context.Background()
	pool, st := newStore(t)
	if _, err := pool.Exec(ctx, `INSERT INTO domains (id, name) VALUES ('d', 'd');
		INSERT INTO projects (id, domain_id, name) VALUES ('p', 'd', 'p')`); err != nil {
		t.Fatal(err)
	}
	in := model.Instance{ID: uuid.NewString(), ProjectID: "p", UserID: "u", Name: "vm", FlavorID: "1", FlavorName: "m1.tiny",
		VMState: model.VMActive}
	if err := st.InsertInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	last, _ := st.Instance(ctx, in.ID)
	check := func(what string, want ...string) {
		t.Helper()
		got, err := st.Instance(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Tags, want) || got.Tags == nil {
			t.Errorf("%s: tags %#v, want %q", what, got.Tags, want)
		}
		if !got.UpdatedAt.After(last.UpdatedAt) {
			t.Errorf("%s: updated_at did not move", what)
		}
		last = got
	}
	if err := st.SetInstanceTags(ctx, in.ID, []string{"b", "a"}); err != nil {
		t.Fatal(err)
	}
	check("set", "a", "b")
	if added, err := st.AddInstanceTag(ctx, in.ID, "c"); !added || err != nil {
		t.Fatalf("add: %v %v", added, err)
	}
	check("add", "a", "b", "c")
	if added, err := st.AddInstanceTag(ctx, in.ID, "c"); added || err != nil {
		t.Errorf("add again: added %v, err %v; want false, nil", added, err)
	}
	if err := st.DeleteInstanceTag(ctx, in.ID, "a"); err != nil {
		t.Fatal(err)
	}
	check("delete", "b", "c")
	if err := st.DeleteInstanceTag(ctx, in.ID, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of a tag it has not: %v, want ErrNotFound", err)
	}
	if _, err := st.AddInstanceTag(ctx, in.ID, strings.Repeat("t", 61)); err == nil {
		t.Error("a tag of 61 characters was stored")
	}
	if err := st.SetInstanceTags(ctx, in.ID, nil); err != nil {
		t.Fatal(err)
	}
	check("clear")
	if _, err := st.AddInstanceTag(ctx, in.ID, "kept"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM instances WHERE id = $1`, in.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM instance_tags WHERE instance_id = $1`, in.ID).Scan(&n); err != nil || n != 0 {
		t.Errorf("tags of a removed instance: %d (%v), want none", n, err)
	}
}
