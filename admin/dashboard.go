package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// static is the dashboard: one page, its script and its style sheet, with
// no build step and nothing from third parties.
//
//go:embed static
var static embed.FS

func (s *Server) dashboardRoutes(m *http.ServeMux) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	m.Handle("GET /static/", secureHeaders(files))
	m.Handle("GET /{$}", secureHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})))
}

// secureHeaders keeps the page to its own scripts and out of frames: the
// client ids it shows are chosen by MQTT clients.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
