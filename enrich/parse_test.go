package enrich

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

const openGraphPage = `<!doctype html>
<html lang="en-us">
<head>
  <meta charset="utf-8">
  <title>Home | Acme Widgets</title>
  <meta property="og:site_name" content="  Acme
     Widgets, Inc. ">
  <meta property="og:description" content="Widgets &amp; gadgets since 1990.">
  <meta name="description" content="Not this one.">
  <meta property="og:image" content="/img/og.png">
  <link rel="apple-touch-icon" href="/touch.png">
  <link rel="icon" href="/favicon.ico">
</head>
<body>
  <a href="https://www.linkedin.com/in/founder/">Our founder</a>
  <a href="https://www.linkedin.com/company/acme-widgets/?trk=x">LinkedIn</a>
  <a href="https://twitter.com/AcmeWidgets">Twitter</a>
  <a href="https://x.com/someoneelse">Not first</a>
  <a href="https://www.facebook.com/sharer/sharer.php?u=x">Share</a>
  <a href="https://m.facebook.com/acmewidgets">Facebook</a>
  <a href="https://github.com/acme-widgets/widget-sdk">SDK</a>
  <a href="//instagram.com/acme.widgets/">Instagram</a>
  <a href="https://www.youtube.com/watch?v=abc">A video</a>
  <a href="https://www.youtube.com/@AcmeWidgets">YouTube</a>
  <a href="mailto:info@acme.test">Mail</a>
</body>
</html>`

func TestParseSite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		page string
		url  string
		want Company
	}{
		{
			name: "open graph",
			page: openGraphPage,
			url:  "https://acme.test/en/",
			want: Company{
				Domain: "acme.test", Name: "Acme Widgets, Inc.", Description: "Widgets & gadgets since 1990.",
				Logo: "https://acme.test/img/og.png", Language: "en-US",
				Social: map[string]string{
					NetworkLinkedIn:  "https://www.linkedin.com/company/acme-widgets",
					NetworkTwitter:   "https://x.com/AcmeWidgets",
					NetworkFacebook:  "https://www.facebook.com/acmewidgets",
					NetworkGitHub:    "https://github.com/acme-widgets",
					NetworkInstagram: "https://www.instagram.com/acme.widgets",
					NetworkYouTube:   "https://www.youtube.com/@AcmeWidgets",
				},
			},
		},
		{
			name: "only a title",
			page: `<html><head><title>Acme Widgets</title></head><body><p>Hello</p></body></html>`,
			url:  "http://acme.test/",
			want: Company{Domain: "acme.test", Name: "Acme Widgets"},
		},
		{
			name: "application-name before title",
			page: `<title>Dashboard - Acme</title><meta name="application-name" content="Acme App">`,
			url:  "http://acme.test/",
			want: Company{Domain: "acme.test", Name: "Acme App"},
		},
		{
			name: "og in name attribute, description fallback",
			page: `<meta name="og:site_name" content="Acme"><meta name="Description" content="We make things.">`,
			url:  "http://acme.test/",
			want: Company{Domain: "acme.test", Name: "Acme", Description: "We make things."},
		},
		{
			name: "relative icon against the final URL",
			page: `<title>Acme</title><link rel="shortcut icon" href="static/fav.ico"><link rel="apple-touch-icon-precomposed" href="../t.png">`,
			url:  "https://acme.test/en/home",
			want: Company{Domain: "acme.test", Name: "Acme", Logo: "https://acme.test/t.png"},
		},
		{
			name: "icon when nothing better",
			page: `<title>Acme</title><link rel="icon" type="image/png" href="fav.png">`,
			url:  "https://acme.test/en/",
			want: Company{Domain: "acme.test", Name: "Acme", Logo: "https://acme.test/en/fav.png"},
		},
		{
			name: "base href",
			page: `<head><base href="https://cdn.acme.test/site/"><title>Acme</title><meta property="og:image" content="logo.png"></head>`,
			url:  "https://acme.test/",
			want: Company{Domain: "acme.test", Name: "Acme", Logo: "https://cdn.acme.test/site/logo.png"},
		},
		{
			name: "data URI logo is dropped",
			page: `<title>Acme</title><meta property="og:image" content="data:image/png;base64,AAAA"><link rel="icon" href="javascript:alert(1)">`,
			url:  "https://acme.test/",
			want: Company{Domain: "acme.test", Name: "Acme"},
		},
		{
			name: "og locale when no lang",
			page: `<title>Acme</title><meta property="og:locale" content="de_DE">`,
			url:  "https://acme.test/",
			want: Company{Domain: "acme.test", Name: "Acme", Language: "de-DE"},
		},
		{
			name: "bad lang is dropped",
			page: `<html lang="not a language"><title>Acme</title>`,
			url:  "https://acme.test/",
			want: Company{Domain: "acme.test", Name: "Acme"},
		},
		{
			name: "broken html",
			page: `<html lang=fr><head><title>Broken &amp; Co</title><meta property="og:description" content="Unclosed <div><a href="https://github.com/broken">gh</a`,
			url:  "https://broken.test/",
			// The unclosed attribute runs to the next quote, as in browsers.
			want: Company{Domain: "broken.test", Name: "Broken & Co", Description: "Unclosed <div><a href=", Language: "fr"},
		},
		{
			name: "unterminated title",
			page: `<html><head><title>Acme never closes`,
			url:  "https://acme.test/",
			want: Company{Domain: "acme.test", Name: "Acme never closes"},
		},
		{
			name: "svg title in body does not count",
			page: `<html><body><svg><title>icon</title></svg><title>Late</title></body>`,
			url:  "https://acme.test/",
			want: Company{Domain: "acme.test", Name: "icon"},
		},
		{
			name: "entities and control characters",
			page: "<title>Caf&eacute; \x01Ol\u00e9</title>",
			url:  "https://cafe.test/",
			want: Company{Domain: "cafe.test", Name: "Café Olé"},
		},
		{
			name: "nothing to read",
			page: `<html><body><div>Hello</div></body></html>`,
			url:  "https://acme.test/",
			want: Company{Domain: "acme.test"},
		},
		{
			name: "not html at all",
			page: "\x00\x01\x02 binary",
			url:  "https://acme.test/",
			want: Company{Domain: "acme.test"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			got := parseSite(strings.NewReader(tt.page), u, tt.want.Domain)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseSite (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBrandFromTitle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		title, domain, want string
	}{
		{"Acme", "acme.com", "Acme"},
		{"Home | Acme Corp", "acme.com", "Acme Corp"},
		{"Acme Corp | Home", "acme.com", "Acme Corp"},
		{"Acme – Widgets for everyone", "acme.com", "Acme"},
		{"Widgets for everyone | Acme", "acme.com", "Acme"},
		{"Widgets for everyone | ACME", "acmewidgets.io", "ACME"},
		{"Welcome to Acme", "acme.com", "Acme"},
		{"Welcome to Acme - Home", "acme.com", "Acme"},
		{"Startseite - Müller GmbH", "mueller.de", "Müller GmbH"},
		{"Widgets and more - Best widgets", "widgetco.com", "Widgets and more"},
		{"Home", "acme.com", ""},
		{"  ", "acme.com", ""},
		{"Acme Widgets Inc.", "www.acme.co.uk", "Acme Widgets Inc."},
		{"Shop - Acme", "shop.acme.co.uk", "Acme"},
		{"A - B", "ab.com", "A"},
		{"Co-operative Bank", "coop.com", "Co-operative Bank"},
	}
	for _, tt := range tests {
		if got := brandFromTitle(tt.title, tt.domain); got != tt.want {
			t.Errorf("brandFromTitle(%q, %q): got %q, want %q", tt.title, tt.domain, got, tt.want)
		}
	}
}

func TestSocialProfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		href, network, link string
		rank                int
	}{
		{"https://www.linkedin.com/company/acme/", NetworkLinkedIn, "https://www.linkedin.com/company/acme", 0},
		{"https://de.linkedin.com/company/acme/about", NetworkLinkedIn, "https://www.linkedin.com/company/acme", 0},
		{"https://linkedin.com/in/jane-doe-123", NetworkLinkedIn, "https://www.linkedin.com/in/jane-doe-123", 1},
		{"https://www.linkedin.com/company/soci%C3%A9t%C3%A9-x", NetworkLinkedIn, "https://www.linkedin.com/company/soci%C3%A9t%C3%A9-x", 0},
		{"https://www.linkedin.com/shareArticle?url=x", "", "", 0},
		{"http://twitter.com/acme?lang=en", NetworkTwitter, "https://x.com/acme", 0},
		{"https://mobile.twitter.com/acme_hq", NetworkTwitter, "https://x.com/acme_hq", 0},
		{"https://x.com/acme/status/123", NetworkTwitter, "https://x.com/acme", 0},
		{"https://twitter.com/intent/tweet?text=x", "", "", 0},
		{"https://twitter.com/share", "", "", 0},
		{"https://twitter.com/a_handle_longer_than_15", "", "", 0},
		{"https://www.facebook.com/acme.inc", NetworkFacebook, "https://www.facebook.com/acme.inc", 0},
		{"https://facebook.com/pages/Acme/12345", NetworkFacebook, "https://www.facebook.com/pages/Acme/12345", 0},
		{"https://facebook.com/groups/acmefans", NetworkFacebook, "https://www.facebook.com/groups/acmefans", 1},
		{"https://www.facebook.com/sharer.php?u=x", "", "", 0},
		{"https://www.facebook.com/dialog/share", "", "", 0},
		{"https://github.com/acme", NetworkGitHub, "https://github.com/acme", 0},
		{"https://github.com/orgs/acme/people", NetworkGitHub, "https://github.com/acme", 0},
		{"https://github.com/features/actions", "", "", 0},
		{"https://instagram.com/acme.co", NetworkInstagram, "https://www.instagram.com/acme.co", 0},
		{"https://www.instagram.com/p/Cabc123/", "", "", 0},
		{"https://www.youtube.com/channel/UC123abc", NetworkYouTube, "https://www.youtube.com/channel/UC123abc", 0},
		{"https://youtube.com/c/Acme", NetworkYouTube, "https://www.youtube.com/c/Acme", 0},
		{"https://youtube.com/user/acmevideos", NetworkYouTube, "https://www.youtube.com/user/acmevideos", 0},
		{"https://youtube.com/@acme", NetworkYouTube, "https://www.youtube.com/@acme", 0},
		{"https://youtube.com/watch?v=1", "", "", 0},
		{"https://youtu.be/abc", "", "", 0},
		{"https://notlinkedin.com/company/acme", "", "", 0},
		{"https://github.com.evil.test/acme", "", "", 0},
		{"javascript://github.com/acme", "", "", 0},
		{"/relative/path", "", "", 0},
		{"https://github.com/", "", "", 0},
		{"https://github.com/acme<script>", "", "", 0},
		{"%zz", "", "", 0},
	}
	for _, tt := range tests {
		network, link, rank, ok := socialProfile(tt.href)
		if ok != (tt.network != "") || network != tt.network || link != tt.link || rank != tt.rank {
			t.Errorf("socialProfile(%q): got %q %q %d %v, want %q %q %d", tt.href, network, link, rank, ok, tt.network, tt.link, tt.rank)
		}
	}
}

func TestLanguageTag(t *testing.T) {
	t.Parallel()
	tests := map[string]string{"en": "en", "EN-gb": "en-GB", "pt_BR": "pt-BR", "zh-Hant-TW": "zh-Hant-TW", "": "", "x": "", "klingon!": "", "und": ""}
	for in, want := range tests {
		if got := languageTag(in); got != want {
			t.Errorf("languageTag(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 100)
	got := clip(long, 50)
	if utf8.RuneCountInString(got) > 50 || !strings.HasSuffix(got, "…") {
		t.Errorf("clip: got %q (%d runes), want at most 50 runes ending in an ellipsis", got, utf8.RuneCountInString(got))
	}
	if got := clip("short", 50); got != "short" {
		t.Errorf("clip(short): got %q", got)
	}
}

// FuzzParseSite checks that no byte sequence makes the parser panic or
// return more than its bounds allow.
func FuzzParseSite(f *testing.F) {
	f.Add([]byte(openGraphPage))
	f.Add([]byte(`<title>A | Home</title><base href="javascript:x"><meta property=og:image content="//x">`))
	f.Add([]byte("<html lang=\xff><title>\xfe</title><a href='https://github.com/\xff'>"))
	f.Add([]byte(`<a href="https://twitter.com/a"><a href="https://linkedin.com/in/b"><a href="https://linkedin.com/company/c">`))
	f.Add([]byte(`<meta property="og:site_name" content="` + strings.Repeat("x", 5000) + `">`))
	page, err := url.Parse("https://fuzz.test/a/b")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := parseSite(strings.NewReader(string(data)), page, "fuzz.test")
		if n := utf8.RuneCountInString(c.Name); n > maxNameRunes || !utf8.ValidString(c.Name) {
			t.Fatalf("name of %d runes (valid UTF-8: %v)", n, utf8.ValidString(c.Name))
		}
		if n := utf8.RuneCountInString(c.Description); n > maxDescriptionRunes || !utf8.ValidString(c.Description) {
			t.Fatalf("description of %d runes", n)
		}
		if len(c.Logo) > maxURLBytes || (c.Logo != "" && !strings.HasPrefix(c.Logo, "http")) {
			t.Fatalf("logo %q", c.Logo)
		}
		if len(c.Language) > 35 {
			t.Fatalf("language %q", c.Language)
		}
		if len(c.Social) > 6 {
			t.Fatalf("%d social links", len(c.Social))
		}
		for network, link := range c.Social {
			if len(link) > maxURLBytes || !strings.HasPrefix(link, "https://") {
				t.Fatalf("social %s: %q", network, link)
			}
		}
	})
}

// TestParseSiteBigInlineScript: a large inline script (a framework's page
// data) does not stop the scan before the footer links.
func TestParseSiteBigInlineScript(t *testing.T) {
	t.Parallel()
	page := `<html><head><title>Acme</title><script id="data" type="application/json">{"x":"` +
		strings.Repeat("y", 700<<10) + `"}</script></head><body><footer><a href="https://github.com/acme">GitHub</a></footer></body></html>`
	u, err := url.Parse("https://acme.test/")
	if err != nil {
		t.Fatal(err)
	}
	got := parseSite(strings.NewReader(page), u, "acme.test")
	if got.Social[NetworkGitHub] != "https://github.com/acme" {
		t.Errorf("got social %v, want the footer's GitHub link", got.Social)
	}
}
