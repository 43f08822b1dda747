package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// englishJS lists the English words left on the page: the visible text
// and the text of attributes a user meets (placeholders, titles, labels,
// button values), with ids, addresses and the words in allowed removed.
// Words of one or two letters (MB, GB, IP) are not counted.
func englishJS(allowed []string) string {
	return `(() => {
  const allowed = new Set(` + jsStrings(allowed) + `);
  let text = document.body.innerText + " " + document.title;
  document.querySelectorAll("[placeholder],[title],[aria-label],[alt],input[type=submit],input[type=button]").forEach((el) => {
    for (const a of ["placeholder", "title", "aria-label", "alt", "value"]) {
      if (el.hasAttribute(a) && (a !== "value" || el.type === "submit" || el.type === "button")) text += " " + el.getAttribute(a);
    }
  });
  text = text.replace(/\breq-[0-9a-f-]+/g, " ")
             .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, " ")
             .replace(/[0-9a-f]{16,}/gi, " ")
             .replace(/\b[\w.-]+\.(?:qcow2|img|iso|raw)\b/g, " ");
  const words = text.match(/[A-Za-z][A-Za-z'-]{2,}/g) || [];
  return [...new Set(words.filter((w) => !allowed.has(w)))].sort().join(" ");
})()`
}

func jsStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return "[" + strings.Join(q, ",") + "]"
}

// zhAllowed are the words a Chinese page keeps in Latin letters: names
// users typed (the seeded projects and users, the test's own names),
// product names and the technical terms Chinese consoles write in Latin
// (glossary: vCPU, IP, RC, UTC, and formats and protocols by name).
var zhAllowed = []string{
	// names typed by users and the seed
	"admin", "demo", "zh-vm", "tiny", "Default", "default", "member", "reader", "manager",
	"nano", "micro", "small", "medium", "large", "xlarge", // the seeded flavors (m1.small)
	// names of things
	"Nimbus", "OpenStack", "English", "noVNC", "VNC", "QEMU", "KVM", "libvirt",
	"Test", "zh-host", // the test driver's hypervisor type and the test's host
	// units and terms Chinese consoles keep
	"vCPU", "VCPU", "VCPUs", "vCPUs", "CPU", "I/O", "CSV", "UTC", "GiB", "MiB", "KiB", "TiB", "RAM",
	"IPv4", "IPv6", "CIDR", "DHCP", "DNS", "MAC", "UUID", "SSH", "RSA", "ECDSA", "ED25519",
	"qcow2", "raw", "ami", "ari", "aki", "vhd", "vmdk", "vdi", "iso", "ploop", "bare", "ovf", "ova", "docker",
	"json", "JSON", "URL", "API", "CLI", "HTTP", "HTTPS", "TCP", "UDP", "ICMP", "VLAN", "VXLAN", "MTU",
}

// TestBrowserChinese walks the main path of the portal in Simplified
// Chinese, chosen with the sign-in page's switcher: sign in, overview,
// launch an instance, its page, its monitoring and console tabs, images,
// usage, and the admin's quotas and hypervisors. On each page no English is left but names users typed and the
// terms above, and a screenshot of each is kept in test-artifacts/.
func TestBrowserChinese(t *testing.T) {
	tc := controllertest.New(t, nil)
	agent := tc.StartAgentOn(t, "zh-host", "test:///default", t.TempDir(), "NIMBUS_AGENT_STATS_INTERVAL=1s")
	tc.WaitHosts(t, 1)
	imageID := tc.ActiveImage(t)
	ctx := newBrowserFor(t, 2*time.Minute)

	shot := func(name string) {
		t.Helper()
		png := browserRun(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
		os.MkdirAll(artifactDir, 0o755)
		if err := os.WriteFile(filepath.Join(artifactDir, "zh-CN-"+name+".png"), png, 0o644); err != nil {
			t.Error(err)
		}
	}
	check := func(name string) {
		t.Helper()
		shot(name)
		if lang := browserRun(t, ctx, "read the page language", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "zh-CN" {
			t.Errorf("%s: html lang %q, want zh-CN", name, lang)
		}
		if left := browserRun(t, ctx, "look for English on "+name, chromedp.Evaluate[string](englishJS(zhAllowed))); left != "" {
			t.Errorf("%s: English left on the page: %s", name, left)
		}
	}

	// The switcher on the sign-in page (portal.js submits it on change).
	browserDo(t, ctx, "open the sign-in page", chromedp.Navigate(tc.URL+"/auth/login"), chromedp.WaitVisible(tid("login-form")),
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('[data-testid="language-select"]'); s.value = "zh-CN"; s.dispatchEvent(new Event("change", {bubbles: true})); })()`),
		chromedp.WaitVisible(chromedp.CSS(`html[lang="zh-CN"] [data-testid="login-form"]`)))
	check("login")
	browserLogin(t, ctx, tc, "demo", tc.DemoPass)
	check("overview")

	browserDo(t, ctx, "open the launch dialog", chromedp.Navigate(tc.URL+"/project/instances/launch"), chromedp.WaitVisible(tid("launch-form")))
	check("launch")
	browserDo(t, ctx, "fill the launch form", chromedp.SetValue(tid("field-name"), "zh-vm"),
		chromedp.SetValue(tid("field-image"), imageID), chromedp.SetValue(tid("field-flavor"), "1"))
	if st := submit(t, ctx, "launch", chromedp.Click(tid("launch-submit"))); st != 200 {
		t.Fatalf("launch: status %d: %s", st, browserRun(t, ctx, "read the errors", chromedp.Evaluate[string](`document.querySelector("main").innerText`)))
	}
	waitPage(t, ctx, time.Minute, "status of zh-vm", rowStatusJS("zh-vm"), "运行中")
	check("instances")

	browserDo(t, ctx, "open the instance", chromedp.Click(chromedp.CSS(`[data-testid="instance-row-zh-vm"] a`)), chromedp.WaitVisible(tid("instance-live")))
	check("instance")
	browserDo(t, ctx, "open the monitoring tab", chromedp.Click(tid("tab-monitoring")), chromedp.WaitVisible(tid("monitoring")))
	waitPage(t, ctx, 20*time.Second, "the charts", `document.querySelector('[data-testid="chart-net"]') ? "drawn" : ""`, "drawn")
	check("monitoring")
	browserDo(t, ctx, "open the console tab", chromedp.Click(tid("tab-console")), chromedp.WaitVisible(tid("instance-live")))
	check("console")
	browserDo(t, ctx, "open the log tab", chromedp.Click(tid("tab-log")), chromedp.WaitVisible(tid("console-log")))
	check("log")
	// The tab follows the log: what the guest writes appears without a
	// reload (the test driver's guest writes nothing; the test does).
	browserRun(t, ctx, "mark the page", chromedp.Evaluate[int](`window.__noReload = 1`))
	id := firstID(t, tc.Do(t, "GET", "/compute/v2.1/servers?name=zh-vm", tc.DemoToken(t), nil), "servers")
	logPath := filepath.Join(agent.Dir, "instances", id, "console.log")
	os.MkdirAll(filepath.Dir(logPath), 0o755)
	if err := os.WriteFile(logPath, []byte("login: 来自客户机的一行\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitPage(t, ctx, 15*time.Second, "the log tab's output", `(() => { const p = document.querySelector('[data-testid="console-log-output"]'); return p && !p.classList.contains("hidden") ? p.textContent : ""; })()`, "login: 来自客户机的一行\n")
	if !browserRun(t, ctx, "read the mark", chromedp.Evaluate[bool](`window.__noReload === 1`)) {
		t.Error("the page was reloaded to show the log")
	}

	browserDo(t, ctx, "open images", chromedp.Navigate(tc.URL+"/project/images"), chromedp.WaitVisible(tid("page-title")))
	check("images")
	browserDo(t, ctx, "open usage", chromedp.Navigate(tc.URL+"/project/usage"), chromedp.WaitVisible(tid("usage-table")))
	check("usage")

	browserDo(t, ctx, "sign out", chromedp.Click(tid("logout")), chromedp.WaitVisible(tid("login-form")))
	browserLogin(t, ctx, tc, "admin", tc.AdminPass)
	browserDo(t, ctx, "open quotas", chromedp.Navigate(tc.URL+"/admin/quotas"), chromedp.WaitVisible(tid("page-title")))
	check("admin-quotas")
	browserDo(t, ctx, "open hypervisors", chromedp.Navigate(tc.URL+"/admin/hypervisors"), chromedp.WaitVisible(tid("page-title")))
	check("admin-hypervisors")
}
