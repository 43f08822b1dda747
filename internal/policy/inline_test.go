package policy

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoDecisionsOutsideTheTable: who may do what is decided in the table
// alone. A role check written inline elsewhere (IsAdmin, HasRole) is a
// rule that the table, its tests and the RBAC matrix never see.
func TestNoDecisionsOutsideTheTable(t *testing.T) {
	root := filepath.Join("..", "..")
	inline := regexp.MustCompile(`\.(IsAdmin|HasRole)\(`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", ".git", "policy", "model", ".data", "bin", "test-artifacts":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if inline.MatchString(line) {
				t.Errorf("%s:%d: a role check outside the policy table: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
