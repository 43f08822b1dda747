// Small enhancements for the portal; every page works without them.
// Forms that destroy something ask first when data-confirm is set.
document.addEventListener("submit", (ev) => {
  const msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
// htmx requests carry the session's CSRF token from the page's meta tag.
document.addEventListener("htmx:configRequest", (ev) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) ev.detail.headers["X-CSRF-Token"] = meta.content;
});
// A select marked data-autosubmit (the language switcher) sends its form
// as soon as it changes.
document.addEventListener("change", (ev) => {
  if (ev.target.matches && ev.target.matches("select[data-autosubmit]")) ev.target.form.requestSubmit();
});
// Live pages. One Server-Sent Events stream per tab carries the changes
// the user may see (internal/live); it starts where the page was rendered
// (the live-since meta) and, after a drop, the browser resumes it with
// Last-Event-ID, so nothing is missed. An element marked
// data-live="instance" (any instance) or "instance:<id>" (that one) is
// sent the htmx event nimbus:live when a change it names arrives, and its
// hx-trigger fetches it again; one also marked data-live-refresh (and an
// id) is fetched again from the page's own URL. Changes are gathered for 100 ms, so a
// burst costs each element one request, and nothing is asked while
// nothing changes.
(() => {
  const since = document.querySelector('meta[name="live-since"]');
  if (!since || !window.EventSource) return;
  const pending = new Set();
  let timer = null;
  // A part someone is typing into waits until they leave it: a refresh
  // would throw their input away (a disable reason, a tag).
  const typing = (el) => {
    const a = document.activeElement;
    return a && a !== document.body && el.contains(a) && a.matches("input:not([type=checkbox]):not([type=radio]), textarea, select");
  };
  const flush = (all) => {
    timer = null;
    let waiting = false;
    document.querySelectorAll("[data-live]").forEach((el) => {
      if (!(all || el.dataset.live.split(" ").some((k) => pending.has(k))) || !window.htmx) return;
      if (typing(el)) { waiting = true; return; }
      if (el.hasAttribute("data-live-refresh") && el.id) {
        // A part of the page with no fragment URL of its own: the page
        // again, this part of it swapped in.
        htmx.ajax("GET", location.pathname + location.search, { target: "#" + el.id, select: "#" + el.id, swap: "outerHTML" });
      } else {
        htmx.trigger(el, "nimbus:live");
      }
    });
    if (waiting) { timer = setTimeout(() => flush(all), 1000); return; }
    pending.clear();
  };
  // Statistics (a chart's "stats:<id>", the Hypervisors page's "host")
  // come only to a page that names them: every VM's samples, every ten
  // seconds, are not every page's business.
  const watch = new Set();
  document.querySelectorAll("[data-live]").forEach((el) =>
    el.dataset.live.split(" ").forEach((k) => { if (k.startsWith("stats:") || k === "host") watch.add(k); }));
  const es = new EventSource("/project/events?since=" + encodeURIComponent(since.content) +
    (watch.size ? "&watch=" + encodeURIComponent([...watch].join(" ")) : ""));
  es.addEventListener("open", () => { document.documentElement.dataset.live = "open"; });
  es.addEventListener("error", () => { document.documentElement.dataset.live = "reconnecting"; });
  es.addEventListener("change", (ev) => {
    const c = JSON.parse(ev.data);
    pending.add(c.change);
    pending.add(c.change + ":" + c.id);
    if (!timer) timer = setTimeout(() => flush(false), 100);
  });
  // The feed lost changes this page never heard: refresh every live part.
  es.addEventListener("reset", () => flush(true));
})();
// The Log tab follows a running guest's serial log: an event stream of
// what it writes after the output shown (data-log-follow), appended as it
// comes. A new body (another line count chosen) follows anew; the old
// stream is closed.
(() => {
  let follow = null;
  const start = () => {
    const box = document.querySelector("[data-log-follow]");
    const url = box && box.dataset.logFollow;
    if (follow && follow.url === url && document.body.contains(follow.box)) return;
    if (follow) follow.es.close();
    follow = null;
    if (!url || !window.EventSource) return;
    const es = new EventSource(url);
    follow = { url, box, es };
    es.addEventListener("log", (ev) => {
      const pre = box.querySelector('[data-testid="console-log-output"]');
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent += JSON.parse(ev.data);
      pre.classList.remove("hidden");
      const empty = box.querySelector("[data-log-empty]");
      if (empty) empty.classList.add("hidden");
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    });
    es.addEventListener("gone", () => es.close());
  };
  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);
})();
// The header's theme button: system -> light -> dark (theme.js keeps it).
document.addEventListener("click", (ev) => {
  const b = ev.target.closest && ev.target.closest("[data-theme-toggle]");
  if (b && window.nimbusTheme) window.nimbusTheme.next();
});
// The instance list's selection: checked rows are remembered across the
// live refreshes of the table (which replace its rows), counted in the
// bulk bar, and sent in one request by its buttons (bulk-form).
(() => {
  const picked = new Set();
  const sync = () => {
    const form = document.getElementById("bulk-form");
    if (!form) return;
    const rows = document.querySelectorAll("input[data-bulk-row]");
    rows.forEach((b) => { b.checked = picked.has(b.value); });
    // Rows no longer listed (deleted, filtered out) leave the selection.
    const shown = new Set([...rows].map((b) => b.value));
    [...picked].forEach((id) => { if (!shown.has(id)) picked.delete(id); });
    form.querySelectorAll("[data-bulk-button]").forEach((b) => { b.disabled = picked.size === 0; });
    form.querySelector("[data-bulk-count]").textContent = String(picked.size);
    form.querySelector("[data-bulk-some]").classList.toggle("hidden", picked.size === 0);
    form.querySelector("[data-bulk-none]").classList.toggle("hidden", picked.size > 0);
    const all = document.querySelector("input[data-bulk-all]");
    if (all) all.checked = rows.length > 0 && picked.size === rows.length;
  };
  document.addEventListener("change", (ev) => {
    const el = ev.target;
    if (el.matches && el.matches("input[data-bulk-row]")) {
      if (el.checked) picked.add(el.value); else picked.delete(el.value);
      sync();
    } else if (el.matches && el.matches("input[data-bulk-all]")) {
      document.querySelectorAll("input[data-bulk-row]").forEach((b) => { if (el.checked) picked.add(b.value); else picked.delete(b.value); });
      sync();
    }
  });
  document.addEventListener("htmx:afterSwap", sync);
  document.addEventListener("DOMContentLoaded", sync);
})();
// A bulk button that destroys asks first (before htmx sends the form).
document.addEventListener("submit", (ev) => {
  const msg = ev.submitter && ev.submitter.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) { ev.preventDefault(); ev.stopImmediatePropagation(); }
}, true);
