package portal_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestImageUploadProgress: while an image's data arrives, the images page
// shows how much (bytes and percent of the request's length); the upload
// here is held a quarter of the way through.
func TestImageUploadProgress(t *testing.T) {
	tc := controllertest.New(t, nil)
	demo := tc.DemoToken(t)
	id := tc.CreateImage(t, demo, map[string]any{"name": "slow-up", "disk_format": "raw", "container_format": "bare"})["id"].(string)
	pr, pw := io.Pipe()
	done := make(chan controllertest.Resp, 1)
	go func() { done <- tc.Upload(t, demo, id, pr, 4<<20) }()
	chunk := make([]byte, 1<<20)
	if _, err := pw.Write(chunk); err != nil {
		t.Fatal(err)
	}
	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	want := "25% · 1.0 MiB of 4.0 MiB"
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(last, want) {
		if time.Now().After(deadline) {
			t.Fatalf("the images page never showed %q; last:\n%s", want, last)
		}
		time.Sleep(200 * time.Millisecond)
		page := b.Get("/project/images").Body
		if i := strings.Index(page, `data-testid="image-upload-slow-up"`); i >= 0 {
			last = page[i:min(len(page), i+120)]
		}
	}
	for i := 0; i < 3; i++ {
		pw.Write(chunk)
	}
	pw.Close()
	if r := <-done; r.Status != 204 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	if page := b.Get("/project/images").Body; strings.Contains(page, `data-testid="image-upload-slow-up"`) {
		t.Error("an active image still shows an upload")
	}
}

// TestSnapshotProgressOnInstancePage: while a snapshot's image saves, the
// instance's page shows its bytes and percent and follows that image's
// changes (data-live "image:<id>"). The snapshot's state is written
// straight to the database: the agent's upload is TestImageUploadProgress's.
func TestSnapshotProgressOnInstancePage(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "snap-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	id := tc.ActiveServer(t, demo, "snapped", tc.ActiveImage(t))
	img := tc.CreateImage(t, demo, map[string]any{"name": "snap-1", "disk_format": "qcow2", "container_format": "bare"})["id"].(string)
	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	if strings.Contains(b.Get("/project/instances/"+id).Body, `data-testid="snapshot-progress"`) {
		t.Fatal("snapshot progress shown with no snapshot under way")
	}
	ctx := context.Background()
	pool := tc.Server.Pool()
	if _, err := pool.Exec(ctx, `UPDATE images SET status = 'saving', upload_received = $2, upload_total = $3 WHERE id = $1`,
		img, 3<<20, 12<<20); err != nil {
		t.Fatal(err)
	}
	job := `{"v":2,"kind":"snapshot","instance_id":"` + id + `","snapshot":{"image_id":"` + img + `"}}`
	if _, err := pool.Exec(ctx, `UPDATE instances SET task_state = 'image_uploading', task_job = $2 WHERE id = $1`, id, job); err != nil {
		t.Fatal(err)
	}
	page := b.Get("/project/instances/" + id).Body
	if !strings.Contains(page, "25% · 3.0 MiB of 12.0 MiB") || !strings.Contains(page, `data-live="instance:`+id+` image:`+img+`"`) {
		t.Errorf("the instance page does not show the snapshot's progress or follow its image")
	}
}
