package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadcheck/leadcheck/validate"
)

// siteCase is one web site behaviour and what enrichment should make of
// it.
type siteCase struct {
	name    string
	handler http.HandlerFunc
	cfg     Config
	// wantName is the company name expected; "" expects none.
	wantName string
	// wantGaps are the company gap reasons expected, in order.
	wantGaps []string
	// noCompany expects Company to be nil.
	noCompany bool
}

// TestSiteOutcomes fetches a local site for each failure the issue lists
// (and the successes), with the safe client allowed to reach loopback.
func TestSiteOutcomes(t *testing.T) {
	t.Parallel()
	tests := []siteCase{
		{
			name:     "open graph page",
			handler:  page(openGraphPage),
			wantName: "Acme Widgets, Inc.",
		},
		{
			name:     "title only",
			handler:  page(`<html><head><title>Acme | Home</title></head></html>`),
			wantName: "Acme",
		},
		{
			name:     "broken html",
			handler:  page(`<html><head><title>Half a page</title><meta name="description" content="cut`),
			wantName: "Half a page",
		},
		{
			name:     "nothing to read",
			handler:  page(`<html><body><div>hi</div></body></html>`),
			wantGaps: []string{GapNoData},
		},
		{
			name: "no content type, sniffed as html",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				_, _ = w.Write([]byte("<!DOCTYPE html><html><title>Sniffed</title></html>"))
			},
			wantName: "Sniffed",
		},
		{
			name: "latin-1 page",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
				_, _ = w.Write([]byte("<title>Caf\xe9 M\xfcller</title>"))
			},
			wantName: "Café Müller",
		},
		{
			name: "server error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "boom", http.StatusInternalServerError)
			},
			wantGaps:  []string{GapHTTPStatus},
			noCompany: true,
		},
		{
			name:      "not found",
			handler:   http.NotFound,
			wantGaps:  []string{GapHTTPStatus},
			noCompany: true,
		},
		{
			name: "not html",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/pdf")
				_, _ = w.Write([]byte("%PDF-1.7"))
			},
			wantGaps:  []string{GapNotHTML},
			noCompany: true,
		},
		{
			name: "redirect loop",
			handler: func(w http.ResponseWriter, r *http.Request) {
				next := "/a"
				if r.URL.Path == "/a" {
					next = "/"
				}
				http.Redirect(w, r, next, http.StatusFound)
			},
			wantGaps:  []string{GapTooManyRedirects},
			noCompany: true,
		},
		{
			name: "timeout",
			cfg:  Config{FetchTimeout: 300 * time.Millisecond},
			handler: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			},
			wantGaps:  []string{GapTimeout},
			noCompany: true,
		},
		{
			name: "50 MB body",
			cfg:  Config{MaxBodyBytes: 64 << 10},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = w.Write([]byte("<html><head><title>Big Co</title></head><body>"))
				chunk := []byte(strings.Repeat("<p>filler text</p>", 1<<10))
				for written := 0; written < 50<<20; written += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return // the client stopped reading, as it should
					}
				}
			},
			wantName: "Big Co",
			wantGaps: []string{GapTooLarge},
		},
		{
			name: "body of exactly the limit is not too large",
			cfg:  Config{MaxBodyBytes: 64},
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				body := "<title>Exact</title>"
				_, _ = w.Write([]byte(body + strings.Repeat(" ", 64-len(body))))
			},
			wantName: "Exact",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, tt.handler)
			engine, lists := newEngine(t, siteZone("acme.test"), nil)
			cfg := tt.cfg
			cfg.AllowPrivate = true
			cfg.Resolve = routes(t, map[string]string{"acme.test:80": s.addr()})
			e := New(cfg, engine, lists, nil, nil)
			start := time.Now()
			got, err := e.Enrich(context.Background(), validate.Request{Email: "jane.doe@acme.test"})
			if err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("enrichment took %s; the fetch budget must bound it", elapsed)
			}
			if tt.noCompany != (got.Company == nil) {
				t.Fatalf("got company %+v, want company: %v", got.Company, !tt.noCompany)
			}
			if got.Company != nil && got.Company.Name != tt.wantName {
				t.Errorf("got name %q, want %q", got.Company.Name, tt.wantName)
			}
			if diff := cmp.Diff(tt.wantGaps, gapReasons(got, PartCompany)); diff != "" {
				t.Errorf("company gaps (-want +got):\n%s\nall: %+v", diff, got.Missing)
			}
			if got.Person == nil || got.Person.FullName != "Jane Doe" {
				t.Errorf("got person %+v, want Jane Doe whatever the site did", got.Person)
			}
		})
	}
}

// TestSiteDetails checks the URL after redirects, relative URLs, the
// User-Agent and the HTTPS-first order.
func TestSiteDetails(t *testing.T) {
	t.Parallel()
	s := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.Redirect(w, r, "/en/", http.StatusMovedPermanently)
			return
		}
		page(`<html lang="en"><title>Acme</title><link rel="icon" href="fav.png"></html>`)(w, r)
	})
	var tlsConns atomic.Int64
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			tlsConns.Add(1)
		}
	}
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)

	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{
		AllowPrivate: true,
		UserAgent:    "leadcheck-test/1 (+https://example.test)",
		Resolve: routes(t, map[string]string{
			"acme.test:443": tlsSrv.Listener.Addr().String(), // untrusted certificate: falls back to http
			"acme.test:80":  s.addr(),
		}),
	}, engine, lists, nil, nil)
	got, err := e.Enrich(context.Background(), validate.Request{Email: "jane@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Company{Domain: "acme.test", URL: "http://acme.test/en/", Name: "Acme", Logo: "http://acme.test/en/fav.png", Language: "en"}
	if diff := cmp.Diff(want, got.Company); diff != "" {
		t.Errorf("company (-want +got):\n%s", diff)
	}
	if tlsConns.Load() == 0 {
		t.Error("https was not tried before http")
	}
	s.mu.Lock()
	uas := s.uas
	s.mu.Unlock()
	for _, ua := range uas {
		if ua != "leadcheck-test/1 (+https://example.test)" {
			t.Errorf("got User-Agent %q, want the configured one", ua)
		}
	}
}

// TestSiteWWWFallback reaches a site that only answers at www.
func TestSiteWWWFallback(t *testing.T) {
	t.Parallel()
	s := newSite(t, page(`<title>WWW Only</title>`))
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, Resolve: routes(t, map[string]string{"www.acme.test:80": s.addr()})}, engine, lists, nil, nil)
	got, err := e.Enrich(context.Background(), validate.Request{Email: "jane@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Company == nil || got.Company.URL != "http://www.acme.test/" || got.Company.Name != "WWW Only" {
		t.Errorf("got company %+v, want WWW Only at http://www.acme.test/", got.Company)
	}
}

// TestNoWebsite: nothing answers anywhere.
func TestNoWebsite(t *testing.T) {
	t.Parallel()
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, Resolve: routes(t, nil)}, engine, lists, nil, nil)
	got, err := e.Enrich(context.Background(), validate.Request{Email: "jane@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{GapNoWebsite}, gapReasons(got, PartCompany)); diff != "" {
		t.Errorf("company gaps (-want +got):\n%s", diff)
	}
}

// TestSSRFGuard proves the safe client refuses loopback and the metadata
// address when private networks are not allowed: the local site sees no
// request at all.
func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	s := newSite(t, page(`<title>Internal admin</title>`))
	tests := []struct {
		name   string
		routes map[string]string
	}{
		{"loopback", map[string]string{"acme.test:443": s.addr(), "acme.test:80": s.addr()}},
		{"metadata", map[string]string{"acme.test:443": "169.254.169.254:443", "acme.test:80": "169.254.169.254:80"}},
		{"loopback by name", map[string]string{"acme.test:443": "localhost:" + s.srv.URL[strings.LastIndexByte(s.srv.URL, ':')+1:], "acme.test:80": "localhost:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			engine, lists := newEngine(t, siteZone("acme.test"), nil)
			e := New(Config{AllowPrivate: false, Resolve: routes(t, tt.routes)}, engine, lists, nil, nil)
			start := time.Now()
			got, err := e.Enrich(context.Background(), validate.Request{Email: "jane@acme.test"})
			if err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("refusal took %s; it happens before any packet is sent", elapsed)
			}
			if got.Company != nil {
				t.Errorf("got company %+v from a refused address", got.Company)
			}
			if diff := cmp.Diff([]string{GapBlockedAddress}, gapReasons(got, PartCompany)); diff != "" {
				t.Errorf("company gaps (-want +got):\n%s", diff)
			}
		})
	}
	if n := s.all.Load(); n != 0 {
		t.Errorf("the local site got %d requests, want 0", n)
	}
}

// TestNoFetchForFreeOrDisposable: gmail.com is not the lead's company,
// mailinator.com is nobody's, and a domain that does not exist has no
// site; none of them is fetched.
func TestNoFetchForFreeOrDisposable(t *testing.T) {
	t.Parallel()
	s := newSite(t, page(`<title>Should not be read</title>`))
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	all := map[string]string{}
	for _, d := range []string{"gmail.com", "mailinator.com", "missing.test"} {
		all[d+":80"], all[d+":443"], all["www."+d+":80"], all["www."+d+":443"] = s.addr(), s.addr(), s.addr(), s.addr()
	}
	e := New(Config{AllowPrivate: true, Resolve: routes(t, all)}, engine, lists, nil, nil)
	tests := []struct {
		email, gap string
	}{
		{"jane.doe@gmail.com", GapFreeProvider},
		{"jane.doe@mailinator.com", GapDisposable},
		{"jane.doe@missing.test", GapNoWebsite},
	}
	for _, tt := range tests {
		got, err := e.Enrich(context.Background(), validate.Request{Email: tt.email})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{tt.gap}, gapReasons(got, PartCompany)); diff != "" {
			t.Errorf("%s: company gaps (-want +got):\n%s", tt.email, diff)
		}
	}
	got, err := e.Enrich(context.Background(), validate.Request{Email: "jane.doe@gmail.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Mail == nil || got.Mail.Provider != "google" || !got.Mail.Free {
		t.Errorf("gmail mail facts: got %+v, want provider google, free", got.Mail)
	}
	if n := s.all.Load(); n != 0 {
		t.Errorf("the site got %d requests, want 0", n)
	}
}

// TestCompanyFromDomainField: a free address with the company's domain
// given reads the company's site.
func TestCompanyFromDomainField(t *testing.T) {
	t.Parallel()
	s := newSite(t, page(`<title>Acme</title>`))
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, Resolve: routes(t, map[string]string{"acme.test:80": s.addr()})}, engine, lists, nil, nil)
	got, err := e.Enrich(context.Background(), validate.Request{Email: "jane.doe@gmail.com", Domain: "acme.test", Name: "Jane Doe"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Company == nil || got.Company.Name != "Acme" {
		t.Errorf("got company %+v, want Acme from the domain field", got.Company)
	}
	if got.Mail == nil || got.Mail.Domain != "gmail.com" {
		t.Errorf("got mail %+v, want the email's domain", got.Mail)
	}
	if got.Person == nil || got.Person.Confidence != confidenceConfirmed {
		t.Errorf("got person %+v, want confidence 1 from the matching name field", got.Person)
	}
}

// TestOneFetchPerDomain starts 100 enrichments for addresses at one domain
// at once and holds the page until all of them wait for it: the site must
// see exactly one request.
func TestOneFetchPerDomain(t *testing.T) {
	t.Parallel()
	handler, release := held(page(`<title>Acme</title>`))
	s := newSite(t, handler)
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, FetchTimeout: 30 * time.Second, Resolve: routes(t, map[string]string{"acme.test:80": s.addr()})},
		engine, lists, nil, nil)

	const n = 100
	var wg sync.WaitGroup
	results := make([]Enrichment, n)
	for i := range n {
		wg.Go(func() {
			r, err := e.Enrich(context.Background(), validate.Request{Email: fmt.Sprintf("person%d@acme.test", i)})
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.waiting.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if w := e.waiting.Load(); w != n {
		t.Errorf("only %d of %d callers joined the lookup", w, n)
	}
	release()
	wg.Wait()
	if got := s.count("/"); got != 1 {
		t.Errorf("the site saw %d requests for /, want 1", got)
	}
	for i, r := range results {
		if r.Company == nil || r.Company.Name != "Acme" {
			t.Fatalf("result %d: got company %+v, want Acme", i, r.Company)
		}
	}
}

// TestCircuitBreaker: a site that keeps failing is asked breakerFailures
// times, then left alone.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	s := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, Resolve: routes(t, map[string]string{"acme.test:80": s.addr()})}, engine, lists, nil, nil)
	var last Enrichment
	for range breakerFailures + 3 {
		var err error
		last, err = e.Enrich(context.Background(), validate.Request{Email: "jane@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := s.count("/"); got != breakerFailures {
		t.Errorf("the failing site saw %d requests, want %d", got, breakerFailures)
	}
	if diff := cmp.Diff([]string{GapSiteUnavailable}, gapReasons(last, PartCompany)); diff != "" {
		t.Errorf("company gaps once the breaker is open (-want +got):\n%s", diff)
	}
}

// TestPerHostConcurrency: many domains redirecting to one parking host
// never have more than PerHostConcurrency requests in flight there.
func TestPerHostConcurrency(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int64
	parking := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		page(`<title>Parked</title>`)(w, r)
	})
	redirector := newSite(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://parking.test/lander", http.StatusFound)
	})
	var domains []string
	m := map[string]string{"parking.test:80": parking.addr()}
	for i := range 12 {
		d := fmt.Sprintf("parked%d.test", i)
		domains = append(domains, d)
		m[d+":80"] = redirector.addr()
	}
	engine, lists := newEngine(t, siteZone(domains...), nil)
	e := New(Config{AllowPrivate: true, PerHostConcurrency: 2, Resolve: routes(t, m)}, engine, lists, nil, nil)
	var wg sync.WaitGroup
	for _, d := range domains {
		wg.Go(func() {
			got, err := e.Enrich(context.Background(), validate.Request{Email: "jane@" + d})
			if err != nil {
				t.Error(err)
				return
			}
			if got.Company == nil || got.Company.Name != "Parked" {
				t.Errorf("%s: got company %+v, want Parked", d, got.Company)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Errorf("the parking host saw %d requests at once, want at most 2", p)
	}
}

// TestCallerGivesUp: a caller whose context ends gets a timeout gap at
// once, while the fetch goes on for the others.
func TestCallerGivesUp(t *testing.T) {
	t.Parallel()
	handler, release := held(page(`<title>Slow Co</title>`))
	s := newSite(t, handler)
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, FetchTimeout: 30 * time.Second, Resolve: routes(t, map[string]string{"acme.test:80": s.addr()})},
		engine, lists, nil, nil)
	res, err := engine.Validate(context.Background(), validate.Request{Email: "jane@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	patient := make(chan Enrichment, 1)
	go func() { patient <- e.EnrichResult(context.Background(), validate.Request{}, res) }()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	quick := e.EnrichResult(ctx, validate.Request{}, res)
	if diff := cmp.Diff([]string{GapTimeout}, gapReasons(quick, PartCompany)); diff != "" {
		t.Errorf("impatient caller's company gaps (-want +got):\n%s", diff)
	}
	release()
	select {
	case got := <-patient:
		if got.Company == nil || got.Company.Name != "Slow Co" {
			t.Errorf("patient caller: got company %+v, want Slow Co", got.Company)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the patient caller never got an answer")
	}
}

// mapMemo is a Memo over a map, for the tests of the memo contract (TTLs,
// the cached flag). It is not a cache implementation.
type mapMemo struct {
	mu    sync.Mutex
	vals  map[string][]byte
	ttls  map[string]time.Duration
	loads int
}

func (m *mapMemo) Do(ctx context.Context, key string, load func(context.Context) ([]byte, time.Duration)) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vals[key]; ok {
		return v, true
	}
	v, ttl := load(ctx)
	m.loads++
	m.vals[key], m.ttls[key] = v, ttl
	return v, false
}

func TestMemo(t *testing.T) {
	t.Parallel()
	good := newSite(t, page(`<title>Acme</title>`))
	bad := newSite(t, http.NotFound)
	engine, lists := newEngine(t, siteZone("acme.test", "broken.test"), nil)
	memo := &mapMemo{vals: map[string][]byte{}, ttls: map[string]time.Duration{}}
	e := New(Config{AllowPrivate: true, SiteTTL: 7 * time.Hour, NegativeTTL: 7 * time.Minute,
		Resolve: routes(t, map[string]string{"acme.test:80": good.addr(), "broken.test:80": bad.addr()})}, engine, lists, memo, nil)
	for i := range 3 {
		for _, email := range []string{"jane@acme.test", "jane@broken.test"} {
			got, err := e.Enrich(context.Background(), validate.Request{Email: email})
			if err != nil {
				t.Fatal(err)
			}
			if got.Cached != (i > 0) {
				t.Errorf("call %d for %s: got cached=%v", i, email, got.Cached)
			}
			if email == "jane@acme.test" && (got.Company == nil || got.Company.Name != "Acme") {
				t.Errorf("call %d: got company %+v", i, got.Company)
			}
			if email == "jane@broken.test" {
				if diff := cmp.Diff([]string{GapHTTPStatus}, gapReasons(got, PartCompany)); diff != "" {
					t.Errorf("call %d, cached failure gaps (-want +got):\n%s", i, diff)
				}
			}
		}
	}
	if good.count("/") != 1 || bad.count("/") != 1 {
		t.Errorf("sites saw %d and %d requests, want 1 each", good.count("/"), bad.count("/"))
	}
	want := map[string]time.Duration{"site:v1:acme.test": 7 * time.Hour, "site:v1:broken.test": 7 * time.Minute}
	if diff := cmp.Diff(want, memo.ttls); diff != "" {
		t.Errorf("memo TTLs (-want +got):\n%s", diff)
	}
}

// apiProvider is a Provider that asks a JSON API, as a paid one would;
// here the API is a local test server.
type apiProvider struct {
	base   string
	client *http.Client
}

func (p apiProvider) Name() string { return "Example Data" }

func (p apiProvider) Enrich(ctx context.Context, domain string) (*Company, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/companies/"+domain, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, nil
	default:
		return nil, errors.New(resp.Status)
	}
	var c Company
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

func TestProvider(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		switch r.URL.Path {
		case "/companies/nosite.test":
			_ = json.NewEncoder(w).Encode(Company{Name: "No Site Ltd", Description: "Known to the provider.",
				Logo: "https://cdn.example.test/nosite.png", Social: map[string]string{"github": "https://github.com/nosite", "myspace": "x"}})
		case "/companies/failing.test":
			http.Error(w, "quota", http.StatusTooManyRequests)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(api.Close)
	withSite := newSite(t, page(`<title>Has A Site</title>`))
	engine, lists := newEngine(t, siteZone("nosite.test", "failing.test", "hassite.test"), nil)
	e := New(Config{AllowPrivate: true, Resolve: routes(t, map[string]string{"hassite.test:80": withSite.addr()})},
		engine, lists, nil, apiProvider{base: api.URL, client: api.Client()})

	got, err := e.Enrich(context.Background(), validate.Request{Email: "jane@nosite.test"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Company{Domain: "nosite.test", Name: "No Site Ltd", Description: "Known to the provider.",
		Logo: "https://cdn.example.test/nosite.png", Social: map[string]string{"github": "https://github.com/nosite"}}
	if diff := cmp.Diff(want, got.Company); diff != "" {
		t.Errorf("company from the provider (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{GapNoWebsite}, gapReasons(got, PartCompany)); diff != "" {
		t.Errorf("the site's failure stays reported (-want +got):\n%s", diff)
	}

	got, err = e.Enrich(context.Background(), validate.Request{Email: "jane@failing.test"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{GapNoWebsite, GapProviderError}, gapReasons(got, PartCompany)); diff != "" {
		t.Errorf("provider failure gaps (-want +got):\n%s", diff)
	}

	before := asked.Load()
	got, err = e.Enrich(context.Background(), validate.Request{Email: "jane@hassite.test"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Company == nil || got.Company.Name != "Has A Site" {
		t.Errorf("got company %+v, want the site's", got.Company)
	}
	if asked.Load() != before {
		t.Error("the provider was asked although the site named the company")
	}
}

// TestEnrichInputError: input that is not a lead is the one error.
func TestEnrichInputError(t *testing.T) {
	t.Parallel()
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{Resolve: routes(t, nil)}, engine, lists, nil, nil)
	_, err := e.Enrich(context.Background(), validate.Request{})
	var ie *validate.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want a *validate.InputError", err)
	}
	got, err := e.Enrich(context.Background(), validate.Request{Email: "not an address", Phone: "12"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Gap{
		{Part: PartMail, Reason: GapInvalidInput},
		{Part: PartCompany, Reason: GapInvalidInput},
		{Part: PartPerson, Reason: GapInvalidInput},
		{Part: PartPhone, Reason: GapInvalidInput},
	}
	if diff := cmp.Diff(want, got.Missing, cmpIgnoreMessage); diff != "" {
		t.Errorf("gaps (-want +got):\n%s", diff)
	}
	if got.Mail != nil || got.Company != nil || got.Person != nil || got.Phone != nil {
		t.Errorf("got facts from invalid input: %+v", got)
	}
}

var cmpIgnoreMessage = cmp.Comparer(func(a, b Gap) bool { return a.Part == b.Part && a.Reason == b.Reason })

// TestRoleAccount: no name is guessed for info@.
func TestRoleAccount(t *testing.T) {
	t.Parallel()
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, Resolve: routes(t, nil)}, engine, lists, nil, nil)
	got, err := e.Enrich(context.Background(), validate.Request{Email: "info@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Person != nil || !got.Mail.Role {
		t.Errorf("got person %+v role %v, want no person and role=true", got.Person, got.Mail.Role)
	}
	if diff := cmp.Diff([]string{GapRoleAccount}, gapReasons(got, PartPerson)); diff != "" {
		t.Errorf("person gaps (-want +got):\n%s", diff)
	}
}

// TestCanceledCallerStartsNoFetch: a caller whose context is already done
// (a canceled bulk job) gets a timeout gap and leaves nothing running.
func TestCanceledCallerStartsNoFetch(t *testing.T) {
	t.Parallel()
	s := newSite(t, page(`<title>Acme</title>`))
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, Resolve: routes(t, map[string]string{"acme.test:80": s.addr()})}, engine, lists, nil, nil)
	res, err := engine.Validate(context.Background(), validate.Request{Email: "jane.doe@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := e.EnrichResult(ctx, validate.Request{}, res)
	if diff := cmp.Diff([]string{GapTimeout}, gapReasons(got, PartCompany)); diff != "" {
		t.Errorf("company gaps (-want +got):\n%s", diff)
	}
	if got.Mail == nil || got.Person == nil {
		t.Errorf("got %+v, want the CPU-only facts anyway", got)
	}
	if n := s.all.Load(); n != 0 {
		t.Errorf("the site got %d requests, want 0", n)
	}
}
