package portal

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/i18n"
	"github.com/nimbus-cloud/nimbus/views"
)

// readForm copies the named fields out of the request (fiber reuses its
// buffers) into a views.Form.
func readForm(c *fiber.Ctx, fields ...string) views.Form {
	f := views.Form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, name := range fields {
		f.Values[name] = strings.Clone(c.FormValue(name))
	}
	return f
}

// fieldError puts err next to its field when it is a validation error or
// a duplicate name, and reports whether it did. Other errors are left for
// the error page.
func fieldError(ctx context.Context, f *views.Form, err error, fallbackField string) bool {
	var v *fault.Validation
	switch {
	case errors.As(err, &v):
		field := v.Field
		if _, ok := f.Values[field]; !ok {
			field = fallbackField
		}
		key := "form." + v.Code
		if v.Code == "" || !i18n.Has(key) {
			key = "form.invalid"
		}
		f.Errors[field] = i18n.T(ctx, key)
		return true
	case errors.Is(err, fault.ErrConflict):
		f.Errors[fallbackField] = i18n.T(ctx, "form.taken")
		return true
	}
	return false
}

// formValue returns a form field copied out of fiber's buffer.
func formValue(c *fiber.Ctx, name string) string { return strings.Clone(c.FormValue(name)) }
