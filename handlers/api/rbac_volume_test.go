package api_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/policy"
)

// The Block Storage API's part of the RBAC matrix, and Nova's volume
// attachments. No storage host runs here: home's volumes are error at
// once (no backend), which every route below may still read, change or
// delete.

// setupVolumes makes home's volume, snapshot and an admin's volume type.
func (fx *rbacFixture) setupVolumes(t *testing.T) {
	// Every call below may use a volume up: home's volume quotas lifted.
	if r := fx.tc.Do(t, "PUT", "/volume/v3/os-quota-sets/"+fx.home, fx.admin, map[string]any{"quota_set": map[string]any{
		"volumes": -1, "gigabytes": -1, "snapshots": -1}}); r.Status != 200 {
		t.Fatalf("home volume quotas: %d %s", r.Status, r.Body)
	}
	for _, what := range []string{"volume", "snapshot", "vtype"} {
		fx.net[what] = fx.makeVolumes(t, what)
	}
}

// makeVolumes makes one block storage resource of home as its member
// (a type as the admin); "" for what it does not know.
func (fx *rbacFixture) makeVolumes(t *testing.T, what string) string {
	t.Helper()
	tc := fx.tc
	member := tc.Token(t, "rbac-member", "member-pw-1", "home")
	fx.n++
	switch what {
	case "volume":
		r := tc.Do(t, "POST", "/volume/v3/volumes", member, map[string]any{"volume": map[string]any{"size": 1, "name": fmt.Sprintf("rbac-vol-%d", fx.n)}})
		if r.Status != 202 {
			t.Fatalf("home volume: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["volume"].(map[string]any)["id"].(string)
	case "snapshot":
		// A snapshot needs an available volume, which needs a storage
		// host: the row is made as a finished snapshot would leave it.
		vol := fx.makeVolumes(t, "volume")
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", fx.n)
		if _, err := tc.Server.Pool().Exec(context.Background(), `INSERT INTO volume_snapshots
			(id, volume_id, project_id, user_id, size_gb, status) VALUES ($1, $2, $3, $4, 1, 'available')`,
			id, vol, fx.home, fx.member); err != nil {
			t.Fatal(err)
		}
		return id
	case "vtype":
		r := tc.Do(t, "POST", "/volume/v3/types", fx.admin, map[string]any{"volume_type": map[string]any{"name": fmt.Sprintf("rbac-type-%d", fx.n),
			"extra_specs": map[string]string{"k": "v"}}})
		if r.Status != 200 {
			t.Fatalf("volume type: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["volume_type"].(map[string]any)["id"].(string)
	}
	return ""
}

// volumeRoutes are the Block Storage API's matrix entries.
func volumeRoutes() map[string]rbacRoute {
	js := func(k string, v any) map[string]any { return map[string]any{k: v} }
	const v3 = "/volume/v3"
	return map[string]rbacRoute{
		"GET /volume":     {op: opPublic, path: "/volume"},
		"GET /volume/":    {op: opPublic, path: "/volume/"},
		"GET /volume/v3/": {op: opPublic, path: v3 + "/"},

		"GET /volume/v3/volumes":                         {op: policy.GetVolume, on: "own", path: v3 + "/volumes"},
		"GET /volume/v3/volumes/detail":                  {op: policy.GetVolume, on: "own", path: v3 + "/volumes/detail"},
		"GET /volume/v3/volumes/summary":                 {op: policy.GetVolume, on: "own", path: v3 + "/volumes/summary"},
		"GET /volume/v3/volumes/:id/metadata/:key":       {op: policy.GetVolume, on: "home", path: v3 + "/volumes/{volume}/metadata/k", deny: 404},
		"PUT /volume/v3/volumes/:id/metadata/:key":       {op: policy.ChangeVolume, on: "home", path: v3 + "/volumes/{volume}/metadata/k", body: js("meta", map[string]any{"k": "v"})},
		"DELETE /volume/v3/volumes/:id/metadata/:key":    {op: policy.ChangeVolume, on: "home", path: v3 + "/volumes/{volume}/metadata/k"},
		"GET /volume/v3/snapshots/:id/metadata":          {op: policy.GetVolume, on: "home", path: v3 + "/snapshots/{snapshot}/metadata", deny: 404},
		"POST /volume/v3/snapshots/:id/metadata":         {op: policy.ChangeVolume, on: "home", path: v3 + "/snapshots/{snapshot}/metadata", body: js("metadata", map[string]any{"k": "v"})},
		"PUT /volume/v3/snapshots/:id/metadata":          {op: policy.ChangeVolume, on: "home", path: v3 + "/snapshots/{snapshot}/metadata", body: js("metadata", map[string]any{"k": "v"})},
		"GET /volume/v3/snapshots/:id/metadata/:key":     {op: policy.GetVolume, on: "home", path: v3 + "/snapshots/{snapshot}/metadata/k", deny: 404},
		"PUT /volume/v3/snapshots/:id/metadata/:key":     {op: policy.ChangeVolume, on: "home", path: v3 + "/snapshots/{snapshot}/metadata/k", body: js("meta", map[string]any{"k": "v"})},
		"DELETE /volume/v3/snapshots/:id/metadata/:key":  {op: policy.ChangeVolume, on: "home", path: v3 + "/snapshots/{snapshot}/metadata/k"},
		"POST /volume/v3/volumes":                        {op: policy.ChangeVolume, on: "own", path: v3 + "/volumes", body: js("volume", map[string]any{"size": 1})},
		"GET /volume/v3/volumes/:id":                     {op: policy.GetVolume, on: "home", path: v3 + "/volumes/{volume}", deny: 404},
		"PUT /volume/v3/volumes/:id":                     {op: policy.ChangeVolume, on: "home", path: v3 + "/volumes/{volume}", body: js("volume", map[string]any{"name": "x"})},
		"DELETE /volume/v3/volumes/:id":                  {op: policy.ChangeVolume, on: "home", path: v3 + "/volumes/{volume}", fresh: []string{"volume"}},
		"POST /volume/v3/volumes/:id/action":             {op: policy.ChangeVolume, on: "home", path: v3 + "/volumes/{volume}/action", body: js("os-set_bootable", map[string]any{"bootable": true})},
		"GET /volume/v3/volumes/:id/metadata":            {op: policy.GetVolume, on: "home", path: v3 + "/volumes/{volume}/metadata", deny: 404},
		"POST /volume/v3/volumes/:id/metadata":           {op: policy.ChangeVolume, on: "home", path: v3 + "/volumes/{volume}/metadata", body: js("metadata", map[string]any{"k": "v"})},
		"PUT /volume/v3/volumes/:id/metadata":            {op: policy.ChangeVolume, on: "home", path: v3 + "/volumes/{volume}/metadata", body: js("metadata", map[string]any{"k": "v"})},
		"GET /volume/v3/snapshots":                       {op: policy.GetVolume, on: "own", path: v3 + "/snapshots"},
		"GET /volume/v3/snapshots/detail":                {op: policy.GetVolume, on: "own", path: v3 + "/snapshots/detail"},
		"POST /volume/v3/snapshots":                      {op: policy.ChangeVolume, on: "home", path: v3 + "/snapshots", body: js("snapshot", map[string]any{"volume_id": "{volume}"})},
		"GET /volume/v3/snapshots/:id":                   {op: policy.GetVolume, on: "home", path: v3 + "/snapshots/{snapshot}", deny: 404},
		"PUT /volume/v3/snapshots/:id":                   {op: policy.ChangeVolume, on: "home", path: v3 + "/snapshots/{snapshot}", body: js("snapshot", map[string]any{"name": "x"})},
		"DELETE /volume/v3/snapshots/:id":                {op: policy.ChangeVolume, on: "home", path: v3 + "/snapshots/{snapshot}", fresh: []string{"snapshot"}},
		"GET /volume/v3/types":                           {op: opToken, path: v3 + "/types"},
		"GET /volume/v3/types/default":                   {op: opToken, path: v3 + "/types/default"},
		"GET /volume/v3/types/:id":                       {op: opToken, path: v3 + "/types/{vtype}"},
		"POST /volume/v3/types":                          {op: policy.ManageVolumeTypes, path: v3 + "/types", fresh: []string{"vtype"}, body: js("volume_type", map[string]any{"name": "rbac-new-{vtype}"})},
		"PUT /volume/v3/types/:id":                       {op: policy.ManageVolumeTypes, path: v3 + "/types/{vtype}", body: js("volume_type", map[string]any{"description": "d"})},
		"DELETE /volume/v3/types/:id":                    {op: policy.ManageVolumeTypes, path: v3 + "/types/{vtype}", fresh: []string{"vtype"}},
		"GET /volume/v3/types/:id/extra_specs":           {op: opToken, path: v3 + "/types/{vtype}/extra_specs"},
		"POST /volume/v3/types/:id/extra_specs":          {op: policy.ManageVolumeTypes, path: v3 + "/types/{vtype}/extra_specs", body: js("extra_specs", map[string]any{"k": "v"})},
		"GET /volume/v3/types/:id/extra_specs/:key":      {op: opToken, path: v3 + "/types/{vtype}/extra_specs/k"},
		"PUT /volume/v3/types/:id/extra_specs/:key":      {op: policy.ManageVolumeTypes, path: v3 + "/types/{vtype}/extra_specs/k", body: map[string]any{"k": "v"}},
		"DELETE /volume/v3/types/:id/extra_specs/:key":   {op: policy.ManageVolumeTypes, path: v3 + "/types/{vtype}/extra_specs/k", fresh: []string{"vtype"}},
		"GET /volume/v3/os-quota-sets/:project":          {op: policy.GetVolume, on: "home", path: v3 + "/os-quota-sets/{home}", deny: 404},
		"GET /volume/v3/os-quota-sets/:project/defaults": {op: policy.GetVolume, on: "home", path: v3 + "/os-quota-sets/{home}/defaults", deny: 404},
		"PUT /volume/v3/os-quota-sets/:project":          {op: policy.UpdateVolumeQuota, path: v3 + "/os-quota-sets/{home}", body: js("quota_set", map[string]any{"volumes": -1})},
		"DELETE /volume/v3/os-quota-sets/:project":       {op: policy.UpdateVolumeQuota, path: v3 + "/os-quota-sets/{away}"},
		"GET /volume/v3/limits":                          {op: policy.GetVolume, on: "own", path: v3 + "/limits"},
		"GET /volume/v3/extensions":                      {op: opToken, path: v3 + "/extensions"},
		"GET /volume/v3/os-availability-zone":            {op: opToken, path: v3 + "/os-availability-zone"},

		// The portal's Project > Volumes and the instance page's volumes.
		"GET /project/volumes":                               {op: policy.GetVolume, on: "own", path: "/project/volumes"},
		"POST /project/volumes":                              {op: policy.ChangeVolume, on: "own", path: "/project/volumes", body: url.Values{"name": {"made-by-rbac"}, "size": {"1"}}},
		"POST /project/volumes/:id/extend":                   {op: policy.ChangeVolume, on: "home", path: "/project/volumes/{volume}/extend", body: url.Values{"new_size": {"2"}}},
		"POST /project/volumes/:id/attach":                   {op: policy.ChangeVolume, on: "home", path: "/project/volumes/{volume}/attach", body: url.Values{"instance": {"{server}"}}},
		"POST /project/volumes/:id/detach":                   {op: policy.ChangeVolume, on: "home", path: "/project/volumes/{volume}/detach"},
		"POST /project/volumes/:id/snapshot":                 {op: policy.ChangeVolume, on: "home", path: "/project/volumes/{volume}/snapshot", body: url.Values{"name": {"rbac-snap"}}},
		"POST /project/volumes/:id/delete":                   {op: policy.ChangeVolume, on: "home", path: "/project/volumes/{volume}/delete", fresh: []string{"volume"}},
		"POST /project/volume_snapshots/:id/delete":          {op: policy.ChangeVolume, on: "home", path: "/project/volume_snapshots/{snapshot}/delete", fresh: []string{"snapshot"}},
		"POST /project/instances/:id/volumes":                {op: policy.ServerAction, on: "home", path: "/project/instances/{server}/volumes", body: url.Values{"volume": {"{volume}"}}},
		"POST /project/instances/:id/volumes/:volume/detach": {op: policy.ServerAction, on: "home", path: "/project/instances/{server}/volumes/{volume}/detach"},

		"GET /admin/volume_types":             {op: policy.ViewAdmin, path: "/admin/volume_types"},
		"GET /admin/volume_types/new":         {op: policy.ViewAdmin, path: "/admin/volume_types/new"},
		"POST /admin/volume_types":            {op: policy.ViewAdmin, path: "/admin/volume_types", body: url.Values{"name": {"made-in-portal-{vtype}"}}, fresh: []string{"vtype"}},
		"POST /admin/volume_types/:id/delete": {op: policy.ViewAdmin, path: "/admin/volume_types/{vtype}/delete", fresh: []string{"vtype"}},

		"GET /compute/v2.1/servers/:id/os-volume_attachments":            {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/os-volume_attachments", deny: 404},
		"GET /compute/v2.1/servers/:id/os-volume_attachments/:volume":    {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/os-volume_attachments/{volume}", deny: 404},
		"POST /compute/v2.1/servers/:id/os-volume_attachments":           {op: policy.ServerAction, on: "home", path: "/compute/v2.1/servers/{server}/os-volume_attachments", body: js("volumeAttachment", map[string]any{"volumeId": "{volume}"})},
		"PUT /compute/v2.1/servers/:id/os-volume_attachments/:volume":    {op: policy.GetServer, on: "home", path: "/compute/v2.1/servers/{server}/os-volume_attachments/{volume}", deny: 404, body: js("volumeAttachment", map[string]any{"volumeId": "{volume}"})},
		"DELETE /compute/v2.1/servers/:id/os-volume_attachments/:volume": {op: policy.ServerAction, on: "home", path: "/compute/v2.1/servers/{server}/os-volume_attachments/{volume}"},
	}
}
