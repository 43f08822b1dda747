package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The image cache (<state>/images/<image id>) holds the base images
// instance disks are qcow2 overlays of. A base no disk on this host is
// backed by, and not used by a build for ImageCacheAge, is removed, as
// Nova's image cache manager removes unused base images
// (remove_unused_original_minimum_age_seconds, 24 h). "Used" is measured
// two ways: a base is in use while any disk under instances/ or parked/
// has it in its backing chain (qemu-img says which), and every build that
// takes a base from the cache stamps its modification time (cachedImage),
// so a base a build has just fetched or chosen, whose overlay may not
// exist yet, is never old.

// defaultImageCacheAge is Nova's 24 hours.
const defaultImageCacheAge = 24 * time.Hour

// imageCacheEvery is how often the cache is pruned (Nova's
// image_cache_manager_interval is 40 minutes).
const imageCacheEvery = 40 * time.Minute

// pruneImageCache removes the cached bases no disk uses that no build
// has used for longer than the cache age. It returns what it removed.
func (a *Agent) pruneImageCache(ctx context.Context) ([]string, error) {
	age := a.cfg.ImageCacheAge
	if age <= 0 {
		age = defaultImageCacheAge
	}
	a.images.Lock() // no fetch or use of a base while the cache is pruned
	defer a.images.Unlock()
	dir := filepath.Join(a.cfg.StateDir, "images")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	inUse, err := a.basesInUse(ctx)
	if err != nil {
		return nil, err // unsure what is used: remove nothing
	}
	var removed []string
	cutoff := time.Now().Add(-age)
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || strings.HasPrefix(e.Name(), ".") || inUse[path] ||
			info.ModTime().After(cutoff) {
			continue // (a .fetch-* temporary belongs to a fetch in progress)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	if len(removed) > 0 {
		a.log.Info("unused base images removed from the cache", "images", removed)
	}
	return removed, nil
}

// basesInUse is every file some disk on this host is backed by: the
// backing chains of the files in each instance's and each parked
// instance's directory.
func (a *Agent) basesInUse(ctx context.Context) (map[string]bool, error) {
	used := map[string]bool{}
	for _, root := range []string{filepath.Join(a.cfg.StateDir, "instances"), filepath.Join(a.cfg.StateDir, "parked")} {
		disks, err := filepath.Glob(filepath.Join(root, "*", "disk*"))
		if err != nil {
			return nil, err
		}
		for _, d := range disks {
			chain, err := backingChain(ctx, d)
			if err != nil {
				if _, serr := os.Stat(d); errors.Is(serr, os.ErrNotExist) {
					continue // removed meanwhile
				}
				return nil, err
			}
			for _, b := range chain {
				used[b] = true
			}
		}
	}
	return used, nil
}

// backingChain is the files disk is backed by, outermost first (not disk
// itself). -U: a running guest holds its disk's lock.
func backingChain(ctx context.Context, disk string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "-U", "--backing-chain", "--output=json", disk).Output()
	if err != nil {
		return nil, fmt.Errorf("qemu-img info %s: %w", disk, err)
	}
	var chain []struct {
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(out, &chain); err != nil {
		return nil, fmt.Errorf("qemu-img info %s: %w", disk, err)
	}
	var files []string
	for i, c := range chain {
		if i > 0 {
			files = append(files, filepath.Clean(c.Filename))
		}
	}
	return files, nil
}
