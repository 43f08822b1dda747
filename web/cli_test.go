package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// openstackCLI runs the real `openstack` client (Debian's
// python3-openstackclient) against tc as user in project.
func openstackCLI(t *testing.T, tc *controllertest.Cloud, user, password, project string) func(args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("openstack")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the openstack CLI is not installed (scripts/deps.sh installs python3-openstackclient)")
		}
		t.Skip("the openstack CLI is not installed")
	}
	env := append(os.Environ(),
		"OS_AUTH_URL="+tc.URL+"/identity/v3", "OS_IDENTITY_API_VERSION=3", "OS_AUTH_TYPE=password",
		"OS_USERNAME="+user, "OS_PASSWORD="+password, "OS_PROJECT_NAME="+project,
		"OS_USER_DOMAIN_NAME=Default", "OS_PROJECT_DOMAIN_NAME=Default", "OS_REGION_NAME=RegionOne",
		"OS_INTERFACE=public", "HOME="+t.TempDir())
	return func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("openstack %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestOpenStackCLIIdentity(t *testing.T) {
	tc := controllertest.New(t, nil)
	osc := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")

	tok := decodeJSON[map[string]string](t, osc("token", "issue", "-f", "json"))
	if len(tok["id"]) != 43 || tok["project_id"] == "" || tok["user_id"] == "" {
		t.Errorf("token issue: got %v", tok)
	}
	projects := decodeJSON[[]map[string]any](t, osc("project", "list", "-f", "json"))
	names := map[string]bool{}
	for _, p := range projects {
		names[p["Name"].(string)] = true
	}
	if !names["admin"] || !names["demo"] {
		t.Errorf("project list: got %v, want admin and demo", names)
	}
	p := decodeJSON[map[string]any](t, osc("project", "create", "--description", "made by the CLI", "-f", "json", "cli-proj"))
	if p["name"] != "cli-proj" || p["enabled"] != true {
		t.Errorf("project create: got %v", p)
	}
	u := decodeJSON[map[string]any](t, osc("user", "create", "--password", "cli-user-pass", "--project", "cli-proj",
		"--email", "cli@example.org", "-f", "json", "cli-user"))
	if u["name"] != "cli-user" || u["default_project_id"] != p["id"] {
		t.Errorf("user create: got %v", u)
	}
	osc("role", "add", "--user", "cli-user", "--project", "cli-proj", "member")
	as := decodeJSON[[]map[string]any](t, osc("role", "assignment", "list", "--user", "cli-user", "--project", "cli-proj", "--names", "-f", "json"))
	if len(as) != 1 || as[0]["Role"] != "member" || as[0]["User"] != "cli-user@Default" || as[0]["Project"] != "cli-proj@Default" {
		t.Errorf("role assignment list: got %v", as)
	}
	all := decodeJSON[[]map[string]any](t, osc("role", "assignment", "list", "--names", "-f", "json"))
	if len(all) != 3 {
		t.Errorf("role assignment list (all): got %d rows, want 3: %v", len(all), all)
	}
	// The new user can work with the CLI in their project.
	user := openstackCLI(t, tc, "cli-user", "cli-user-pass", "cli-proj")
	mine := decodeJSON[map[string]string](t, user("token", "issue", "-f", "json"))
	if mine["project_id"] != p["id"] {
		t.Errorf("cli-user's token project: got %s, want %s", mine["project_id"], p["id"])
	}
	// The rc file make run writes works as it is.
	rc, err := os.ReadFile(tc.DataDir + "/demo-openrc.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", "source "+tc.DataDir+"/demo-openrc.sh && openstack token issue -f value -c project_id")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) != 32 {
		t.Errorf("source demo-openrc.sh && openstack token issue: %v %s\n%s", err, out, rc)
	}
}
