package portal

import "testing"

func TestSafeNext(t *testing.T) {
	cases := map[string]string{
		"":                       "/project/",
		"/admin/users":           "/admin/users",
		"/project/?x=1#frag":     "/project/?x=1#frag",
		"//evil.example":         "/project/",
		"/\\evil.example":        "/project/",
		"https://evil.example/":  "/project/",
		"javascript:alert(1)":    "/project/",
		"evil.example":           "/project/",
		"/auth/logout":           "/project/",
		"/ok\r\nSet-Cookie: x=1": "/project/",
	}
	for in, want := range cases {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestSafeFilename(t *testing.T) {
	if got := safeFilename(`a"b/c d`); got != "a_b_c_d" {
		t.Errorf("got %q", got)
	}
	if got := safeFilename(""); got != "project" {
		t.Errorf("got %q", got)
	}
}
