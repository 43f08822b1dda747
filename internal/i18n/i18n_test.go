package i18n

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// keyRe finds catalogue keys written as string literals: one of the
// catalogue's groups (the part before the first dot), a dot, then the
// rest. Every such literal in the views and the portal handlers must be in
// the catalogue, so no page shows a raw key.
func keyRe() *regexp.Regexp {
	groups := map[string]bool{}
	for _, k := range Keys() {
		groups[regexp.QuoteMeta(strings.SplitN(k, ".", 2)[0])] = true
	}
	alt := make([]string, 0, len(groups))
	for g := range groups {
		alt = append(alt, g)
	}
	return regexp.MustCompile(`"((?:` + strings.Join(alt, "|") + `)\.[A-Za-z0-9_.-]+)"`)
}

func TestEveryUsedKeyIsInTheCatalogue(t *testing.T) {
	keyRe := keyRe()
	var files []string
	for _, glob := range []string{"../../views/*.templ", "../../views/*_models.go", "../../views/models.go", "../../handlers/portal/*.go"} {
		m, _ := filepath.Glob(glob)
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") { // tests are not pages
				files = append(files, f)
			}
		}
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
	zh := WithLang(context.Background(), "zh-CN")
	if got := T(zh, "nav.overview"); got != "概况" {
		t.Errorf("zh-CN: got %q", got)
	}
	if got := T(context.Background(), "users.created", "bob"); got != "User bob created." {
		t.Errorf("formatting: got %q", got)
	}
	if got := T(context.Background(), "no.such.key"); got != "no.such.key" {
		t.Errorf("unknown key: got %q", got)
	}
	// Numbers are grouped as the language writes them.
	if got := T(context.Background(), "quota.used_of", 1500, 20000); got != "1,500 of 20,000" {
		t.Errorf("numbers: got %q", got)
	}
}

func TestMatch(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "en",
		"fr-FR,en;q=0.8":          "en",
		"fr-FR":                   "en",
		"zh-CN,zh;q=0.9,en;q=0.8": "zh-CN",
		"zh":                      "zh-CN",
		"zh-Hans":                 "zh-CN",
		"en-GB,zh-CN;q=0.5":       "en",
		"de;q=0.9, zh-cn;q=0.8":   "zh-CN",
		"not a header;;;":         "en",
		"*":                       "en",
	} {
		if got := Match(in); got != want {
			t.Errorf("Match(%q) = %q, want %q", in, got, want)
		}
	}
}
