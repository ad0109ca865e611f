// Package console serves Trent's web console: static files embedded in the
// binary, served under /console/ on the API listener.
//
// # A plain client
//
// The console has no backend of its own. Its scripts sign every request in
// the browser with SigV4 (WebCrypto) and call Trent's KMS, IAM and STS APIs
// on the same origin, exactly as the AWS SDKs do, so the signed-in
// principal can do in the console exactly what its policies allow, and
// every action lands in the audit trail. Credentials live in the tab's
// memory only. See docs/console.md.
//
// # Headers
//
// Every response carries a strict Content-Security-Policy ([CSP]): scripts,
// styles and connections from the same origin only, no inline scripts, no
// framing, no forms posted anywhere. Only GET and HEAD are answered.
//
// # Build
//
// The files in static/ are the source: plain ES modules and CSS, no build
// step and no Node.js toolchain.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// Prefix is the path under which the console is served.
const Prefix = "/console/"

// CSP is the Content-Security-Policy sent with every console response.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler returns the handler for /console and everything under
// [Prefix]. /console is redirected to /console/; /console/ is index.html.
func Handler() http.Handler {
	static, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	fileServer := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Path == "/console" {
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		name = strings.TrimPrefix(path.Clean("/"+name), "/")
		if name == "" {
			name = "index.html"
		}
		if fi, err := fs.Stat(static, name); err != nil || fi.IsDir() {
			// No directory listings, no redirects of FileServer's own.
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + name
		if name == "index.html" {
			// FileServer redirects .../index.html to ./ and serves
			// index.html for /.
			r2.URL.Path = "/"
		}
		fileServer.ServeHTTP(w, r2)
	})
}
