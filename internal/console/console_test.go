package console_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/console"
)

func get(t *testing.T, method, path string) *http.Response {
	t.Helper()
	w := httptest.NewRecorder()
	console.Handler().ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w.Result()
}

func TestHandler(t *testing.T) {
	cases := []struct {
		name, method, path string
		status             int
		contentType        string // prefix
		body               string // substring
	}{
		{"index", "GET", "/console/", 200, "text/html", `<script type="module" src="app.js"></script>`},
		{"index-by-name", "GET", "/console/index.html", 200, "text/html", "Trent console"},
		{"module", "GET", "/console/app.js", 200, "text/javascript", "import"},
		{"sigv4", "GET", "/console/sigv4.js", 200, "text/javascript", "crypto.subtle"},
		{"style", "GET", "/console/style.css", 200, "text/css", ""},
		{"head", "HEAD", "/console/app.js", 200, "text/javascript", ""},
		{"redirect", "GET", "/console", 301, "", ""},
		{"missing", "GET", "/console/nope.js", 404, "", ""},
		{"no-escape", "GET", "/console/../console.go", 404, "", ""},
		{"no-listing", "GET", "/console/static/", 404, "", ""},
		{"post", "POST", "/console/", 405, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, tc.method, tc.path)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (%s)", res.StatusCode, tc.status, body)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != console.CSP {
				t.Errorf("CSP = %q", got)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("X-Content-Type-Options missing")
			}
			if !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) {
				t.Errorf("Content-Type = %q, want %s", res.Header.Get("Content-Type"), tc.contentType)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body lacks %q", tc.body)
			}
			if tc.status == 301 && res.Header.Get("Location") != "/console/" {
				t.Errorf("Location = %q", res.Header.Get("Location"))
			}
		})
	}
}

// TestCSP checks the policy the issue asks for, directive by directive,
// and that no page or script relies on what it forbids (inline scripts,
// inline styles, other origins).
func TestCSP(t *testing.T) {
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"img-src 'self' data:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(console.CSP, d) {
			t.Errorf("CSP lacks %q", d)
		}
	}
	for _, name := range []string{"index.html", "app.js", "api.js", "sigv4.js", "policy.js", "charts.js", "style.css"} {
		body, _ := io.ReadAll(get(t, "GET", "/console/"+name).Body)
		s := string(body)
		for i, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue // a comment may cite a source
			}
			line = strings.ReplaceAll(line, "'http://www.w3.org/2000/svg'", "") // SVG's namespace, not a request
			for _, bad := range []string{"http://", "https://", "localStorage", "sessionStorage", "document.cookie", "innerHTML", "eval("} {
				if strings.Contains(line, bad) {
					t.Errorf("%s:%d contains %q", name, i+1, bad)
				}
			}
		}
		if name == "index.html" && (strings.Contains(s, "<script>") || strings.Contains(s, "style=")) {
			t.Errorf("index.html has an inline script or style")
		}
	}
}
