// Package i18n is the portal's one message catalogue. Every string the
// portal shows is looked up here by key, so that a translation is a new
// catalogue, not a hunt through templates. English is complete; Simplified
// Chinese (zh-CN) is to follow and falls back to English key by key.
package i18n

import (
	"context"
	"fmt"
	"strings"
)

type ctxKey struct{}

// Default is the language used when none is chosen or known.
const Default = "en"

var catalogues = map[string]map[string]string{
	"en": en,
}

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

// Match picks the best supported language for an Accept-Language header.
func Match(acceptLanguage string) string {
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		for lang := range catalogues {
			if tag == strings.ToLower(lang) || strings.HasPrefix(tag, strings.ToLower(lang)+"-") {
				return lang
			}
		}
	}
	return Default
}

// T returns the message key in ctx's language, formatted with args. A key
// missing from every catalogue is returned as itself, so it shows on the
// page and the catalogue test catches it.
func T(ctx context.Context, key string, args ...any) string {
	msg, ok := catalogues[Lang(ctx)][key]
	if !ok {
		if msg, ok = en[key]; !ok {
			return key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// Has reports whether the English catalogue has key.
func Has(key string) bool {
	_, ok := en[key]
	return ok
}

// Keys returns every key of the English catalogue.
func Keys() []string {
	out := make([]string, 0, len(en))
	for k := range en {
		out = append(out, k)
	}
	return out
}
