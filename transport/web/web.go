// Package web is the MQTT.IO browser client, served at /: one page and a few
// small ES modules of our own (an Engine.IO/Socket.IO v4 client, an MQTT
// 3.1.1 client, the page logic), embedded in the binary, no build step.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// FS holds the page's files at its root (index.html, *.js, *.css).
var FS, _ = fs.Sub(static, "static")

// Handler serves the page and its modules.
func Handler() http.Handler { return http.FileServerFS(FS) }
