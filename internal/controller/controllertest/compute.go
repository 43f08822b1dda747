package controllertest

import (
	"context"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// CreateImage creates an image record through the Glance API and returns
// the answer.
func (tc *Cloud) CreateImage(t *testing.T, token string, body map[string]any) map[string]any {
	t.Helper()
	r := tc.Do(t, "POST", "/image/v2/images", token, body)
	if r.Status != 201 {
		t.Fatalf("create image: got %d %s", r.Status, r.Body)
	}
	return r.JSON(t)
}

// Upload sends an image's data; length -1 sends it chunked, as the CLI does.
func (tc *Cloud) Upload(t *testing.T, token, id string, data io.Reader, length int64) Resp {
	t.Helper()
	req, _ := http.NewRequest("PUT", tc.URL+"/image/v2/images/"+id+"/file", data)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Auth-Token", token)
	req.ContentLength = length
	return Send(t, req)
}

// UploadFile uploads the file at path to image id through the Glance API.
func (tc *Cloud) UploadFile(t *testing.T, token, id, path string) Resp {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return tc.Upload(t, token, id, f, st.Size())
}

// ActiveImage makes a small public image and returns its id.
func (tc *Cloud) ActiveImage(t *testing.T) string {
	t.Helper()
	admin := tc.AdminToken(t)
	id := tc.CreateImage(t, admin, map[string]any{"name": "tiny", "disk_format": "raw", "container_format": "bare", "visibility": "public"})["id"].(string)
	if r := tc.Upload(t, admin, id, strings.NewReader("not really a disk"), 17); r.Status != 204 {
		t.Fatalf("upload: %d", r.Status)
	}
	return id
}

// CreateServer asks the Compute API for a server described by body.
func (tc *Cloud) CreateServer(t *testing.T, token string, body map[string]any) Resp {
	t.Helper()
	return tc.Do(t, "POST", "/compute/v2.1/servers", token, map[string]any{"server": body})
}

// ActiveServer launches a server of flavor 1 from image, waits until it is
// ACTIVE and returns its id.
func (tc *Cloud) ActiveServer(t *testing.T, token, name, image string) string {
	t.Helper()
	r := tc.CreateServer(t, token, map[string]any{"name": name, "flavorRef": "1", "imageRef": image})
	if r.Status != 202 {
		t.Fatalf("create server %s: %d %s", name, r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, token, id, "ACTIVE", time.Minute)
	return id
}

// WaitStatus polls a server until its status is want, and returns it; a
// server going to ERROR unasked fails the test at once.
func (tc *Cloud) WaitStatus(t *testing.T, token, id, want string, d time.Duration) map[string]any {
	t.Helper()
	var last map[string]any
	WaitFor(t, d, "server "+id+" to be "+want, func() bool {
		r := tc.Do(t, "GET", "/compute/v2.1/servers/"+id, token, nil)
		if r.Status != 200 {
			return false
		}
		last = r.JSON(t)["server"].(map[string]any)
		if last["status"] == "ERROR" && want != "ERROR" {
			t.Fatalf("server %s went to ERROR: %v", id, last["fault"])
		}
		return last["status"] == want
	})
	return last
}

// InstanceRow reads what the database holds of an instance.
func (tc *Cloud) InstanceRow(t *testing.T, id string) (vm, task, host string, action int64) {
	t.Helper()
	if err := tc.Server.Pool().QueryRow(context.Background(), `SELECT vm_state, coalesce(task_state, ''), coalesce(host, ''),
		coalesce(task_action_id, 0) FROM instances WHERE id = $1`, id).Scan(&vm, &task, &host, &action); err != nil {
		t.Fatal(err)
	}
	return
}

// ZeroReader yields Left zero bytes without holding them: a large upload
// body that costs the test no memory.
type ZeroReader struct{ Left int64 }

func (z *ZeroReader) Read(p []byte) (int, error) {
	if z.Left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > z.Left {
		n = z.Left
	}
	clear(p[:n])
	z.Left -= n
	return int(n), nil
}

// WatchHeap samples the heap in use every 20 ms until the returned func
// is called, which reports the largest growth over the start. The
// controller runs in the test's process, so this is the server's heap.
func WatchHeap() func() int64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return int64(peak.Load()) - int64(base.HeapInuse)
	}
}
