package policy

import (
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/model"
)

func tok(project string, roles ...string) *model.Token {
	t := &model.Token{UserID: "u1", ProjectID: project}
	for _, r := range roles {
		t.Roles = append(t.Roles, model.Role{Name: r})
	}
	return t
}

func TestTable(t *testing.T) {
	admin := tok("p-admin", "admin", "member", "reader")
	member := tok("p1", "member", "reader")
	reader := tok("p1", "reader")
	unscoped := &model.Token{UserID: "u1"}
	cases := []struct {
		name   string
		tok    *model.Token
		op     Op
		target Target
		want   bool
	}{
		{"admin lists projects", admin, ListProjects, Target{}, true},
		{"member lists projects", member, ListProjects, Target{}, false},
		{"member reads own project", member, GetProject, Target{ProjectID: "p1"}, true},
		{"member reads other project", member, GetProject, Target{ProjectID: "p2"}, false},
		{"reader reads own project", reader, GetProject, Target{ProjectID: "p1"}, true},
		{"reader views project pages", reader, ViewProject, Target{ProjectID: "p1"}, true},
		{"admin reads any project", admin, GetProject, Target{ProjectID: "p2"}, true},
		{"unscoped reads a project", unscoped, GetProject, Target{ProjectID: "p1"}, false},
		{"unscoped admin-named token is no admin", &model.Token{UserID: "u", Roles: []model.Role{{Name: "admin"}}}, ListUsers, Target{}, false},
		{"user reads self", member, GetUser, Target{UserID: "u1"}, true},
		{"user reads other", member, GetUser, Target{UserID: "u2"}, false},
		{"user changes own password", member, ChangePassword, Target{UserID: "u1"}, true},
		{"admin changes another's password via this API", admin, ChangePassword, Target{UserID: "u2"}, false},
		{"member grants roles", member, CreateGrant, Target{ProjectID: "p1"}, false},
		{"admin grants roles", admin, CreateGrant, Target{ProjectID: "p1"}, true},
		{"member sees admin pages", member, ViewAdmin, Target{}, false},
		{"admin sees admin pages", admin, ViewAdmin, Target{}, true},
		{"unknown operation", admin, Op("identity:nope"), Target{}, false},
		{"nil token", nil, GetProject, Target{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Allowed(c.tok, c.op, c.target); got != c.want {
				t.Errorf("Allowed: got %v, want %v", got, c.want)
			}
			if err := Check(c.tok, c.op, c.target); (err == nil) != c.want {
				t.Errorf("Check: got %v", err)
			}
		})
	}
}

// TestEveryOpHasARule guards against an operation constant that was
// declared but never given a rule (which would refuse everyone).
func TestEveryOpHasARule(t *testing.T) {
	for _, op := range Ops() {
		if table[op] == nil {
			t.Errorf("%s has a nil rule", op)
		}
	}
	if len(Ops()) < 28 {
		t.Errorf("table has %d operations, want at least 28", len(Ops()))
	}
}
