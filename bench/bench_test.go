package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// TestQuickRun runs the whole suite in -quick mode, building and starting
// the real service, so CI proves the bench still works. It asserts that
// every scenario ran, never how fast anything was.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service for about a minute; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "bench.md")
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-quick", "-out", out, "-work", t.TempDir()}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run -quick: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range scenarioIDs {
		if !bytes.Contains(md, []byte("| "+id+" |")) {
			t.Errorf("report has no row for %s:\n%s", id, md)
		}
		if !strings.Contains(stdout.String(), "\n"+id+" ") {
			t.Errorf("printed table has no row for %s:\n%s", id, stdout.String())
		}
	}
	if bytes.Contains(md, []byte("| error |")) {
		t.Errorf("report has an errored scenario:\n%s", md)
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		quick   bool
		only    []string
		wantErr bool
	}{
		{"defaults", nil, false, nil, false},
		{"quick", []string{"-quick"}, true, nil, false},
		{"only", []string{"-only", "b1, B6"}, false, []string{"B1", "B6"}, false},
		{"cold-domain targets", []string{"-only", "b3c,B3R"}, false, []string{"B3c", "B3r"}, false},
		{"unknown target", []string{"-only", "B99"}, false, nil, true},
		{"bad env", []string{"-env", "NOEQUALS"}, false, nil, true},
		{"stray argument", []string{"now"}, false, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseOptions(tt.args, &bytes.Buffer{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseOptions(%q): got error %v, want error %v", tt.args, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if o.Quick != tt.quick {
				t.Errorf("Quick: got %v, want %v", o.Quick, tt.quick)
			}
			var only []string
			for _, id := range scenarioIDs {
				if o.Only[id] {
					only = append(only, id)
				}
			}
			if diff := cmp.Diff(tt.only, only); diff != "" {
				t.Errorf("Only (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSizesFitTheBudget keeps the sizes honest: the full suite must stay
// under 10 minutes on a 2-core machine, so its fixed-length parts must
// leave room for the bulk jobs.
func TestSizesFitTheBudget(t *testing.T) {
	t.Parallel()
	for name, s := range map[string]sizes{"full": fullSizes(), "quick": quickSizes()} {
		c := s.Capacity
		fixed := 2*s.Warmup + time.Duration(2*c.Rounds)*c.Burst + 2*c.LatencyRun
		limit := 3 * time.Minute
		if name == "quick" {
			limit = 15 * time.Second
		}
		if fixed > limit {
			t.Errorf("%s: B1 alone takes %v, want at most %v", name, fixed, limit)
		}
		if s.SubsetRows > s.BulkRows || s.CachedDomains > s.Domains && name == "full" {
			t.Errorf("%s: subset %d of %d rows, %d cached of %d domains: want subsets", name, s.SubsetRows, s.BulkRows, s.CachedDomains, s.Domains)
		}
	}
	if got := fullSizes(); got.BulkRows != 1_000_000 || got.SubsetRows != 100_000 || got.Domains != 20_000 {
		t.Errorf("full sizes: got %d rows, %d subset, %d domains; want 1,000,000, 100,000 and 20,000 as BENCHMARKS.md fixes",
			got.BulkRows, got.SubsetRows, got.Domains)
	}
}

func TestWriteLeadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files, err := writeLeadFiles(dir, 3000, 300, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	big := readCSV(t, files.Big.Path)
	small := readCSV(t, files.Small.Path)
	if got, want := len(big), 3001; got != want {
		t.Fatalf("big file: got %d records, want %d (header + rows)", got, want)
	}
	if diff := cmp.Diff(big[:301], small); diff != "" {
		t.Errorf("small file is not the first rows of the big one (-big +small):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"email", "phone", "name"}, big[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}

	again, err := writeLeadFiles(t.TempDir(), 3000, 300, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(big, readCSV(t, again.Big.Path)); diff != "" {
		t.Errorf("same seed gave different rows:\n%s", diff)
	}

	// The mix: most rows are good leads at the lead domains, every domain
	// is used, phones are mostly valid for the upload's default country.
	domains := map[string]bool{}
	var badSyntax, gone, validPhones, phones int
	for _, rec := range big[1:] {
		addr, err := validate.ParseAddress(rec[0])
		if err != nil {
			badSyntax++
			continue
		}
		if strings.HasPrefix(addr.ASCIIDomain, "gone") {
			gone++
			continue
		}
		domains[addr.ASCIIDomain] = true
		if rec[1] != "" {
			phones++
			if validate.ValidatePhone(rec[1], bulkDefaultCountry).Valid {
				validPhones++
			}
		}
	}
	if got := len(domains); got != 100 {
		t.Errorf("got %d distinct lead domains, want all 100", got)
	}
	if badSyntax < 20 || badSyntax > 120 {
		t.Errorf("got %d rows with bad syntax, want about 2%% of 3000", badSyntax)
	}
	if gone < 40 || gone > 150 {
		t.Errorf("got %d rows at missing domains, want about 3%% of 3000", gone)
	}
	if validPhones < phones*8/10 {
		t.Errorf("got %d valid phones of %d, want at least 80%%", validPhones, phones)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// TestZone loads the generated zone in the real DNS server and checks the
// answers each kind of domain gives through the service's own lookup.
func TestZone(t *testing.T) {
	t.Parallel()
	var zone strings.Builder
	if err := writeZone(&zone, 200, 10); err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, dnstest.Config{Zone: zone.String()})
	r, err := validate.NewDNSResolver([]string{srv.Addr()}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		domain                      string
		status                      validate.DNSStatus
		mx, nullMX, hasA, spf, dmrc bool
	}{
		{leadDomain(0), validate.DNSOK, true, false, true, true, true},
		{leadDomain(5), validate.DNSOK, true, false, true, true, false},
		{leadDomain(101), validate.DNSOK, true, true, false, false, false},
		{leadDomain(102), validate.DNSOK, false, false, true, false, false},
		{leadDomain(103), validate.DNSOK, false, false, false, true, false},
		{coldDomain(9), validate.DNSOK, true, false, true, true, false},
		{goneDomain(3), validate.DNSNXDomain, false, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			f := validate.LookupDomain(context.Background(), r, tt.domain)
			got := []bool{len(f.MX) > 0, f.NullMX, f.HasA, f.SPF.Found, f.DMARC.Found}
			want := []bool{tt.mx, tt.nullMX, tt.hasA, tt.spf, tt.dmrc}
			if f.Status != tt.status {
				t.Errorf("status: got %s (%s), want %s", f.Status, f.Error, tt.status)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("[mx nullMX hasA spf dmarc] (-want +got):\n%s", diff)
			}
		})
	}
	rtts, err := dnsRoundTrips(context.Background(), srv.Addr(), leadDomain(0), 3)
	if err != nil || len(rtts) != 3 {
		t.Errorf("dnsRoundTrips: got %v, %v; want 3 round trips", rtts, err)
	}
	if _, err := dnsRoundTrips(context.Background(), srv.Addr(), goneDomain(0), 1); err == nil {
		t.Errorf("dnsRoundTrips to a missing domain: got no error, want one")
	}
	// The subtests above run after this function returns; only the round
	// trips have been counted.
	if got := srv.Queries(leadDomain(0), dns.TypeMX); got != 3 {
		t.Errorf("MX queries for %s: got %d, want 3", leadDomain(0), got)
	}
}

func TestParseVmHWM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status string
		want   int64
		ok     bool
	}{
		{"linux", "Name:\tleadcheck\nVmPeak:\t 1234 kB\nVmHWM:\t   51234 kB\nVmRSS:\t 40000 kB\n", 51234 << 10, true},
		{"missing", "Name:\tleadcheck\nVmRSS:\t 40000 kB\n", 0, false},
		{"bad unit", "VmHWM:\t 12 MB\n", 0, false},
		{"not a number", "VmHWM:\t lots kB\n", 0, false},
		{"negative", "VmHWM:\t -5 kB\n", 0, false},
		{"no newline", "VmHWM: 7 kB", 7 << 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseVmHWM([]byte(tt.status))
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseVmHWM: got %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseVmHWM(f *testing.F) {
	f.Add([]byte("VmHWM:\t   51234 kB\n"))
	f.Add([]byte("Name:\tx\nVmHWM: 1 kB\nVmHWM: 2 kB\n"))
	f.Add([]byte("VmHWM:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := parseVmHWM(b)
		if !ok && n != 0 {
			t.Fatalf("parseVmHWM(%q) = %d, false; want 0 when not ok", b, n)
		}
		if ok && (n < 0 || n%1024 != 0 || !bytes.Contains(b, []byte("VmHWM:"))) {
			t.Fatalf("parseVmHWM(%q) = %d, true; want a whole number of KiB from a VmHWM line", b, n)
		}
	})
}

func TestParseBenchOutput(t *testing.T) {
	t.Parallel()
	out := `goos: linux
goarch: amd64
pkg: github.com/leadcheck/leadcheck/validate
cpu: Intel(R) Xeon(R) Processor
BenchmarkValidateEmailPhone-2   	   24482	     46939 ns/op	    8665 B/op	     136 allocs/op
BenchmarkLibraryFloor-2         	   39812	     40120.5 ns/op	    4797 B/op	      62 allocs/op
BenchmarkNoMem                  	   100	     12 ns/op
BenchmarkBroken-2 --- FAIL: something
PASS
ok  	github.com/leadcheck/leadcheck/validate	2.915s
`
	got, err := parseBenchOutput(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []benchStat{
		{Name: "BenchmarkValidateEmailPhone", NsPerOp: 46939, AllocsOp: 136},
		{Name: "BenchmarkLibraryFloor", NsPerOp: 40120.5, AllocsOp: 62},
		{Name: "BenchmarkNoMem", NsPerOp: 12, AllocsOp: -1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseBenchOutput (-want +got):\n%s", diff)
	}
	med, runs, allocs, ok := medianNs(append(got, benchStat{Name: "BenchmarkNoMem", NsPerOp: 20, AllocsOp: -1}), "BenchmarkNoMem")
	if !ok || med != 16 || len(runs) != 2 || allocs != -1 {
		t.Errorf("medianNs: got %v %v %v %v, want 16 over 2 runs", med, runs, allocs, ok)
	}
}

func FuzzParseBenchOutput(f *testing.F) {
	f.Add("BenchmarkA-2   100   12.5 ns/op   3 B/op   1 allocs/op\n")
	f.Add("BenchmarkA 1 NaN ns/op\nBenchmarkB-x 2 3 ns/op\n")
	f.Add("PASS\n")
	f.Fuzz(func(t *testing.T, s string) {
		stats, err := parseBenchOutput(strings.NewReader(s))
		if err != nil {
			return // a line longer than the scanner's buffer
		}
		for _, st := range stats {
			if !strings.HasPrefix(st.Name, "Benchmark") || st.NsPerOp < 0 || st.NsPerOp != st.NsPerOp {
				t.Fatalf("parseBenchOutput(%q): got %+v, want a named, non-negative ns/op", s, st)
			}
			if st.AllocsOp < 0 && st.AllocsOp != -1 {
				t.Fatalf("parseBenchOutput(%q): got allocs %v, want -1 or a count", s, st.AllocsOp)
			}
		}
	})
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	tb := newTailBuffer(8)
	for _, s := range []string{"abc", "defg", "hij"} {
		if _, err := tb.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := tb.String(), "cdefghij"; got != want {
		t.Errorf("after three writes: got %q, want %q", got, want)
	}
	_, _ = tb.Write([]byte("0123456789"))
	if got, want := tb.String(), "23456789"; got != want {
		t.Errorf("after a long write: got %q, want %q", got, want)
	}
}

func TestFormatting(t *testing.T) {
	t.Parallel()
	counts := map[int]string{0: "0", 999: "999", 1000: "1,000", 20000: "20,000", 1000000: "1,000,000"}
	for n, want := range counts {
		if got := count(n); got != want {
			t.Errorf("count(%d): got %q, want %q", n, got, want)
		}
	}
	if got, want := median([]time.Duration{3, 1, 2}), time.Duration(2); got != want {
		t.Errorf("median odd: got %v, want %v", got, want)
	}
	if got, want := medianFloat([]float64{4, 1, 3, 2}), 2.5; got != want {
		t.Errorf("medianFloat even: got %v, want %v", got, want)
	}
	if got, want := mdCell("a|b\nc"), `a\|b c`; got != want {
		t.Errorf("mdCell: got %q, want %q", got, want)
	}
}

func TestCheckValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantCached bool
		wantOK     bool
	}{
		{"cached ok", `{"verdict":"valid","cached":true,"email":{"dns":{"status":"ok"}}}`, true, true},
		{"uncached ok", `{"verdict":"valid","cached":false,"email":{"dns":{"status":"ok"}}}`, false, true},
		{"nxdomain is an answer", `{"verdict":"invalid","cached":false,"email":{"dns":{"status":"nxdomain"}}}`, false, true},
		{"not cached", `{"verdict":"valid","cached":false,"email":{"dns":{"status":"ok"}}}`, true, false},
		{"dns error", `{"verdict":"unknown","cached":false,"email":{"dns":{"status":"error"}}}`, false, false},
		{"no dns", `{"verdict":"invalid","cached":false,"email":{}}`, false, false},
		{"not json", `<html>`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := checkValidate([]byte(tt.body), tt.wantCached)
			if (msg == "") != tt.wantOK {
				t.Errorf("checkValidate: got %q, want ok=%v", msg, tt.wantOK)
			}
		})
	}
}

// TestDNSFloor: the floor client asks each domain's five questions of the
// fixture server and completes; how fast is not asserted.
func TestDNSFloor(t *testing.T) {
	t.Parallel()
	var zone strings.Builder
	if err := writeZone(&zone, 300, 0); err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, dnstest.Config{Zone: zone.String()})
	domains := append(leadDomains(300), goneDomain(1))
	run, err := dnsFloor(t.Context(), srv.Addr(), domains, 16)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := srv.TotalQueries(), 5*len(domains); got != want+run.Resent {
		t.Errorf("server saw %d questions, want %d (5 per domain) + %d resent", got, want, run.Resent)
	}
	for _, q := range floorQuestions {
		if n := srv.Queries(q.prefix+leadDomain(7), q.qtype); n < 1 {
			t.Errorf("%s%s %s not asked", q.prefix, leadDomain(7), dns.TypeToString[q.qtype])
		}
	}
}
