package views

import (
	"context"
	"net/url"
	"testing"

	"github.com/nimbus-cloud/nimbus/internal/i18n"
)

// TestNextPageEncodesFilters: what a user typed in the filter box goes
// into the next-page link as encoded query values: an "&", "#", quote or
// "javascript:" cannot add parameters or change the link's target.
func TestNextPageEncodesFilters(t *testing.T) {
	v := InstanceList{NextMarker: "m-1", NameFilter: `web&status=ERROR#x" onclick="alert(1)`, Status: "ACTIVE"}
	got := string(v.NextPage())
	u, err := url.Parse(got)
	if err != nil || u.Path != "/project/instances" || u.Host != "" || u.Scheme != "" || u.Fragment != "" {
		t.Fatalf("next page %q: not a same-site path without fragment", got)
	}
	q := u.Query()
	if q.Get("name") != v.NameFilter || q.Get("status") != "ACTIVE" || q.Get("marker") != "m-1" || len(q) != 3 {
		t.Fatalf("next page %q decodes to %v, want exactly the three values typed", got, q)
	}
}

func TestTaskText(t *testing.T) {
	zh := i18n.WithLang(context.Background(), "zh-CN")
	for task, want := range map[string]string{"spawning": "孵化中", "image_uploading": "快照上传中", "": "", "some_new_task": "some_new_task"} {
		if got := taskText(zh, task); got != want {
			t.Errorf("taskText(%q) = %q, want %q", task, got, want)
		}
	}
}
