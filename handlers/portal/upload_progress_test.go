package portal_test

import (
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
