package identity

import (
	"errors"
	"net/mail"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/fault"
	"github.com/nimbus-cloud/nimbus/internal/validate"
)

func checkEmail(v string) error {
	if v == "" {
		return nil
	}
	if err := validate.Text("email", v, 255); err != nil {
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

// check refuses names and ids no user could have (NUL, invalid UTF-8,
// over-long), before they are looked up: a 400, which says nothing about
// whether any user exists.
func (r UserRef) check() error {
	return errors.Join(validate.Filter("user.id", r.ID), validate.Filter("user.name", r.Name),
		validate.Filter("user.domain.id", r.DomainID), validate.Filter("user.domain.name", r.DomainName))
}

// check is UserRef.check for a scope.
func (sc Scope) check() error {
	return errors.Join(validate.Filter("scope.project.id", sc.ProjectID), validate.Filter("scope.project.name", sc.ProjectName),
		validate.Filter("scope.project.domain.id", sc.DomainID), validate.Filter("scope.project.domain.name", sc.DomainName))
}

// domainRef is Keystone's answer to a project or user in a domain that
// does not exist: 404 naming the domain.
func domainRef(id string, err error) error {
	if errors.Is(err, fault.ErrNotFound) {
		return fault.NotFound("Could not find domain: %s.", id)
	}
	return err
}

// badRef turns a missing referenced record into a validation error on field.
func badRef(field string, err error) error {
	if errors.Is(err, fault.ErrNotFound) {
		return fault.Invalid(field, "refers to nothing that exists")
	}
	return err
}
