// Copies the browser scripts the portal uses from node_modules into
// static/dist, so the nimbus binary embeds them and no CDN is needed.
import { cpSync, mkdirSync } from "node:fs";

mkdirSync("static/dist/vendor", { recursive: true });
cpSync("node_modules/htmx.org/dist/htmx.min.js", "static/dist/vendor/htmx.min.js");
cpSync("node_modules/@novnc/novnc", "static/dist/vendor/novnc", {
  recursive: true,
  filter: (src) => !/(\/|^)(tests?|docs|utils|snap|po|\.[^/]*)$/.test(src),
});
cpSync("static/src/portal.js", "static/dist/portal.js");
cpSync("static/src/launch.js", "static/dist/launch.js");
cpSync("static/src/images.js", "static/dist/images.js");
cpSync("static/src/console.js", "static/dist/console.js");
