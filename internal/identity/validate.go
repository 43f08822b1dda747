package identity

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// checkName refuses empty, over-long or control-character names.
func checkName(field, v string, maxLen int) error {
	if strings.TrimSpace(v) == "" {
		return fault.InvalidAs("required", field, "must not be empty")
	}
	if !utf8.ValidString(v) {
		return fault.Invalid(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(v); n > maxLen {
		return fault.InvalidAs("too_long", field, "must be at most %d characters", maxLen)
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fault.Invalid(field, "must not contain control characters")
	}
	return nil
}

func checkText(field, v string, maxLen int) error {
	if !utf8.ValidString(v) {
		return fault.Invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(v) > maxLen {
		return fault.InvalidAs("too_long", field, "must be at most %d characters", maxLen)
	}
	return nil
}

func checkEmail(v string) error {
	if v == "" {
		return nil
	}
	if err := checkText("email", v, 255); err != nil {
		return err
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
		return fault.InvalidAs("bad_email", "email", "is not an e-mail address")
	}
	return nil
}

// checkNewPassword applies to passwords being set (not checked at login).
func checkNewPassword(v string) error {
	if len(v) > MaxPasswordBytes {
		return fault.InvalidAs("too_long", "password", "must be at most %d bytes", MaxPasswordBytes)
	}
	if utf8.RuneCountInString(v) < 8 {
		return fault.InvalidAs("password_short", "password", "must be at least 8 characters")
	}
	return nil
}

// badRef turns a missing referenced record into a validation error on field.
func badRef(field string, err error) error {
	if errors.Is(err, fault.ErrNotFound) {
		return fault.Invalid(field, "refers to nothing that exists")
	}
	return err
}
