package controllertest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// FormClient is a cookie-keeping HTTP client for the portal that does not
// follow redirects, so tests see each answer.
type FormClient struct {
	Client *http.Client
	Origin string // sent as Origin on POST; "" sends none
	t      *testing.T
	tc     *Cloud
}

// NewFormClient returns a client for the portal with no session yet.
func (tc *Cloud) NewFormClient(t *testing.T) *FormClient {
	jar, _ := cookiejar.New(nil)
	return &FormClient{t: t, tc: tc, Origin: tc.URL, Client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Page is a portal answer.
type Page struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

// Get fetches a portal page.
func (b *FormClient) Get(path string) Page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.tc.URL+path, nil)
	return b.Do(req)
}

// Post submits a form, with Origin set as the client's.
func (b *FormClient) Post(path string, form url.Values) Page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.tc.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.Origin != "" {
		req.Header.Set("Origin", b.Origin)
	}
	return b.Do(req)
}

// Put sends a PUT with a streamed body (its length known, as a browser's
// XMLHttpRequest sends a File) and the given header name, value pairs.
func (b *FormClient) Put(path string, body io.Reader, length int64, hdr ...string) Page {
	b.t.Helper()
	req, _ := http.NewRequest("PUT", b.tc.URL+path, body)
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/octet-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.Do(req)
}

// Do sends req with the client's cookies and reads the answer.
func (b *FormClient) Do(req *http.Request) Page {
	b.t.Helper()
	res, err := b.Client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return ReadPage(b.t, res)
}

// ConsoleToken asks for a console of instance id as the instance page's
// script does (POST .../console-token with the page's CSRF token); a 200
// answer's JSON holds the websocket URL.
func (b *FormClient) ConsoleToken(id, csrf string) Page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.tc.URL+"/project/instances/"+id+"/console-token", nil)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Origin", b.tc.URL)
	return b.Do(req)
}

// Login signs in through the form and returns the overview page.
func (b *FormClient) Login(user, password string) Page {
	b.t.Helper()
	lp := b.Get("/auth/login")
	p := b.Post("/auth/login", url.Values{"_csrf": {CSRFOf(b.t, lp)}, "username": {user}, "password": {password}})
	if p.Status != http.StatusSeeOther {
		b.t.Fatalf("login %s: got %d, want 303", user, p.Status)
	}
	return b.Get(p.Location)
}

// ReadPage reads and closes an answer of the portal.
func ReadPage(t *testing.T, res *http.Response) Page {
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return Page{Status: res.StatusCode, Location: res.Header.Get("Location"), Body: string(body), Header: res.Header}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// CSRFOf returns the CSRF token of the page's first form.
func CSRFOf(t *testing.T, p Page) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no CSRF token in page (status %d)", p.Status)
	}
	return m[1]
}
