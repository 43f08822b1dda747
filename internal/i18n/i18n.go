// Package i18n is the portal's one message catalogue. Every string the
// portal shows is looked up here by key. The messages live in
// messages/<language>.json, flat files a translator edits without Go;
// en.json is the reference every other language follows key for key and
// placeholder for placeholder (TestCataloguesAgree).
//
// Lookup, formatting and language matching are golang.org/x/text's:
// a catalog.Builder holds the files, message.Printer formats a message
// with its printf verbs for the language (numbers are grouped as the
// language groups them), and language.Matcher picks the best supported
// language for a preference or an Accept-Language header.
package i18n

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Default is the language used when none is chosen or known.
const Default = "en"

//go:embed messages/*.json
var files embed.FS

var (
	// messages are the files as loaded, by language name ("en", "zh-CN").
	messages = map[string]map[string]string{}
	// langs are the supported languages, Default first (the matcher's
	// fallback is its first tag).
	langs    []string
	tags     []language.Tag
	matcher  language.Matcher
	printers = map[string]*message.Printer{}
)

func init() {
	if err := load(); err != nil {
		panic("i18n: " + err.Error())
	}
}

// load reads every message file into one catalogue.
func load() error {
	entries, err := files.ReadDir("messages")
	if err != nil {
		return err
	}
	b := catalog.NewBuilder()
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		raw, err := files.ReadFile(path.Join("messages", e.Name()))
		if err != nil {
			return err
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		tag, err := language.Parse(name)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
		for k, v := range m {
			if err := b.SetString(tag, k, v); err != nil {
				return fmt.Errorf("%s %s: %w", e.Name(), k, err)
			}
			// A lookup walks a tag's parents (zh-CN, zh, und): English
			// is also the root, so a key a language lacks falls back
			// to it.
			if name == Default {
				if err := b.SetString(language.Und, k, v); err != nil {
					return err
				}
			}
		}
		messages[name] = m
		langs = append(langs, name)
	}
	if messages[Default] == nil {
		return fmt.Errorf("no %s.json", Default)
	}
	sort.Slice(langs, func(i, j int) bool { return langs[i] == Default || (langs[j] != Default && langs[i] < langs[j]) })
	for _, l := range langs {
		t := language.MustParse(l)
		tags = append(tags, t)
		printers[l] = message.NewPrinter(t, message.Catalog(b))
	}
	matcher = language.NewMatcher(tags)
	return nil
}

type ctxKey struct{}

// WithLang returns ctx carrying the language lang.
func WithLang(ctx context.Context, lang string) context.Context {
	return context.WithValue(ctx, ctxKey{}, lang)
}

// Lang returns the language carried by ctx.
func Lang(ctx context.Context) string {
	if l, ok := ctx.Value(ctxKey{}).(string); ok {
		return l
	}
	return Default
}

// Languages are the supported languages, Default first.
func Languages() []string { return append([]string(nil), langs...) }

// Supported reports whether lang names a catalogue exactly ("zh-CN").
func Supported(lang string) bool { return messages[lang] != nil }

// Match picks the best supported language for an Accept-Language header
// (or a single preference such as "zh"), Default when none fits.
func Match(acceptLanguage string) string {
	want, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(want) == 0 {
		return Default
	}
	_, i, conf := matcher.Match(want...)
	if conf == language.No {
		return Default
	}
	return langs[i]
}

// T returns the message key in ctx's language, formatted with args. A key
// missing from the language falls back to English; one missing from every
// catalogue is returned as itself, so it shows on the page and the
// catalogue tests catch it.
func T(ctx context.Context, key string, args ...any) string {
	p := printers[Lang(ctx)]
	if p == nil {
		p = printers[Default]
	}
	return p.Sprintf(key, args...)
}

// Has reports whether the English catalogue has key.
func Has(key string) bool {
	_, ok := messages[Default][key]
	return ok
}

// Keys returns every key of the English catalogue.
func Keys() []string {
	out := make([]string, 0, len(messages[Default]))
	for k := range messages[Default] {
		out = append(out, k)
	}
	return out
}
