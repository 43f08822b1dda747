package static

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

var importRE = regexp.MustCompile(`(?m)(?:^|;|\s)(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?m)^\s*import\s*['"]([^'"]+)['"]`)

// TestModuleImportsResolve follows every ES module import from the
// portal's console script through noVNC and checks each file is embedded:
// one missing file makes the browser refuse the whole module graph, and
// the console silently never starts.
func TestModuleImportsResolve(t *testing.T) {
	fsys := FS()
	seen := map[string]bool{}
	var walk func(file, from string)
	walk = func(file, from string) {
		if seen[file] {
			return
		}
		seen[file] = true
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			t.Errorf("%s (imported by %s) is not embedded: %v", file, from, err)
			return
		}
		for _, m := range importRE.FindAllStringSubmatch(string(b), -1) {
			spec := m[1] + m[2]
			switch {
			case strings.HasPrefix(spec, "/static/"):
				walk(strings.TrimPrefix(spec, "/static/"), file)
			case strings.HasPrefix(spec, "."):
				walk(path.Join(path.Dir(file), spec), file)
			default:
				t.Errorf("%s imports %q, which a browser cannot resolve without a bundler", file, spec)
			}
		}
	}
	walk("console.js", "the console page")
	if len(seen) < 20 {
		t.Errorf("only %d modules reached from console.js: noVNC's imports were not followed", len(seen))
	}
}
