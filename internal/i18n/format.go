package i18n

import (
	"context"
	"time"
)

// Time formats t, in UTC, as the language writes a date and time. The
// layout is the catalogue's format.datetime, a Go time layout
// ("2006-01-02 15:04 UTC"; zh-CN writes 2006年1月2日), so a translator
// sets it like any message.
func Time(ctx context.Context, t time.Time) string {
	return t.UTC().Format(T(ctx, "format.datetime"))
}

// Age says how long ago t was, in the largest whole unit (45 s, 3 min,
// 5 h, 2 d), in the language's words.
func Age(ctx context.Context, t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return T(ctx, "format.age_seconds", int(d.Seconds()))
	case d < time.Hour:
		return T(ctx, "format.age_minutes", int(d.Minutes()))
	case d < 48*time.Hour:
		return T(ctx, "format.age_hours", int(d.Hours()))
	}
	return T(ctx, "format.age_days", int(d.Hours()/24))
}
