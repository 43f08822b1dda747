// Copies the browser scripts the portal uses from node_modules into
// static/dist, so the nimbus binary embeds them and no CDN is needed.
import { cpSync, mkdirSync } from "node:fs";

mkdirSync("static/dist/vendor", { recursive: true });
cpSync("node_modules/htmx.org/dist/htmx.min.js", "static/dist/vendor/htmx.min.js");
// noVNC's ES modules (core/ and the pako it vendors); its top-level
// tests, docs, build utils and translations are not needed. Only the top
// level is filtered: vendor/pako/lib/utils is imported by the inflator.
const novnc = "node_modules/@novnc/novnc";
cpSync(novnc, "static/dist/vendor/novnc", {
  recursive: true,
  filter: (src) => !/^\/(tests?|docs|utils|snap|po|\.[^/]*)$/.test(src.slice(novnc.length)),
});
cpSync("static/src/portal.js", "static/dist/portal.js");
cpSync("static/src/launch.js", "static/dist/launch.js");
cpSync("static/src/images.js", "static/dist/images.js");
cpSync("static/src/console.js", "static/dist/console.js");
cpSync("static/src/theme.js", "static/dist/theme.js");
