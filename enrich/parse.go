package enrich

import (
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/language"
)

// Bounds on what a page can make us return, so a hostile page cannot fill
// a response or the cache.
const (
	maxNameRunes        = 200
	maxDescriptionRunes = 500
	maxURLBytes         = 2048
)

// siteFacts are the raw facts read from a home page, before the name is
// chosen.
type siteFacts struct {
	ogSiteName, appName, title string
	ogDescription, description string
	ogImage, touchIcon, icon   string
	language, ogLocale         string
	social                     map[string]socialLink
}

// socialLink is a normalised profile URL with its rank: a lower rank wins
// (a LinkedIn company page beats a person's profile).
type socialLink struct {
	url  string
	rank int
}

// parseSite reads a home page with the HTML tokenizer (lenient: broken
// markup yields what can be read, never an error) and returns the company
// facts, URLs resolved against the page URL or its <base href>. domain is
// the company's domain, used to pick the brand out of a title. r must be
// bounded: everything in it is read.
func parseSite(r io.Reader, page *url.URL, domain string) Company {
	f := scanSite(r)
	base := page
	if f.base != "" {
		if b, err := page.Parse(f.base); err == nil && (b.Scheme == "http" || b.Scheme == "https") {
			base = b
		}
	}
	c := Company{Domain: domain}
	c.Name = firstNonEmpty(f.ogSiteName, f.appName, brandFromTitle(f.title, domain))
	c.Name = clip(c.Name, maxNameRunes)
	c.Description = clip(firstNonEmpty(f.ogDescription, f.description), maxDescriptionRunes)
	for _, ref := range []string{f.ogImage, f.touchIcon, f.icon} {
		if u := resolveURL(base, ref); u != "" {
			c.Logo = u
			break
		}
	}
	c.Language = firstNonEmpty(languageTag(f.language), languageTag(f.ogLocale))
	for network, link := range f.social {
		if c.Social == nil {
			c.Social = map[string]string{}
		}
		c.Social[network] = link.url
	}
	return c
}

// scanned is what scanSite collects.
type scanned struct {
	siteFacts
	base string
}

// scanSite walks the tokens of a page once and keeps the first value of
// each fact.
func scanSite(r io.Reader) scanned {
	var f scanned
	f.social = map[string]socialLink{}
	// No token size limit: the caller bounds the reader (MaxBodyBytes), and
	// a limit would stop the scan at a large inline script, before the
	// profile links in the footer.
	z := html.NewTokenizer(r)
	inTitle := false
	var title strings.Builder
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			// io.EOF or a read error (a timeout mid-body): keep what was
			// read.
			f.title = title.String()
			return f
		case html.TextToken:
			if inTitle && title.Len() < maxNameRunes*8 {
				title.Write(z.Text())
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if atom.Lookup(name) == atom.Title {
				inTitle = false
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if a == atom.Title {
				// Only the first <title> counts; an <svg><title> later in
				// the body is not the page's.
				inTitle = tt == html.StartTagToken && f.title == "" && title.Len() == 0
				continue
			}
			if !hasAttr {
				continue
			}
			attrs := readAttrs(z)
			switch a {
			case atom.Html:
				setOnce(&f.language, attrs["lang"])
			case atom.Base:
				setOnce(&f.base, attrs["href"])
			case atom.Meta:
				f.meta(attrs)
			case atom.Link:
				f.link(attrs)
			case atom.A:
				f.anchor(attrs["href"])
			}
		}
	}
}

// readAttrs returns a tag's attributes, keys lower-case, first value of a
// repeated key kept.
func readAttrs(z *html.Tokenizer) map[string]string {
	attrs := map[string]string{}
	for {
		k, v, more := z.TagAttr()
		key := string(k)
		if _, seen := attrs[key]; !seen {
			attrs[key] = string(v)
		}
		if !more {
			return attrs
		}
	}
}

func (f *scanned) meta(attrs map[string]string) {
	content := attrs["content"]
	if content == "" {
		return
	}
	// Open Graph uses property=, but many pages write name=og:...
	key := strings.ToLower(strings.TrimSpace(firstNonEmpty(attrs["property"], attrs["name"])))
	switch key {
	case "og:site_name":
		setOnce(&f.ogSiteName, content)
	case "application-name":
		setOnce(&f.appName, content)
	case "og:description":
		setOnce(&f.ogDescription, content)
	case "description":
		setOnce(&f.description, content)
	case "og:image", "og:image:url", "og:image:secure_url":
		setOnce(&f.ogImage, content)
	case "og:locale":
		setOnce(&f.ogLocale, content)
	}
}

func (f *scanned) link(attrs map[string]string) {
	href := attrs["href"]
	if href == "" {
		return
	}
	for rel := range strings.FieldsSeq(strings.ToLower(attrs["rel"])) {
		switch rel {
		case "apple-touch-icon", "apple-touch-icon-precomposed":
			setOnce(&f.touchIcon, href)
		case "icon":
			setOnce(&f.icon, href)
		}
	}
}

func (f *scanned) anchor(href string) {
	if href == "" || len(href) > maxURLBytes {
		return
	}
	network, link, rank, ok := socialProfile(href)
	if !ok {
		return
	}
	if cur, seen := f.social[network]; !seen || rank < cur.rank {
		f.social[network] = socialLink{url: link, rank: rank}
	}
}

// setOnce keeps the first non-blank value, with whitespace collapsed and
// invalid UTF-8 replaced.
func setOnce(dst *string, v string) {
	if *dst != "" {
		return
	}
	*dst = cleanText(v)
}

// cleanText collapses runs of white space, drops control characters and
// replaces invalid UTF-8.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// clip cuts s to at most n runes, at a word boundary when one is near, and
// marks the cut with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)[:n-1]
	cut := string(runes)
	if i := strings.LastIndexByte(cut, ' '); i > len(cut)*3/4 {
		cut = cut[:i]
	}
	return cut + "…"
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// resolveURL resolves ref against base and keeps only http(s) URLs of
// bounded length (a data: URI logo can be megabytes).
func resolveURL(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > maxURLBytes {
		return ""
	}
	u, err := base.Parse(ref)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	u.Fragment = ""
	s := u.String()
	if len(s) > maxURLBytes || !utf8.ValidString(s) {
		return ""
	}
	return s
}

// languageTag turns an html lang or og:locale value ("en", "en-us",
// "de_DE") into a canonical BCP 47 tag, or "" when it is not one.
func languageTag(v string) string {
	v = strings.ReplaceAll(strings.TrimSpace(v), "_", "-")
	if v == "" || len(v) > 35 {
		return ""
	}
	tag, err := language.Parse(v)
	if err != nil || tag == language.Und {
		return ""
	}
	return tag.String()
}

// titleSeparators split a <title> into segments ("Acme | Home").
var titleSeparators = []string{" | ", " - ", " – ", " — ", " · ", " • ", " :: ", " » ", " : "}

// genericTitleWords are segments that name the page, not the company.
var genericTitleWords = map[string]bool{
	"home": true, "homepage": true, "home page": true, "welcome": true, "index": true,
	"official site": true, "official website": true, "start": true, "startseite": true,
	"accueil": true, "inicio": true, "página inicial": true, "home - page": true, "main page": true,
}

// brandFromTitle picks the company name out of a page title. The title is
// cut at separators (" | ", " - ", " – ", ...); segments that name the page
// ("Home", "Welcome", "Startseite") are dropped and a "Welcome to " prefix
// is removed. Of what remains, the segment that matches the domain's
// first label (letters and digits only, either containing the other)
// wins; otherwise the first segment. "Home | Acme Corp" on acme.com gives
// "Acme Corp"; "Widgets for all | Acme" gives "Acme".
func brandFromTitle(title, domain string) string {
	title = cleanText(title)
	if title == "" {
		return ""
	}
	segments := []string{title}
	for _, sep := range titleSeparators {
		var next []string
		for _, s := range segments {
			next = append(next, strings.Split(s, sep)...)
		}
		segments = next
	}
	var kept []string
	for _, s := range segments {
		s = strings.TrimSpace(s)
		lower := strings.ToLower(s)
		for _, prefix := range []string{"welcome to ", "willkommen bei ", "bienvenue chez "} {
			if strings.HasPrefix(lower, prefix) {
				s, lower = strings.TrimSpace(s[len(prefix):]), lower[len(prefix):]
			}
		}
		if s != "" && !genericTitleWords[strings.TrimSpace(lower)] {
			kept = append(kept, s)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	label := foldBrand(firstLabel(domain))
	if len(label) >= 3 {
		for _, s := range kept {
			f := foldBrand(s)
			if len(f) >= 3 && (strings.Contains(f, label) || strings.Contains(label, f)) {
				return s
			}
		}
	}
	return kept[0]
}

// firstLabel returns the leftmost label of domain's registrable part:
// "acme" for www.acme.co.uk.
func firstLabel(domain string) string {
	if reg, err := publicsuffix.EffectiveTLDPlusOne(domain); err == nil {
		domain = reg
	}
	label, _, _ := strings.Cut(domain, ".")
	return label
}

// foldBrand lower-cases s and keeps letters and digits only, so "ACME
// Corp." and "acmecorp" compare.
func foldBrand(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}
