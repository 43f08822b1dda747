package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/internal/validate"
)

// CheckInput refuses, with 400 before any handler runs, a request whose
// path or query parameters PostgreSQL could not compare with anything:
// NUL bytes (%00) or invalid UTF-8, or a parameter longer than a filter
// may be. Every list filter, lookup key and path id passes through here,
// so none of them reaches the database as a 500 (22021). JSON bodies are
// checked field by field by the domain (internal/validate).
func CheckInput(c *fiber.Ctx) error {
	if err := validate.Filter("path", string(c.Context().Path())); err != nil {
		return err
	}
	var bad error
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if bad != nil {
			return
		}
		if bad = validate.Filter("query", string(k)); bad == nil {
			bad = validate.Filter(string(k), string(v))
		}
	})
	if bad != nil {
		return bad
	}
	return c.Next()
}

// Deadline gives every request a deadline on its context: d, or long for
// requests that move image data (long says which). PostgreSQL and Redis
// calls made with the request's context then end with a 503 when their
// server hangs, instead of holding the request (and a connection) for
// ever. The deadline is lifted once the handlers return, so that the error
// handler can still render its answer.
func Deadline(d time.Duration, long func(c *fiber.Ctx) bool, longD time.Duration) fiber.Handler {
	return func(c *fiber.Ctx) error {
		t := d
		if long(c) {
			t = longD
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), t)
		defer func() {
			cancel()
			c.SetUserContext(context.WithoutCancel(c.UserContext()))
		}()
		c.SetUserContext(ctx)
		return c.Next()
	}
}
