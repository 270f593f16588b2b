// Package webapp is the web page of Haetae: a chat client for the browser, served by every node at
// /app/ from files embedded in the binary. It is a client like the Go package and the CLI: it speaks only
// the public API (API.md), knows every node's endpoint (from GET /v1/endpoints) and fails over to
// another on its own, resends with the same client_id, and resumes live delivery from its cursor. It
// holds no server logic and must not import the server's packages; the page works without a build step.
package webapp

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page's files under prefix (such as "/app/"). The files are part of the binary, so
// every node serves the same page whatever its working directory.
func Handler(prefix string) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("webapp: embedded files missing: " + err.Error()) // a build fault, not a runtime one
	}
	files := http.StripPrefix(prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page holds a bearer token in the browser: keep it out of frames and other origins' scripts.
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src * ws: wss:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
