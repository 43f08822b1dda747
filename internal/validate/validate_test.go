package validate

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

func TestRules(t *testing.T) {
	long := strings.Repeat("é", 256)
	tests := []struct {
		name     string
		err      error
		wantCode string // "" means accepted
	}{
		{"name ok", Name("name", "web-1 é", 255), ""},
		{"name blank", Name("name", "  ", 255), "required"},
		{"name NUL", Name("name", "a\x00b", 255), "invalid"},
		{"name bad UTF-8", Name("name", "a\xffb", 255), "invalid"},
		{"name newline", Name("name", "a\nb", 255), "invalid"},
		{"name 256 runes", Name("name", long, 255), "too_long"},
		{"text newline", Text("description", "line\nline", 1024), ""},
		{"text empty", Text("description", "", 1024), ""},
		{"text NUL", Text("description", "\x00", 1024), "invalid"},
		{"text too long", Text("description", long, 255), "too_long"},
		{"filter empty", Filter("name", ""), ""},
		{"filter NUL", Filter("name", "%\x00"), "invalid"},
		{"filter long", Filter("name", strings.Repeat("a", MaxFilter+1)), "too_long"},
		{"regex ok", Regex("name", "^web-[0-9]+$"), ""},
		{"regex 255", Regex("name", "a{255}"), ""},
		{"regex 256", Regex("name", "a{256}"), "invalid"},
		{"regex 1,256", Regex("name", "a{1,256}"), "invalid"},
		{"regex nested 256", Regex("name", "(b|a{2,256})x"), "invalid"},
		{"regex open paren", Regex("name", "("), "invalid"},
		{"regex open bracket", Regex("name", "["), "invalid"},
		{"regex NUL", Regex("name", "a\x00"), "invalid"},
		{"int low", Int("ram", -2, -1, MaxInt32), "out_of_range"},
		{"int 2^31", Int("ram", 1<<31, -1, MaxInt32), "out_of_range"},
		{"int max", Int("ram", MaxInt32, -1, MaxInt32), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v *fault.Validation
			switch {
			case tt.wantCode == "" && tt.err != nil:
				t.Errorf("got %v, want accepted", tt.err)
			case tt.wantCode != "" && !errors.As(tt.err, &v):
				t.Errorf("got %v, want a validation error %q", tt.err, tt.wantCode)
			case tt.wantCode != "" && v.Code != tt.wantCode:
				t.Errorf("got code %q (%v), want %q", v.Code, tt.err, tt.wantCode)
			}
		})
	}
}

func TestUUID(t *testing.T) {
	const canon = "5d1e2f3a-0b0c-4d0e-8f00-00000000abcd"
	tests := []struct {
		in   string
		want string // "" means refused
	}{
		{canon, canon},
		{strings.ToUpper(canon), canon},
		{"{" + canon + "}", ""},
		{"urn:uuid:" + canon, ""},
		{strings.ReplaceAll(canon, "-", ""), ""},
		{"not-a-uuid", ""},
		{canon[:35] + "\x00", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := UUID(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("UUID(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
		if _, err := ID("id", tt.in); (err == nil) != (tt.want != "") {
			t.Errorf("ID(%q): %v", tt.in, err)
		}
	}
}

// FuzzText: whatever Text and Name accept, PostgreSQL's text can hold
// (valid UTF-8, no NUL) within the length asked; Name also refuses blank
// and control characters. Rules never panic.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "web-1", "a\x00b", "\xff", "é\u2028", " \t", "line\nline"} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, maxLen int) {
		if maxLen < 0 || maxLen > 1<<16 {
			maxLen = 255
		}
		if Text("f", s, maxLen) == nil {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || utf8.RuneCountInString(s) > maxLen {
				t.Errorf("Text accepted %q (max %d)", s, maxLen)
			}
		}
		if Name("f", s, maxLen) == nil {
			if Text("f", s, maxLen) != nil || strings.TrimSpace(s) == "" || strings.IndexFunc(s, unicode.IsControl) >= 0 {
				t.Errorf("Name accepted %q (max %d)", s, maxLen)
			}
		}
		if Filter("f", s) == nil && (!utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || len(s) > MaxFilter) {
			t.Errorf("Filter accepted %q", s)
		}
	})
}

// FuzzRegex: an accepted name filter compiles and never asks PostgreSQL
// for more than 255 repetitions.
func FuzzRegex(f *testing.F) {
	for _, s := range []string{"a{256}", "(", "[", "^web-[0-9]+$", "a{2,255}", "(?i)WEB", "\x00", "a**"} {
		f.Add(s)
	}
	// A quantifier {m}, {m,} or {m,n} with a count over 255, written out.
	n := `0*([3-9][0-9]{2}|2[6-9][0-9]|25[6-9]|[1-9][0-9]{3,})`
	bigRepeat := regexp.MustCompile(`\{` + n + `(,[0-9]*)?\}|\{[0-9]+,` + n + `\}`)
	f.Fuzz(func(t *testing.T, s string) {
		if Regex("name", s) != nil {
			return
		}
		if _, err := regexp.Compile(s); err != nil {
			t.Errorf("Regex accepted %q, which does not compile: %v", s, err)
		}
		if Filter("name", s) != nil {
			t.Errorf("Regex accepted %q, which is not a valid filter", s)
		}
		if m := bigRepeat.FindString(s); m != "" && !strings.Contains(s, `\`) && !strings.Contains(s, "[") {
			t.Errorf("Regex accepted %q with a repetition count over 255 (%s)", s, m)
		}
	})
}

// FuzzUUID: an accepted id is canonical (lowercase, 36 characters), stays
// the same when checked again, and names the same UUID as the input.
func FuzzUUID(f *testing.F) {
	for _, s := range []string{"5d1e2f3a-0b0c-4d0e-8f00-00000000abcd", "5D1E2F3A-0B0C-4D0E-8F00-00000000ABCD",
		"{5d1e2f3a-0b0c-4d0e-8f00-00000000abcd}", "5d1e2f3a0b0c4d0e8f0000000000abcd", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := UUID(s)
		if !ok {
			return
		}
		if len(id) != 36 || id != strings.ToLower(id) || !strings.EqualFold(id, s) {
			t.Errorf("UUID(%q) = %q: not the canonical form of the input", s, id)
		}
		if again, ok := UUID(id); !ok || again != id {
			t.Errorf("UUID(%q) = %q, %v: not stable", id, again, ok)
		}
	})
}
