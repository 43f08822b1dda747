// Package validate is the one home of the input rules every surface shares
// (identity, compute, image and the portal): what a name, a free text, a
// list filter, a name regex, an id and a stored integer may be. The rules
// are PostgreSQL's limits said before the database is asked: text holds
// neither NUL nor invalid UTF-8, integer columns hold 32 bits, and its
// regular expressions repeat at most 255 times. Each rule returns a
// *fault.Validation naming the field, so every API answers 400 in its own
// shape and the portal puts the message next to the field.
package validate

import (
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// MaxInt32 is the largest value of PostgreSQL's integer columns (limits,
// sizes in MB and GB, counts), as Nova's and Glance's schemas cap them.
const MaxInt32 = math.MaxInt32

// MaxFilter is the longest list filter or lookup key accepted, in bytes.
const MaxFilter = 1024

// maxRepeat is the largest repetition count PostgreSQL's regular
// expressions accept (RE_DUP_MAX); a{256} is refused with 2201B.
const maxRepeat = 255

// storable reports why PostgreSQL's text could not hold v, or "".
func storable(v string) string {
	switch {
	case !utf8.ValidString(v):
		return "must be valid UTF-8"
	case strings.IndexByte(v, 0) >= 0:
		return "must not contain NUL characters"
	}
	return ""
}

// Name checks a required display name: not blank, storable, at most
// maxLen characters and without control characters.
func Name(field, v string, maxLen int) error {
	if strings.TrimSpace(v) == "" {
		return fault.InvalidAs("required", field, "must not be empty")
	}
	if err := Text(field, v, maxLen); err != nil {
		return err
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fault.Invalid(field, "must not contain control characters")
	}
	return nil
}

// Text checks free text (descriptions, metadata, properties, tags), which
// may be empty and may hold line breaks: storable and at most maxLen
// characters.
func Text(field, v string, maxLen int) error {
	if why := storable(v); why != "" {
		return fault.Invalid(field, "%s", why)
	}
	if utf8.RuneCountInString(v) > maxLen {
		return fault.InvalidAs("too_long", field, "must be at most %d characters", maxLen)
	}
	return nil
}

// Filter checks a value used to look something up or narrow a list (a
// query parameter, a path segment, a name given at login): storable and
// at most MaxFilter bytes. An empty filter is fine (no filter).
func Filter(field, v string) error {
	if why := storable(v); why != "" {
		return fault.Invalid(field, "%s", why)
	}
	if len(v) > MaxFilter {
		return fault.InvalidAs("too_long", field, "must be at most %d bytes", MaxFilter)
	}
	return nil
}

// Regex checks a name filter that PostgreSQL runs as a regular
// expression (Nova's ?name=): a storable filter that parses and repeats
// nothing more than 255 times. PostgreSQL's dialect is not Go's, so the
// database may still refuse an odd pattern; the store maps that refusal
// (2201B) to the same 400.
func Regex(field, v string) error {
	if err := Filter(field, v); err != nil {
		return err
	}
	re, err := syntax.Parse(v, syntax.Perl)
	if err != nil {
		return fault.Invalid(field, "is not a valid regular expression")
	}
	// Go reads a bound it cannot parse (a leading zero: "a{0700}") as
	// literal text; PostgreSQL reads it as a bound and refuses it.
	if repeatTooLarge(re) || bigBound.MatchString(v) {
		return fault.Invalid(field, "is not a valid regular expression: repetition counts above %d are not supported", maxRepeat)
	}
	return nil
}

// bigBound is a written bound {m}, {m,} or {m,n} with a count over 255.
var bigBound = regexp.MustCompile(`\{0*([3-9][0-9]{2}|2[6-9][0-9]|25[6-9]|[1-9][0-9]{3,})(,[0-9]*)?\}|\{[0-9]+,0*([3-9][0-9]{2}|2[6-9][0-9]|25[6-9]|[1-9][0-9]{3,})\}`)

func repeatTooLarge(re *syntax.Regexp) bool {
	if re.Op == syntax.OpRepeat && (re.Min > maxRepeat || re.Max > maxRepeat) {
		return true
	}
	for _, sub := range re.Sub {
		if repeatTooLarge(sub) {
			return true
		}
	}
	return false
}

// UUID returns the canonical form (lowercase, hyphenated) of an id written
// as a UUID in its 36-character form, in any case; ok is false for
// anything else, braced, URN and unhyphenated forms included. Ids are
// compared, stored and used in file and key names in this form only.
func UUID(v string) (id string, ok bool) {
	if len(v) != 36 {
		return "", false
	}
	u, err := uuid.Parse(v)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// ID checks an id given for a new record and returns its canonical form;
// the field's message says a UUID is wanted.
func ID(field, v string) (string, error) {
	id, ok := UUID(v)
	if !ok {
		return "", fault.Invalid(field, "must be a UUID (8-4-4-4-12 hexadecimal digits)")
	}
	return id, nil
}

// Int checks min <= n <= max.
func Int(field string, n, min, max int) error {
	if n < min || n > max {
		return fault.InvalidAs("out_of_range", field, "must be between %d and %d", min, max)
	}
	return nil
}
