// Package fault holds the errors every layer may return and handlers turn
// into HTTP answers: one set of conditions, mapped to OpenStack's error
// shapes by the API handlers and to error pages by the portal.
package fault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Sentinels for conditions callers branch on.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("the request you have made requires authentication")
	ErrForbidden    = errors.New("you are not authorized to perform the requested action")
	// ErrBusy means the server refused work to protect itself; retry soon.
	ErrBusy = errors.New("the server is busy, try again shortly")
	// ErrUnavailable means a backing service (PostgreSQL, Redis) could
	// not be reached or did not answer in time: the request may well
	// succeed if retried, and nothing can be said about what it asked
	// for (in particular not that it does not exist).
	ErrUnavailable = errors.New("the service is temporarily unavailable, try again shortly")
)

// unavailable is ErrUnavailable with its cause, which goes to the log and
// never to a client.
type unavailable struct{ cause error }

func (e *unavailable) Error() string   { return ErrUnavailable.Error() + ": " + e.cause.Error() }
func (e *unavailable) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

// Unavailable returns an error that is ErrUnavailable and keeps cause.
func Unavailable(cause error) error {
	if cause == nil || errors.Is(cause, ErrUnavailable) {
		return cause
	}
	return &unavailable{cause: cause}
}

// IsUnavailable reports whether err means a backing service could not
// answer: ErrUnavailable, a network failure (refused, reset, timed out) or
// a request deadline that ran out while waiting. These are 503s, never
// "not found" and never a 500.
func IsUnavailable(err error) bool {
	var ne net.Error
	return errors.Is(err, ErrUnavailable) || errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// NotFoundAs returns as when err is a not-found (a lookup miss, which the
// caller words its own way), and err itself otherwise, so that a database
// that cannot answer stays unavailable instead of becoming "not found".
func NotFoundAs(err, as error) error {
	if errors.Is(err, ErrNotFound) {
		return as
	}
	return err
}

// Validation reports a bad input value, naming the field when there is one.
// Code is a stable word for the kind of problem ("required", "too_long",
// "invalid", ...) that a user interface can translate.
type Validation struct {
	Field   string
	Code    string
	Message string
}

func (e *Validation) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// Invalid returns a *Validation for field with code "invalid".
func Invalid(field, format string, args ...any) error {
	return &Validation{Field: field, Code: "invalid", Message: fmt.Sprintf(format, args...)}
}

// InvalidAs returns a *Validation for field with the given code.
func InvalidAs(code, field, format string, args ...any) error {
	return &Validation{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Throttled means the caller made too many failed attempts and must wait.
type Throttled struct {
	RetryAfter time.Duration
}

func (e *Throttled) Error() string {
	return fmt.Sprintf("too many failed attempts, try again in %d seconds", int(e.RetryAfter.Round(time.Second).Seconds()))
}

// Conflict returns an error wrapping ErrConflict with a message for the user.
func Conflict(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrConflict)
}

// NotFound returns an error wrapping ErrNotFound naming what was missing.
func NotFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrNotFound)
}

// ErrTooLarge means a request body is over a size limit (413).
var ErrTooLarge = errors.New("request entity too large")

// OverQuota means a request would take a project over one of its limits.
type OverQuota struct {
	Resource  string
	Limit     int
	Used      int
	Requested int
}

func (e *OverQuota) Error() string {
	return fmt.Sprintf("Quota exceeded for %s: Requested %d, but already used %d of %d %s",
		e.Resource, e.Requested, e.Used, e.Limit, e.Resource)
}
