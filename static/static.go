// Package static embeds the portal's built front-end assets (static/dist,
// made by `npm run build` from package.json; not committed). The sources
// live in static/src.
package static

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// FS returns the built assets, rooted at dist/.
func FS() fs.FS {
	sub, _ := fs.Sub(dist, "dist")
	return sub
}
