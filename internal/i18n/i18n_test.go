package i18n

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// keyRe finds catalogue keys written as string literals: a known group,
// a dot, then the rest. Every such literal in the views and the portal
// handlers must be in the catalogue, so no page shows a raw key.
var keyRe = regexp.MustCompile(`"((?:app|common|header|nav|login|overview|quota|placeholder|feature|projects|members|users|form|error|images|keypairs|flavors|hosts|instances|quotas|status|power)\.[A-Za-z0-9_.-]+)"`)

func TestEveryUsedKeyIsInTheCatalogue(t *testing.T) {
	var files []string
	for _, glob := range []string{"../../views/*.templ", "../../views/*.go", "../../handlers/portal/*.go"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d source files", len(files))
	}
	used := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			used++
			key := m[1]
			// "error."+code+".title" is built at run time; its parts are
			// checked below.
			// "instances.action."+name is built at run time like the error keys.
			if strings.HasSuffix(key, ".") {
				continue
			}
			if !Has(key) {
				t.Errorf("%s uses %q, which the catalogue lacks", filepath.Base(f), key)
			}
		}
	}
	if used < 50 {
		t.Errorf("found %d key uses, the scan is probably broken", used)
	}
	for _, code := range []string{"400", "403", "404", "409", "413", "429", "500", "503"} {
		for _, part := range []string{"title", "message"} {
			if !Has("error." + code + "." + part) {
				t.Errorf("catalogue lacks error.%s.%s", code, part)
			}
		}
	}
}

func TestTranslateAndFallback(t *testing.T) {
	ctx := WithLang(context.Background(), "zh-CN")
	if got := T(ctx, "nav.overview"); got != "Overview" {
		t.Errorf("missing language falls back to English: got %q", got)
	}
	if got := T(context.Background(), "users.created", "bob"); got != "User bob created." {
		t.Errorf("formatting: got %q", got)
	}
	if got := T(context.Background(), "no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: got %q", got)
	}
	if got := Match("fr-FR,en;q=0.8"); got != "en" {
		t.Errorf("Match: got %q", got)
	}
}
