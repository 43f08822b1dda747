package portal_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

var followRe = regexp.MustCompile(`data-log-follow="([^"]+)"`)

// TestLogTabFollows: the Log tab of a running instance follows its
// serial log: the page names where its output ends, and its event stream
// carries what the guest writes after that, pushed by the agent (the test
// driver's guest writes nothing, so the test writes its log); another
// project's instance has no stream.
func TestLogTabFollows(t *testing.T) {
	tc := controllertest.New(t, nil)
	agent := tc.StartAgent(t, "log-host")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	id := tc.ActiveServer(t, demo, "chatty", tc.ActiveImage(t))
	logPath := filepath.Join(agent.Dir, "instances", id, "console.log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath, []byte("boot line 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	b := tc.NewFormClient(t)
	b.Login("demo", tc.DemoPass)
	body := b.Get("/project/instances/" + id + "/log?lines=200").Body
	m := followRe.FindStringSubmatch(body)
	if !strings.Contains(body, "boot line 1") || m == nil || !strings.HasSuffix(m[1], "offset=12") {
		t.Fatalf("the log tab shows no output to follow from its end:\n%s", body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := b.Stream(ctx, strings.ReplaceAll(m[1], "&amp;", "&"), "")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the watch registered
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for i, line := range []string{"line 2\n", "line 3\nline 4\n"} {
		f.WriteString(line)
		for got != line {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("the stream ended after %q", got)
				}
				if ev.Type != "log" {
					continue
				}
				var text string
				json.Unmarshal([]byte(ev.Data), &text)
				if text != line {
					t.Fatalf("write %d: the stream carried %q, want %q", i, text, line)
				}
				got = text
			case <-time.After(10 * time.Second):
				t.Fatalf("write %d: nothing pushed in 10 s", i)
			}
		}
	}
	f.Close()

	// Another project's user: the instance does not exist for them.
	o := tc.NewFormClient(t)
	o.Login(tc.NewProjectMember(t, "log-other"), controllertest.MemberPassword)
	if p := o.Get("/project/instances/" + id + "/log/stream?offset=0"); p.Status != 404 {
		t.Errorf("another project's log stream: %d, want 404", p.Status)
	}
}
