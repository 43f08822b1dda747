package i18n

// enConsole is the English catalogue of the console: the instance page's
// Console and Log tabs, the full-page console and the proxy's answers.
// init merges it into en, so there is still one catalogue.
var enConsole = map[string]string{
	"console.title":               "Console",
	"console.status":              "Status:",
	"console.status.connecting":   "Connecting…",
	"console.status.connected":    "Connected",
	"console.status.disconnected": "Disconnected. Press Reconnect to open the console again.",
	"console.status.failed":       "Could not connect to the console.",
	"console.status.pasted":       "Text typed into the console.",
	"console.send_cad":            "Send Ctrl-Alt-Del",
	"console.scale":               "Scale to window",
	"console.fullscreen":          "Fullscreen",
	"console.reconnect":           "Reconnect",
	"console.open_full":           "Open in its own page",
	"console.paste":               "Paste text",
	"console.paste_help":          "Types the text into the VM key by key, as if you typed it.",
	"console.paste_send":          "Type into the VM",
	"console.not_running":         "The console is available while the instance is running.",
	"console.error.not_websocket": "This is the console proxy's websocket endpoint; open the console URL in a browser.",
	"console.error.origin":        "This page may not open consoles: its origin is not one this cloud trusts.",
	"console.error.token":         "This console link is invalid, expired or already used. Ask for a new console.",
	"console.error.unavailable":   "The console service is unavailable. Try again shortly.",
	"console.error.moved":         "This console link no longer shows its instance's screen (the instance was powered off or moved). Ask for a new console.",
	"console.error.unreachable":   "The console of this instance cannot be reached. Try again shortly.",
	"instances.tab.overview":      "Overview",
	"instances.tab.log":           "Log",
	"instances.tab.console":       "Console",
	"instances.tab.actions":       "Action log",
	"instances.log.title":         "Serial console log",
	"instances.log.lines":         "Lines",
	"instances.log.empty":         "The instance has written nothing to its serial console yet.",
	"instances.log.unavailable":   "The log cannot be read now: %s",
	"instances.log.full":          "View the whole log",

	// Caps on open consoles (the proxy's 429); the argument is the cap.
	"console.error.too_many_user":     "You have %d consoles open, as many as allowed. Close one and try again.",
	"console.error.too_many_instance": "This instance has %d consoles open, as many as allowed. Close one and try again.",
	"console.error.too_many_proxy":    "The console proxy has %d consoles open, as many as it allows. Try again shortly.",
}

func init() { mergeEN(enConsole) }
