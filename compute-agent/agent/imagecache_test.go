package agent

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestPruneImageCache: a cached base is removed only when no disk under
// instances/ or parked/ is backed by it (directly or through another
// base) and no build used it within the cache age; a fetch's temporary
// file is left to its fetch.
func TestPruneImageCache(t *testing.T) {
	dir := t.TempDir()
	a := New(Config{Host: "h", StateDir: dir, ImageCacheAge: time.Hour}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	mk := func(path string, backing string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		args := []string{"create", "-q", "-f", "qcow2"}
		if backing != "" {
			args = append(args, "-F", "qcow2", "-b", backing)
		}
		if err := qemuImg(ctx, append(args, path, "16M")...); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	images := filepath.Join(dir, "images")
	base := func(name string, stale bool) string {
		p := filepath.Join(images, name)
		mk(p, "")
		if stale {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	used := base("used-by-an-instance", true)
	parked := base("used-by-a-parked-disk", true)
	deep := base("backing-of-a-backing", true)
	mid := filepath.Join(images, "backed-by-deep")
	mk(mid, deep)
	os.Chtimes(mid, old, old)
	base("unused-old", true)
	base("unused-recent", false)
	base(".fetch-123", true)
	mk(filepath.Join(dir, "instances", "i1", "disk"), used)
	mk(filepath.Join(dir, "instances", "i2", "disk.rescue"), mid)
	mk(filepath.Join(dir, "parked", "i3", "disk"), parked)

	removed, err := a.pruneImageCache(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"unused-old"}) {
		t.Errorf("removed %v, want only unused-old", removed)
	}
	left, _ := os.ReadDir(images)
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	want := []string{".fetch-123", "backed-by-deep", "backing-of-a-backing", "unused-recent", "used-by-a-parked-disk", "used-by-an-instance"}
	if !slices.Equal(names, want) {
		t.Errorf("left %v, want %v", names, want)
	}
	// Once its instance is gone, a stale base goes at the next pruning.
	os.RemoveAll(filepath.Join(dir, "instances", "i1"))
	if removed, err := a.pruneImageCache(ctx); err != nil || !slices.Equal(removed, []string{"used-by-an-instance"}) {
		t.Errorf("after the instance went: removed %v (%v), want used-by-an-instance", removed, err)
	}
}
