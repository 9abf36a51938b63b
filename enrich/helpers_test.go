package enrich

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// testLists loads the embedded lists once per test binary; they are
// read-only.
var testLists = sync.OnceValues(func() (*validate.Lists, error) {
	return validate.LoadLists(validate.ListsConfig{})
})

// newEngine starts a fixture DNS server with zone and returns an engine
// that asks it.
func newEngine(t *testing.T, zone string, behaviours map[string]dnstest.Behaviour) (*validate.Engine, *validate.Lists) {
	t.Helper()
	srv := dnstest.Start(t, dnstest.Config{Zone: zone, Behaviours: behaviours})
	resolver, err := validate.NewDNSResolver([]string{srv.Addr()}, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := testLists()
	if err != nil {
		t.Fatal(err)
	}
	return validate.NewEngine(lists, validate.DNSChecker{Resolver: resolver}), lists
}

// siteZone is a zone where every name in domains receives mail at its own
// MX, so validation passes and enrichment goes on to the web site.
func siteZone(domains ...string) string {
	var b strings.Builder
	b.WriteString("$ORIGIN test.\n@ 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n")
	for _, d := range domains {
		label := strings.TrimSuffix(d, ".test")
		b.WriteString(label + " 300 IN MX 10 mx." + d + ".\n")
	}
	b.WriteString(`$ORIGIN com.
@ 300 IN SOA ns.com. hostmaster.com. 1 3600 600 86400 60
gmail 300 IN MX 5 gmail-smtp-in.l.google.com.
mailinator 300 IN MX 10 mail.mailinator.com.
`)
	return b.String()
}

// routes maps "host:port" to a dial address; anything unmapped goes to a
// closed port, so no test ever reaches the system resolver or the network.
func routes(t *testing.T, m map[string]string) func(string) string {
	closed := testenv.ClosedAddr(t)
	return func(hostport string) string {
		if a, ok := m[hostport]; ok {
			return a
		}
		return closed
	}
}

// site is a local web site that counts requests per path.
type site struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string]int
	uas  []string
	all  atomic.Int64
}

func newSite(t *testing.T, h http.HandlerFunc) *site {
	t.Helper()
	s := &site{hits: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.uas = append(s.uas, r.UserAgent())
		s.mu.Unlock()
		s.all.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *site) addr() string { return s.srv.Listener.Addr().String() }

func (s *site) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// page serves body as an HTML page.
func page(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(body))
	}
}

// held wraps h so that every request waits until release is called (or
// its client gives up), letting a test pile callers up behind one fetch.
func held(h http.HandlerFunc) (_ http.HandlerFunc, release func()) {
	ch := make(chan struct{})
	var once sync.Once
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
		h(w, r)
	}, func() { once.Do(func() { close(ch) }) }
}

// fixedClock is the injected clock of the phone tests.
func fixedClock() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) }

// gapReasons lists the reasons of the gaps of one part.
func gapReasons(e Enrichment, part string) []string {
	var out []string
	for _, g := range e.Missing {
		if g.Part == part {
			out = append(out, g.Reason)
		}
	}
	return out
}
