// Drives every [data-console] element: noVNC's RFB on a websocket to the
// Nimbus console proxy, with the toolbar (status, Ctrl-Alt-Del,
// fullscreen, scale, reconnect, paste text). Words come from the
// element's data-msg-* attributes (the message catalogue), never from here.
import RFB from "/static/vendor/novnc/core/rfb.js";

// keysyms for characters that are not their own code point.
const XK_Return = 0xff0d;
const XK_Tab = 0xff09;
const XK_Shift_L = 0xffe1;

// Characters typed with Shift on a US keyboard. The VNC server turns a
// keysym into a key press on its keymap; holding Shift around these makes
// "A" or ">" arrive as typed whether or not the server adds it itself.
const SHIFTED = /[A-Z~!@#$%^&*()_+{}|:"<>?]/;

function keysymOf(ch) {
  if (ch === "\n") return XK_Return;
  if (ch === "\t") return XK_Tab;
  const cp = ch.codePointAt(0);
  // Latin-1 keysyms equal the code point; others are 0x01000000 + it.
  return cp < 0x100 ? cp : 0x01000000 + cp;
}

function setup(el) {
  const screen = el.querySelector("[data-console-screen]");
  const status = el.querySelector("[data-console-status]");
  const scale = el.querySelector("[data-console-scale]");
  let rfb = null;
  let firstToken = true; // the proxy page's own token is good once

  const say = (state, text) => {
    el.dataset.state = state;
    status.textContent = text;
  };

  // The websocket URL: the portal asks for a fresh token each time; the
  // proxy page uses the token it was given, after checking it is good.
  async function wsURL() {
    if (el.dataset.tokenUrl) {
      const res = await fetch(el.dataset.tokenUrl, {
        method: "POST",
        headers: { "X-CSRF-Token": el.dataset.csrf || "" },
        credentials: "same-origin",
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok || !body.url) throw new Error(body.message || el.dataset.msgFailed);
      return body.url;
    }
    if (!firstToken) throw new Error(el.dataset.msgFailed);
    firstToken = false;
    const res = await fetch(el.dataset.checkUrl, { cache: "no-store" });
    const body = await res.json().catch(() => ({}));
    if (!body.valid) throw new Error(body.message || el.dataset.msgFailed);
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + location.host + el.dataset.wsPath;
  }

  async function connect() {
    if (rfb) {
      rfb.disconnect();
      rfb = null;
    }
    screen.replaceChildren();
    say("connecting", el.dataset.msgConnecting);
    let url;
    try {
      url = await wsURL();
    } catch (e) {
      say("error", e.message);
      return;
    }
    const r = new RFB(screen, url, { wsProtocols: ["binary"] });
    rfb = r;
    r.scaleViewport = scale.checked;
    r.resizeSession = false;
    r.addEventListener("connect", () => {
      say("connected", el.dataset.msgConnected);
      r.focus();
    });
    r.addEventListener("disconnect", (e) => {
      if (rfb !== r) return;
      say(e.detail.clean ? "disconnected" : "error", e.detail.clean ? el.dataset.msgDisconnected : el.dataset.msgFailed);
    });
    r.addEventListener("securityfailure", (e) => say("error", e.detail.reason || el.dataset.msgFailed));
  }

  el.querySelector("[data-console-cad]").addEventListener("click", () => rfb && rfb.sendCtrlAltDel());
  el.querySelector("[data-console-reconnect]").addEventListener("click", connect);
  el.querySelector("[data-console-fullscreen]").addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else screen.requestFullscreen().catch(() => {});
  });
  scale.addEventListener("change", () => {
    if (rfb) rfb.scaleViewport = scale.checked;
  });
  // Paste text: types the string into the VM key by key (the guest has no
  // clipboard to paste from).
  el.querySelector("[data-console-paste]").addEventListener("click", () => {
    const text = el.querySelector("[data-console-paste-text]").value;
    if (!rfb || !text) return;
    for (const ch of text) {
      const ks = keysymOf(ch);
      const shift = SHIFTED.test(ch);
      if (shift) rfb.sendKey(XK_Shift_L, "ShiftLeft", true);
      rfb.sendKey(ks, null, true);
      rfb.sendKey(ks, null, false);
      if (shift) rfb.sendKey(XK_Shift_L, "ShiftLeft", false);
    }
    status.textContent = el.dataset.msgPasted;
    rfb.focus();
  });

  // For tests and the curious: the live RFB object.
  el.nimbusConsole = { get rfb() { return rfb; }, connect };
  connect();
}

document.querySelectorAll("[data-console]").forEach(setup);
