package i18n

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// verbRe finds a printf verb: %%, or % with an optional argument index,
// flags, width and precision, then the verb letter.
var verbRe = regexp.MustCompile(`%(?:%|(\[\d+\])?[-+# 0]*\d*(?:\.\d+)?[a-zA-Z])`)

// verbs returns the verbs of msg in argument order, without indexes: with
// explicit indexes a translation may reorder its arguments, which still
// take the same values.
func verbs(msg string) []string {
	type arg struct {
		n    int
		verb string
	}
	var args []arg
	next := 1
	for _, m := range verbRe.FindAllStringSubmatch(msg, -1) {
		if m[0] == "%%" {
			continue
		}
		verb := strings.Replace(m[0], m[1], "", 1)
		n := next
		if m[1] != "" {
			n = 0
			for _, c := range m[1][1 : len(m[1])-1] {
				n = n*10 + int(c-'0')
			}
		}
		args = append(args, arg{n, verb})
		next = n + 1
	}
	slices.SortStableFunc(args, func(a, b arg) int { return a.n - b.n })
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.verb
	}
	return out
}

// TestCataloguesAgree: every language has exactly English's keys, each
// with the same placeholders taking the same arguments.
func TestCataloguesAgree(t *testing.T) {
	if len(langs) < 2 {
		t.Fatalf("languages %v: zh-CN is missing", langs)
	}
	en := messages[Default]
	for _, lang := range langs[1:] {
		c := messages[lang]
		for k, e := range en {
			v, ok := c[k]
			if !ok {
				t.Errorf("%s lacks %q (English: %q)", lang, k, e)
				continue
			}
			if got, want := verbs(v), verbs(e); !slices.Equal(got, want) {
				t.Errorf("%s %q has placeholders %v, English %v", lang, k, got, want)
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s %q is empty", lang, k)
			}
		}
		for k := range c {
			if _, ok := en[k]; !ok {
				t.Errorf("%s has %q, which English lacks", lang, k)
			}
		}
	}
}

func TestVerbs(t *testing.T) {
	for in, want := range map[string][]string{
		"%d of %d":      {"%d", "%d"},
		"100%% %s":      {"%s"},
		"%[2]s 的 %[1]d": {"%d", "%s"},
		"%.1f GiB":      {"%.1f"},
		"no host%.0s":   {"%.0s"},
		"plain":         {},
	} {
		if got := verbs(in); !slices.Equal(got, want) {
			t.Errorf("verbs(%q) = %v, want %v", in, got, want)
		}
	}
}
