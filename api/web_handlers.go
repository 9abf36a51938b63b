package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/web"
)

func (h handlers) DemoPage(c echo.Context) error {
	return serveWebFile(c, "index.html", "text/html; charset=utf-8")
}

func (h handlers) WidgetScript(c echo.Context) error {
	return serveWebFile(c, "widget.js", "text/javascript; charset=utf-8")
}

func (h handlers) DemoScript(c echo.Context) error {
	return serveWebFile(c, "demo.js", "text/javascript; charset=utf-8")
}

// serveWebFile answers one embedded file. Browsers may keep it for five
// minutes, so a deploy reaches every form quickly.
func serveWebFile(c echo.Context, name, contentType string) error {
	b, err := web.Files.ReadFile(name)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, contentType, b)
}
