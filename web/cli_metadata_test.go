package main

import (
	"reflect"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestOpenStackCLIServerPropertiesAndTags: `openstack server set/unset
// --property` (server metadata) and, at 2.26, `--tag` and `server list
// --tags` with the real CLI.
func TestOpenStackCLIServerPropertiesAndTags(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "cli-meta-host")
	tc.WaitHosts(t, 1)
	admin := openstackCLI(t, tc, "admin", tc.AdminPass, "admin")
	admin("image", "create", "--public", "--file", "cli_test.go", "--disk-format", "raw", "--container-format", "bare", "tiny")
	demo := openstackCLI(t, tc, "demo", tc.DemoPass, "demo")
	demo("server", "create", "--flavor", "m1.tiny", "--image", "tiny", "--wait", "vm1")
	demo("server", "create", "--flavor", "m1.tiny", "--image", "tiny", "--wait", "vm2")
	show := func(args ...string) map[string]any {
		t.Helper()
		return decodeJSON[map[string]any](t, demo(append(append([]string{}, args...), "server", "show", "-f", "json", "vm1")...))
	}

	demo("server", "set", "--property", "role=web", "--property", "tier=front end", "vm1")
	if got := show()["properties"]; !reflect.DeepEqual(got, map[string]any{"role": "web", "tier": "front end"}) {
		t.Errorf("server set --property: properties %v", got)
	}
	demo("server", "unset", "--property", "tier", "vm1")
	if got := show()["properties"]; !reflect.DeepEqual(got, map[string]any{"role": "web"}) {
		t.Errorf("server unset --property: properties %v", got)
	}

	v226 := "--os-compute-api-version=2.26"
	demo(v226, "server", "set", "--tag", "blue", "--tag", "green", "vm1")
	demo(v226, "server", "set", "--tag", "green", "vm2")
	if got := show(v226)["tags"]; !reflect.DeepEqual(got, []any{"blue", "green"}) {
		t.Errorf("server show after server set --tag: tags %v", got)
	}
	names := func(args ...string) []string {
		t.Helper()
		var out []string
		for _, s := range decodeJSON[[]map[string]any](t, demo(append([]string{v226, "server", "list", "-f", "json", "--sort-column", "Name"}, args...)...)) {
			out = append(out, s["Name"].(string))
		}
		return out
	}
	if got := names("--tags", "blue"); !reflect.DeepEqual(got, []string{"vm1"}) {
		t.Errorf("server list --tags blue: %v", got)
	}
	if got := names("--tags", "green"); !reflect.DeepEqual(got, []string{"vm1", "vm2"}) {
		t.Errorf("server list --tags green: %v", got)
	}
	if got := names("--not-tags", "blue"); !reflect.DeepEqual(got, []string{"vm2"}) {
		t.Errorf("server list --not-tags blue: %v", got)
	}
	demo(v226, "server", "unset", "--tag", "blue", "vm1")
	if got := names("--tags", "blue"); got != nil {
		t.Errorf("server list --tags blue after server unset --tag: %v", got)
	}
}
