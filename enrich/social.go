package enrich

import (
	"net/url"
	"strings"
)

// Social networks, the keys of Company.Social.
const (
	NetworkLinkedIn  = "linkedin"
	NetworkTwitter   = "twitter"
	NetworkFacebook  = "facebook"
	NetworkGitHub    = "github"
	NetworkInstagram = "instagram"
	NetworkYouTube   = "youtube"
)

// Paths on each network that are features, not profiles: share buttons,
// login pages, search.
var (
	twitterReserved  = words("home share intent search hashtag i explore login signup settings privacy tos notifications messages compose")
	facebookReserved = words("sharer sharer.php share share.php dialog plugins login login.php tr profile.php policies privacy help watch " +
		"business ads events marketplace gaming hashtag legal")
	githubReserved = words("features about pricing login join sponsors marketplace topics collections settings explore apps " +
		"enterprise security site contact customer-stories readme team solutions resources search trending")
	instagramReserved = words("p reel reels explore accounts stories tv direct about developer legal")
)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// socialProfile recognises a link to a profile on one of the networks and
// returns the network, the profile URL in one canonical form (https, the
// network's main host, no query or fragment, only the path that names the
// profile: github.com/acme/widget is the acme organisation), and its rank:
// 0 for an organisation's page, 1 for a person's or a group's, so a company
// page wins over a founder's profile linked earlier.
func socialProfile(href string) (network, link string, rank int, ok bool) {
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil || u.Host == "" || (u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https") {
		return "", "", 0, false
	}
	host := strings.ToLower(u.Hostname())
	for _, prefix := range []string{"www.", "m.", "mobile."} {
		host = strings.TrimPrefix(host, prefix)
	}
	var segs []string
	// The escaped path keeps non-ASCII slugs (linkedin.com/company/soci%C3%A9t%C3%A9)
	// in the form a URL needs.
	for s := range strings.SplitSeq(u.EscapedPath(), "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return "", "", 0, false
	}
	first := strings.ToLower(segs[0])
	switch {
	case host == "linkedin.com" || strings.HasSuffix(host, ".linkedin.com"):
		if len(segs) < 2 || !slug(segs[1], 100, "-_.%") {
			return "", "", 0, false
		}
		switch first {
		case "company", "school", "showcase":
			return NetworkLinkedIn, "https://www.linkedin.com/" + first + "/" + segs[1], 0, true
		case "in":
			return NetworkLinkedIn, "https://www.linkedin.com/in/" + segs[1], 1, true
		}
	case host == "twitter.com" || host == "x.com":
		if slug(segs[0], 15, "_") && !twitterReserved[first] {
			return NetworkTwitter, "https://x.com/" + segs[0], 0, true
		}
	case host == "facebook.com":
		switch {
		case first == "pages" && len(segs) >= 2 && slug(segs[1], 100, "-_.%"):
			p := "pages/" + segs[1]
			if len(segs) >= 3 && slug(segs[2], 30, "") {
				p += "/" + segs[2]
			}
			return NetworkFacebook, "https://www.facebook.com/" + p, 0, true
		case first == "groups" && len(segs) >= 2 && slug(segs[1], 100, "-_."):
			return NetworkFacebook, "https://www.facebook.com/groups/" + segs[1], 1, true
		case first != "pages" && first != "groups" && slug(segs[0], 100, "-.") && !facebookReserved[first]:
			return NetworkFacebook, "https://www.facebook.com/" + segs[0], 0, true
		}
	case host == "github.com":
		owner := segs[0]
		if first == "orgs" && len(segs) >= 2 {
			owner = segs[1]
		} else if githubReserved[first] {
			return "", "", 0, false
		}
		if slug(owner, 39, "-") {
			return NetworkGitHub, "https://github.com/" + owner, 0, true
		}
	case host == "instagram.com":
		if slug(segs[0], 30, "._") && !instagramReserved[first] {
			return NetworkInstagram, "https://www.instagram.com/" + segs[0], 0, true
		}
	case host == "youtube.com":
		switch {
		case strings.HasPrefix(segs[0], "@") && slug(segs[0][1:], 100, "-_."):
			return NetworkYouTube, "https://www.youtube.com/" + segs[0], 0, true
		case (first == "channel" || first == "c" || first == "user") && len(segs) >= 2 && slug(segs[1], 100, "-_."):
			return NetworkYouTube, "https://www.youtube.com/" + first + "/" + segs[1], 0, true
		}
	}
	return "", "", 0, false
}

// slug reports whether s is 1 to max bytes of ASCII letters, digits and
// the extra characters, so that a profile URL we build holds nothing that
// needs escaping.
func slug(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || strings.IndexByte(extra, c) >= 0 {
			continue
		}
		return false
	}
	return true
}
