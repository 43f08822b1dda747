package portal_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// Defects found with real clients (issue 8): each case here failed
// before its fix.

// TestOpenRCIsHorizonV3: the rc files make run writes and the portal's
// download are Horizon's v3 openrc, with the project's id and domain id,
// which clients that scope by id (gophercloud's AuthOptionsFromEnv) need.
func TestOpenRCIsHorizonV3(t *testing.T) {
	tc := controllertest.New(t, nil)
	admin := tc.AdminToken(t)
	demoProject := tc.Do(t, "GET", "/identity/v3/projects?name=demo", admin, nil).JSON(t)["projects"].([]any)[0].(map[string]any)["id"].(string)

	// Sourced in bash, the file sets what gophercloud reads.
	env := func(script string) map[string]string {
		t.Helper()
		cmd := exec.Command("bash", "-c", script+" && env")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "OS_TENANT_NAME=stale"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		vars := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "OS_") {
				vars[k] = v
			}
		}
		return vars
	}
	vars := env("source " + tc.DataDir + "/demo-openrc.sh")
	for k, want := range map[string]string{
		"OS_AUTH_URL": tc.URL + "/identity/v3", "OS_PROJECT_ID": demoProject, "OS_PROJECT_NAME": "demo",
		"OS_PROJECT_DOMAIN_ID": "default", "OS_USER_DOMAIN_NAME": "Default", "OS_USERNAME": "demo",
		"OS_PASSWORD": tc.DemoPass, "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public", "OS_IDENTITY_API_VERSION": "3",
	} {
		if vars[k] != want {
			t.Errorf("demo-openrc.sh: %s = %q, want %q", k, vars[k], want)
		}
	}
	if _, ok := vars["OS_TENANT_NAME"]; ok {
		t.Error("demo-openrc.sh leaves a v2.0 OS_TENANT_NAME set")
	}
	// Scoped by id alone, as gophercloud does, the credentials work.
	if _, err := exec.LookPath("openstack"); err == nil {
		cmd := exec.Command("bash", "-c", "source "+tc.DataDir+"/admin-openrc.sh && unset OS_PROJECT_NAME OS_PROJECT_DOMAIN_NAME && "+
			"openstack token issue -f value -c project_id")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) != 32 {
			t.Errorf("token issue scoped by OS_PROJECT_ID: %v %s", err, out)
		}
	}

	// The portal's download: the same form, for the signed-in project,
	// asking for the password.
	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	rc := b.Get("/project/api_access/openrc").Body
	for _, want := range []string{"export OS_PROJECT_ID='" + demoProject + "'", "export OS_PROJECT_DOMAIN_ID='default'",
		"export OS_USER_DOMAIN_NAME='Default'", "read -sr OS_PASSWORD_INPUT"} {
		if !strings.Contains(rc, want) {
			t.Errorf("portal rc file lacks %q:\n%s", want, rc)
		}
	}
}
