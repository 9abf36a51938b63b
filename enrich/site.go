package enrich

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/html/charset"

	"github.com/leadcheck/leadcheck/internal/safehttp"
)

// siteOutcome is what one look at a domain's web site gave: the company
// facts (nil when nothing was reached) and what could not be learnt. It is
// the value cached per domain.
type siteOutcome struct {
	Company *Company `json:"company,omitempty"`
	Gaps    []Gap    `json:"gaps,omitempty"`
}

// positive reports whether the outcome is worth the long TTL: a page was
// read and named the company.
func (o siteOutcome) positive() bool {
	return o.Company != nil && o.Company.Name != ""
}

// clone copies the outcome, so that callers sharing one fetch never share
// its maps and slices.
func (o siteOutcome) clone() siteOutcome {
	out := siteOutcome{Gaps: slices.Clone(o.Gaps)}
	if o.Company != nil {
		c := *o.Company
		c.Social = maps.Clone(o.Company.Social)
		out.Company = &c
	}
	return out
}

// fetcher reads home pages through the safe client.
type fetcher struct {
	client  *http.Client
	maxBody int64
}

// errNotReached marks an attempt that got no HTTP answer at all (no such
// host, connection refused, TLS failure), after which the next address is
// tried.
var errNotReached = errors.New("site not reached")

// fetch reads the domain's home page: https://<domain>/, then
// http://<domain>/, then the same two at www.<domain>, moving to the next
// only when the previous one got no HTTP answer at all. Any answer (an
// error status, a non-HTML page), a refused address, a redirect loop and a
// timeout end the search: the other addresses would most likely say the
// same, and the time budget is shared. ctx bounds the whole fetch.
func (f *fetcher) fetch(ctx context.Context, asciiDomain, domain string) siteOutcome {
	hosts := []string{asciiDomain}
	if !strings.HasPrefix(asciiDomain, "www.") {
		hosts = append(hosts, "www."+asciiDomain)
	}
	sawOpenBreaker := false
	for _, h := range hosts {
		for _, scheme := range []string{"https", "http"} {
			out, err := f.attempt(ctx, scheme+"://"+h+"/", domain)
			switch {
			case err == nil:
				return out
			case errors.Is(err, errCircuitOpen):
				sawOpenBreaker = true
			}
			if ctx.Err() != nil {
				return failed(GapTimeout, "the web site did not answer within the time budget")
			}
		}
	}
	if sawOpenBreaker {
		return failed(GapSiteUnavailable, "the web site failed several times in a row; it is not asked again for a while")
	}
	return failed(GapNoWebsite, "no web site answered at https:// or http:// on the domain or its www. name")
}

// failed is an outcome with one company gap and no facts.
func failed(reason, message string) siteOutcome {
	return siteOutcome{Gaps: []Gap{{Part: PartCompany, Reason: reason, Message: message}}}
}

// attempt fetches one URL. A nil error means the search ends with out
// (which may hold gaps); an error wrapping errNotReached or errCircuitOpen
// means try the next address.
func (f *fetcher) attempt(ctx context.Context, rawURL, domain string) (siteOutcome, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return siteOutcome{}, fmt.Errorf("build request: %w: %w", errNotReached, err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1")
	resp, err := f.client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, safehttp.ErrBlocked):
			return failed(GapBlockedAddress, "the web site's address is not public (loopback, private, link-local or metadata); it was not fetched"), nil
		case errors.Is(err, safehttp.ErrRedirect):
			return failed(GapTooManyRedirects, "the web site redirects too many times, or to something that is not a web page"), nil
		case errors.Is(err, errCircuitOpen):
			return siteOutcome{}, err
		case isTimeout(ctx, err):
			return failed(GapTimeout, "the web site did not answer within the time budget"), nil
		default:
			return siteOutcome{}, fmt.Errorf("%w: %w", errNotReached, err)
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return failed(GapHTTPStatus, fmt.Sprintf("the home page answered HTTP %d", resp.StatusCode)), nil
	}

	body := &countingReader{r: io.LimitReader(resp.Body, f.maxBody)}
	br := bufio.NewReaderSize(body, 512)
	contentType := resp.Header.Get("Content-Type")
	if contentType == "" {
		head, _ := br.Peek(512)
		contentType = http.DetectContentType(head)
	}
	if !isHTML(contentType) {
		mt, _, _ := mime.ParseMediaType(contentType)
		return failed(GapNotHTML, fmt.Sprintf("the home page is %s, not HTML", clip(cleanText(firstNonEmpty(mt, "of an unknown type")), 100))), nil
	}
	var text io.Reader = br
	if r, err := charset.NewReader(br, contentType); err == nil {
		text = r
	}
	company := parseSite(text, resp.Request.URL, domain)
	company.URL = resp.Request.URL.String()
	out := siteOutcome{Company: &company}
	if body.n >= f.maxBody {
		// The limit was reached; one more byte tells a page of exactly the
		// limit from a longer one.
		if n, _ := resp.Body.Read(make([]byte, 1)); n > 0 {
			out.Gaps = append(out.Gaps, Gap{Part: PartCompany, Reason: GapTooLarge,
				Message: fmt.Sprintf("the home page is larger than %d bytes; facts were read from the first %d bytes only", f.maxBody, f.maxBody)})
		}
	}
	if ctx.Err() != nil {
		out.Gaps = append(out.Gaps, Gap{Part: PartCompany, Reason: GapTimeout,
			Message: "the home page did not arrive in full within the time budget; facts were read from the part that did"})
	}
	if company.Name == "" && company.Description == "" && company.Logo == "" && len(company.Social) == 0 {
		out.Gaps = append(out.Gaps, Gap{Part: PartCompany, Reason: GapNoData,
			Message: "the home page has no title, Open Graph data, icon or profile link to read"})
	}
	return out, nil
}

// isTimeout reports a fetch that ran out of time.
func isTimeout(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isHTML reports an HTML media type.
func isHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
