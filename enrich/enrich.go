// Package enrich adds to a validated lead what its email domain, local part
// and phone number tell: the mail provider and security gateway read from
// the MX hosts, the SPF and DMARC posture, company facts read from the
// domain's home page, a person-name guess, and the phone's carrier, region,
// time zones and local time. What cannot be learnt is reported with a
// reason (Enrichment.Missing), never as an error: a slow or broken web site
// must not fail a validation.
//
// Every outbound request goes through internal/safehttp, which refuses
// non-public addresses at dial time, behind a per-origin concurrency limit
// and circuit breaker. Company facts are cached per domain through a Memo
// and concurrent lookups of one domain share one fetch.
package enrich

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/leadcheck/leadcheck/internal/safehttp"
	"github.com/leadcheck/leadcheck/validate"
)

// Parts of an Enrichment, the values of Gap.Part.
const (
	PartMail    = "mail"
	PartCompany = "company"
	PartPerson  = "person"
	PartPhone   = "phone"
)

// Gap reasons, the values of Gap.Reason. Clients branch on them, so they
// are never renamed.
const (
	// GapInvalidInput: the email, domain or phone is not valid, so it tells
	// nothing (any part).
	GapInvalidInput = "invalid_input"
	// GapDNSError: a DNS lookup failed, so the facts that depend on it are
	// left empty (mail).
	GapDNSError = "dns_error"
	// GapFreeProvider: the domain is a free mailbox provider, which is not
	// the lead's company; its site is not fetched (company).
	GapFreeProvider = "free_provider"
	// GapDisposable: the domain hands out throwaway addresses (company).
	GapDisposable = "disposable"
	// GapNoWebsite: the domain does not exist or no web server answered at
	// it or its www. name (company).
	GapNoWebsite = "no_website"
	// GapTimeout: the site did not answer within the time budget (company).
	GapTimeout = "timeout"
	// GapHTTPStatus: the home page answered 3xx without a usable redirect,
	// 4xx or 5xx (company).
	GapHTTPStatus = "http_status"
	// GapTooLarge: the page is over the size limit; facts come from the
	// part read (company).
	GapTooLarge = "too_large"
	// GapNotHTML: the home page is not HTML (company).
	GapNotHTML = "not_html"
	// GapTooManyRedirects: the site redirects too often or to a non-web
	// URL (company).
	GapTooManyRedirects = "too_many_redirects"
	// GapBlockedAddress: the site resolves to a loopback, private,
	// link-local or metadata address and was not fetched (company).
	GapBlockedAddress = "blocked_address"
	// GapSiteUnavailable: the site failed several times in a row and its
	// circuit breaker is open (company).
	GapSiteUnavailable = "site_unavailable"
	// GapProviderError: the plugged-in enrichment provider failed
	// (company).
	GapProviderError = "provider_error"
	// GapNoData: the source was read but holds nothing for this fact
	// (company, phone, mail).
	GapNoData = "no_data"
	// GapRoleAccount: the address is a role or team address, so no person
	// name is guessed (person).
	GapRoleAccount = "role_account"
	// GapNoName: the local part does not read as a name (person).
	GapNoName = "no_name"
	// GapNotMobile: carriers are only known for mobile numbers (phone).
	GapNotMobile = "not_mobile"
)

// Defaults for Config.
const (
	DefaultFetchTimeout       = 5 * time.Second
	DefaultMaxBodyBytes       = 1 << 20
	DefaultMaxRedirects       = 5
	DefaultPerHostConcurrency = 2
	DefaultSiteTTL            = 24 * time.Hour
	DefaultNegativeTTL        = time.Hour
	DefaultUserAgent          = "leadcheck (+https://github.com/leadcheck/leadcheck)"
)

// memoKeyVersion is the format version of cached site outcomes; it changes
// when siteOutcome's JSON changes meaning, so instances of two releases
// sharing a Redis never read each other's values.
const memoKeyVersion = "v1"

// Config tunes an Enricher. Zero values take the defaults.
type Config struct {
	// AllowPrivate lets site fetches reach loopback and private addresses
	// (LEADCHECK_ALLOW_PRIVATE_NETWORKS); for tests and closed networks.
	AllowPrivate bool
	// FetchTimeout bounds the whole look at one site: every address tried,
	// redirects and the body read. Default 5s.
	FetchTimeout time.Duration
	// MaxBodyBytes is how much of a home page is read. A longer page is
	// cut there and what was read is parsed (names, descriptions and icons
	// sit in <head>, at the start); a too_large gap says so. Default 1 MiB.
	MaxBodyBytes int64
	// MaxRedirects is how many redirects a fetch follows; every hop is
	// dialled through the address check again. Default 5; negative means
	// none.
	MaxRedirects int
	// PerHostConcurrency bounds requests in flight to one origin, so that
	// many domains parked at one host do not flood it. Default 2.
	PerHostConcurrency int
	// SiteTTL is how long company facts are cached when the page named the
	// company; NegativeTTL is for every other outcome (failures, pages with
	// nothing to read), short so a fixed site is seen soon. Defaults 24h
	// and 1h.
	SiteTTL, NegativeTTL time.Duration
	// UserAgent is sent with every fetch; it says who we are and where to
	// read about it. Default DefaultUserAgent.
	UserAgent string
	// Now is the clock for Phone.LocalTime. Default time.Now.
	Now func() time.Time
	// DNSServers resolve site names (LEADCHECK_DNS); empty: the system's
	// resolver.
	DNSServers []string
	// Resolve, when set, maps a site's "host:port" to the "host:port" that
	// is dialled instead; "" or the same value keeps it. The safe client's
	// address check still applies to the result. It exists so tests can
	// point fixture domains at a local server; leave it nil in production.
	Resolve func(hostport string) string
}

func (c Config) withDefaults() Config {
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxRedirects == 0 {
		c.MaxRedirects = DefaultMaxRedirects
	}
	if c.MaxRedirects < 0 {
		c.MaxRedirects = 0
	}
	if c.PerHostConcurrency <= 0 {
		c.PerHostConcurrency = DefaultPerHostConcurrency
	}
	if c.SiteTTL <= 0 {
		c.SiteTTL = DefaultSiteTTL
	}
	if c.NegativeTTL <= 0 {
		c.NegativeTTL = DefaultNegativeTTL
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Memo remembers a value per key for a while, shared by all instances;
// cache.Memo implements it. load runs on a miss and says how long its value
// is good for; cached reports a hit.
type Memo interface {
	Do(ctx context.Context, key string, load func(ctx context.Context) (value []byte, ttl time.Duration)) (value []byte, cached bool)
}

// Provider is a paid enrichment API an operator can plug in (key from
// config). None ships. It is asked only when the web site did not name the
// company (the site is first-party and free), and its answer fills only the
// fields the site left empty. Its answer is cached with the site's.
type Provider interface {
	// Name identifies the provider in gap messages.
	Name() string
	// Enrich returns what the provider knows about the company at domain
	// (ASCII form), or nil when it knows nothing.
	Enrich(ctx context.Context, domain string) (*Company, error)
}

// Enricher adds enrichment to leads. It is safe for concurrent use.
type Enricher struct {
	cfg      Config
	engine   *validate.Engine
	lists    *validate.Lists
	memo     Memo
	provider Provider
	fetcher  *fetcher
	flight   singleflight.Group
	// waiting counts callers waiting for a company lookup; tests read it to
	// know that concurrent callers have joined one fetch.
	waiting atomic.Int64
}

// New builds an Enricher. engine validates leads for Enrich; lists names
// role words for the person guess; memo (nil: no cache, concurrent lookups
// of a domain still share one fetch) caches company facts; provider may be
// nil.
func New(cfg Config, engine *validate.Engine, lists *validate.Lists, memo Memo, provider Provider) *Enricher {
	cfg = cfg.withDefaults()
	safe := safehttp.NewClient(safehttp.Options{
		AllowPrivate: cfg.AllowPrivate,
		Timeout:      cfg.FetchTimeout,
		MaxRedirects: cfg.MaxRedirects,
		UserAgent:    cfg.UserAgent,
		DNSServers:   cfg.DNSServers,
	})
	transport := safe.Transport
	if cfg.Resolve != nil {
		transport = redirectDial{base: transport, resolve: cfg.Resolve}
	}
	client := *safe
	client.Transport = newHostLimiter(transport, cfg.PerHostConcurrency)
	return &Enricher{
		cfg:      cfg,
		engine:   engine,
		lists:    lists,
		memo:     memo,
		provider: provider,
		fetcher:  &fetcher{client: &client, maxBody: cfg.MaxBodyBytes},
	}
}

// Enrich validates the lead and enriches it. The only error is a
// *validate.InputError for input that is not a lead at all; everything
// else that goes wrong is a Gap.
func (e *Enricher) Enrich(ctx context.Context, req validate.Request) (Enrichment, error) {
	if err := validate.CheckRequest(req); err != nil {
		return Enrichment{}, err
	}
	res, err := e.engine.Validate(ctx, req)
	if err != nil {
		return Enrichment{}, fmt.Errorf("validate: %w", err)
	}
	return e.EnrichResult(ctx, req, res), nil
}

// EnrichResult adds enrichment to an existing validation result without
// validating again (validate with options.enrich, bulk rows). The mail
// facts come from the email's domain, else from the domain field; the
// company is looked up at the domain field when given (a lead with a
// gmail.com address and domain acme.com works at acme.com), else at the
// email's domain. req.Name, when it agrees with the name guessed from the
// local part, raises the guess's confidence to 1. The company lookup waits
// at most until ctx ends; a fetch still running then goes on in the
// background (bounded by FetchTimeout) and fills the cache.
func (e *Enricher) EnrichResult(ctx context.Context, req validate.Request, res validate.Result) Enrichment {
	out := Enrichment{Missing: []Gap{}}
	gap := func(gs ...Gap) { out.Missing = append(out.Missing, gs...) }

	mail, mailGaps := e.mail(res)
	out.Mail = mail
	gap(mailGaps...)

	company, cached, companyGaps := e.company(ctx, res)
	out.Company, out.Cached = company, cached
	gap(companyGaps...)

	if em := res.Email; em != nil {
		switch {
		case em.Local == "":
			gap(Gap{Part: PartPerson, Reason: GapInvalidInput, Message: "the email address is not valid, so no name is read from it"})
		case em.Flags.Role:
			gap(Gap{Part: PartPerson, Reason: GapRoleAccount, Message: "the address belongs to a role or team, not a person"})
		default:
			g := guessName(em.Local, e.isRole)
			if g.person != nil {
				confirmName(g.person, req.Name)
				out.Person = g.person
			} else {
				gap(Gap{Part: PartPerson, Reason: g.reason, Message: g.why})
			}
		}
	}

	if pr := res.Phone; pr != nil {
		phone, gs := enrichPhone(pr, e.cfg.Now())
		out.Phone = phone
		gap(gs...)
	}
	return out
}

func (e *Enricher) isRole(word string) bool {
	return e.lists != nil && e.lists.IsRole(word)
}

// mail builds the mail facts from the email's domain, else the domain
// field.
func (e *Enricher) mail(res validate.Result) (*Mail, []Gap) {
	var m Mail
	var dns *validate.DNSResult
	var ascii string
	switch {
	case res.Email != nil && res.Email.ASCIIDomain != "":
		em := res.Email
		m = Mail{Domain: em.Domain, Free: em.Flags.Free, Disposable: em.Flags.Disposable, Role: em.Flags.Role}
		dns, ascii = em.DNS, em.ASCIIDomain
	case res.Domain != nil && res.Domain.ASCIIDomain != "":
		d := res.Domain
		m = Mail{Domain: d.Domain, Free: d.Free, Disposable: d.Disposable}
		dns, ascii = d.DNS, d.ASCIIDomain
	case res.Email != nil || res.Domain != nil:
		return nil, []Gap{{Part: PartMail, Reason: GapInvalidInput, Message: "the email address or domain is not valid, so there is no mail set-up to read"}}
	default:
		return nil, nil
	}
	if dns == nil {
		dns = &validate.DNSResult{Status: validate.DNSError}
	}
	m.Provider, m.ProviderName, m.SecurityGateway = classifyMail(mailFacts{asciiDomain: ascii, free: m.Free, dns: *dns})
	if dns.Status == validate.DNSError {
		return &m, []Gap{{Part: PartMail, Reason: GapDNSError, Message: "DNS did not answer for the domain, so its mail provider and policies are unknown; try again later"}}
	}
	if dns.Status == validate.DNSNXDomain {
		m.SPF, m.DMARC = "none", "missing"
		return &m, nil
	}
	var gaps []Gap
	switch spf := dns.SPF; {
	case spf.LookupFailed:
		gaps = append(gaps, Gap{Part: PartMail, Reason: GapDNSError, Message: "the SPF lookup failed, so the SPF policy is unknown"})
	case !spf.Found:
		m.SPF = "none"
	case spf.Policy != "":
		m.SPF = spf.Policy
	case strings.Contains(strings.ToLower(spf.Record), "redirect="):
		gaps = append(gaps, Gap{Part: PartMail, Reason: GapNoData, Message: "the SPF record hands its policy to another domain (redirect=), which is not followed"})
	default:
		// No "all" and no redirect: SPF's default result is neutral
		// (RFC 7208 §4.7), which is what "?all" says.
		m.SPF = "?all"
	}
	switch dmarc := dns.DMARC; {
	case dmarc.LookupFailed:
		gaps = append(gaps, Gap{Part: PartMail, Reason: GapDNSError, Message: "the DMARC lookup failed, so the DMARC policy is unknown"})
	case !dmarc.Found:
		m.DMARC = "missing"
	case dmarc.Policy != "":
		m.DMARC = dmarc.Policy
	default:
		gaps = append(gaps, Gap{Part: PartMail, Reason: GapNoData, Message: "the DMARC record has no valid p= policy"})
	}
	return &m, gaps
}

// companyDomain is the domain whose site describes the lead's company,
// with what validation learnt about it.
type companyDomain struct {
	ascii, unicode   string
	free, disposable bool
	dnsStatus        validate.DNSStatus
}

// pickCompanyDomain takes the domain field when it parsed, else the email's
// domain. found is false when neither parsed; invalid is true when one was
// given but did not parse.
func pickCompanyDomain(res validate.Result) (cd companyDomain, found, invalid bool) {
	var dns *validate.DNSResult
	switch {
	case res.Domain != nil && res.Domain.ASCIIDomain != "":
		d := res.Domain
		cd, dns = companyDomain{ascii: d.ASCIIDomain, unicode: d.Domain, free: d.Free, disposable: d.Disposable}, d.DNS
	case res.Email != nil && res.Email.ASCIIDomain != "":
		em := res.Email
		cd, dns = companyDomain{ascii: em.ASCIIDomain, unicode: em.Domain, free: em.Flags.Free, disposable: em.Flags.Disposable}, em.DNS
	default:
		return companyDomain{}, false, res.Email != nil || res.Domain != nil
	}
	if dns != nil {
		cd.dnsStatus = dns.Status
	}
	return cd, true, false
}

// company looks up the company facts, unless the domain cannot be the
// lead's company or has no web site.
func (e *Enricher) company(ctx context.Context, res validate.Result) (*Company, bool, []Gap) {
	cd, found, invalid := pickCompanyDomain(res)
	switch {
	case invalid:
		return nil, false, []Gap{{Part: PartCompany, Reason: GapInvalidInput, Message: "the email address or domain is not valid, so there is no company web site to read"}}
	case !found:
		return nil, false, nil
	case cd.free:
		return nil, false, []Gap{{Part: PartCompany, Reason: GapFreeProvider, Message: cd.unicode + " is a free mailbox provider, not the lead's company; send the company's domain in the domain field"}}
	case cd.disposable:
		return nil, false, []Gap{{Part: PartCompany, Reason: GapDisposable, Message: cd.unicode + " hands out throwaway addresses; it is not a company"}}
	case cd.dnsStatus == validate.DNSNXDomain:
		return nil, false, []Gap{{Part: PartCompany, Reason: GapNoWebsite, Message: "the domain does not exist, so it has no web site"}}
	}
	out, cached, ok := e.lookupSite(ctx, cd.ascii, cd.unicode)
	if !ok {
		return nil, false, []Gap{{Part: PartCompany, Reason: GapTimeout,
			Message: "the web site was not read within this request's time budget; try again later"}}
	}
	return out.Company, cached, out.Gaps
}

// lookupSite returns the site outcome for a domain from the memo, or
// fetches it, with one fetch per domain at a time in this process. The
// fetch runs detached from ctx (bounded by FetchTimeout and the provider's
// budget) so that a caller that gives up does not fail the others waiting
// for the same domain; ok is false when ctx ended first.
func (e *Enricher) lookupSite(ctx context.Context, ascii, unicode string) (out siteOutcome, cached, ok bool) {
	type result struct {
		out    siteOutcome
		cached bool
	}
	if ctx.Err() != nil {
		// Nobody would wait for it: a canceled bulk job must not leave a
		// fetch per remaining row running in the background.
		return siteOutcome{}, false, false
	}
	e.waiting.Add(1)
	defer e.waiting.Add(-1)
	ch := e.flight.DoChan(ascii, func() (any, error) {
		detached := context.WithoutCancel(ctx)
		if e.memo == nil {
			return result{out: e.load(detached, ascii, unicode)}, nil
		}
		raw, hit := e.memo.Do(detached, "site:"+memoKeyVersion+":"+ascii, func(ctx context.Context) ([]byte, time.Duration) {
			o := e.load(ctx, ascii, unicode)
			ttl := e.cfg.NegativeTTL
			if o.positive() {
				ttl = e.cfg.SiteTTL
			}
			b, err := json.Marshal(o)
			if err != nil {
				// A siteOutcome always marshals; this keeps the memo
				// contract (a value and a TTL) if it ever does not.
				return nil, 0
			}
			return b, ttl
		})
		if raw == nil {
			// The memo gave up on the load (its LoadTimeout, or Close at
			// shutdown).
			return result{out: failed(GapTimeout, "the web site was not read within the time budget")}, nil
		}
		var o siteOutcome
		if err := json.Unmarshal(raw, &o); err != nil {
			return result{out: failed(GapNoData, "the cached company facts could not be read")}, nil
		}
		return result{out: o, cached: hit}, nil
	})
	select {
	case r := <-ch:
		v := r.Val.(result)
		return v.out.clone(), v.cached, true
	case <-ctx.Done():
		return siteOutcome{}, false, false
	}
}

// load fetches the site, then asks the provider when the site did not name
// the company.
func (e *Enricher) load(ctx context.Context, ascii, unicode string) siteOutcome {
	fctx, cancel := context.WithTimeout(ctx, e.cfg.FetchTimeout)
	out := e.fetcher.fetch(fctx, ascii, unicode)
	cancel()
	if e.provider == nil || out.positive() {
		return out
	}
	pctx, cancel := context.WithTimeout(ctx, e.cfg.FetchTimeout)
	defer cancel()
	pc, err := e.provider.Enrich(pctx, ascii)
	if err != nil {
		out.Gaps = append(out.Gaps, Gap{Part: PartCompany, Reason: GapProviderError,
			Message: e.provider.Name() + " did not answer; its facts are missing"})
		return out
	}
	if pc == nil {
		return out
	}
	if out.Company == nil {
		out.Company = &Company{Domain: unicode}
	}
	mergeCompany(out.Company, pc)
	if out.Company.Name != "" {
		// The provider filled what the site could not; the site's
		// failure no longer hides the company, but stays reported.
		out.Gaps = dropGap(out.Gaps, GapNoData)
	}
	return out
}

// mergeCompany fills the empty fields of dst from src, with the same
// bounds as facts read from a page.
func mergeCompany(dst, src *Company) {
	fill := func(d *string, s string, limit int) {
		if *d == "" {
			*d = clip(cleanText(s), limit)
		}
	}
	fill(&dst.Name, src.Name, maxNameRunes)
	fill(&dst.Description, src.Description, maxDescriptionRunes)
	if dst.Logo == "" && len(src.Logo) <= maxURLBytes && (strings.HasPrefix(src.Logo, "https://") || strings.HasPrefix(src.Logo, "http://")) {
		dst.Logo = src.Logo
	}
	if dst.Language == "" {
		dst.Language = languageTag(src.Language)
	}
	if dst.URL == "" && len(src.URL) <= maxURLBytes && (strings.HasPrefix(src.URL, "https://") || strings.HasPrefix(src.URL, "http://")) {
		dst.URL = src.URL
	}
	for network, link := range src.Social {
		if n, l, _, ok := socialProfile(link); ok && n == network {
			if dst.Social == nil {
				dst.Social = map[string]string{}
			}
			if _, seen := dst.Social[n]; !seen {
				dst.Social[n] = l
			}
		}
	}
}

func dropGap(gaps []Gap, reason string) []Gap {
	out := gaps[:0]
	for _, g := range gaps {
		if g.Reason != reason {
			out = append(out, g)
		}
	}
	return out
}
