package bulk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/enrich"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// leadsCSV has one row per outcome, a ragged row and formula cells.
const leadsCSV = "Email,Phone,Country,Notes\r\n" +
	"jane@acme.test,+1 415 555 0100,US,first\r\n" +
	"joe@nullmx.test,,,\r\n" +
	"ann@implicit.test,020 7946 0958,GB,\"multi\nline\"\r\n" +
	"bob@nomail.test,,,\r\n" +
	"kim@missing.test,,,\r\n" +
	"lee@broken.test,,,\r\n" +
	"info@acme.test,,,\r\n" +
	"max@mailinator.com,,,\r\n" +
	"jane@gmial.com,,,\"=HYPERLINK(\"\"http://evil\"\")\"\r\n" +
	"not-an-email,,,@SUM(A1)\r\n" +
	",,,only notes\r\n" +
	"sue@acme.test,-5,US\r\n" +
	"tom@acme.test,+44 20 7946 0958,United Kingdom,x,extra\r\n"

func TestProcessCSV(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, nil)
		e.start()
		st := e.mustSubmit("caller-a", leadsCSV, Options{DefaultCountry: "gb"})
		if st.Status != StatusQueued || st.TotalRows != 13 || st.Format != "csv" || st.RaggedRows != 2 {
			t.Errorf("submitted: got %+v, want queued csv with 13 rows, 2 ragged", st)
		}
		if diff := cmp.Diff(map[string]string{"email": "Email", "phone": "Phone", "country": "Country"}, st.Columns); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
		done := e.wait("caller-a", st.ID)
		if done.Status != StatusCompleted || done.ProcessedRows != 13 || done.StartedAt == nil || done.FinishedAt == nil {
			t.Fatalf("got %+v, want completed with 13 rows and both timestamps", done)
		}

		engine := validate.NewEngine(e.lists, e.cfg.Domains)
		rows := parseNDJSON(t, e.download("caller-a", st.ID, FormatNDJSON, ""))
		if len(rows) != 13 {
			t.Fatalf("ndjson: got %d rows, want 13", len(rows))
		}
		var counts Counts
		for i, r := range rows {
			if r.Row != i+1 {
				t.Errorf("ndjson line %d: got row %d, want %d", i+1, r.Row, i+1)
			}
			req := validate.Request{Email: r.Record["Email"], Phone: r.Record["Phone"], Country: "GB"}
			if c := r.Record["Country"]; validate.KnownRegion(c) {
				req.Country = c
			}
			want, err := engine.Validate(context.Background(), req)
			got := r.Result.Verdict
			if err != nil {
				if got != validate.Invalid || r.Error == nil {
					t.Errorf("row %d: got %s %+v, want invalid with an error (%v)", r.Row, got, r.Error, err)
				}
			} else if got != want.Verdict || r.Result.Score != want.Score {
				t.Errorf("row %d (%v): got %s/%d, want %s/%d as the engine says", r.Row, req, got, r.Result.Score, want.Verdict, want.Score)
			}
			counts.add(got, 1)
		}
		if counts != done.Counts {
			t.Errorf("counts: got %+v in the status, want %+v from the rows", done.Counts, counts)
		}

		table := parseCSV(t, e.download("caller-a", st.ID, FormatCSV, ""))
		wantHeader := append([]string{"Email", "Phone", "Country", "Notes"}, resultColumns...)
		if diff := cmp.Diff(wantHeader, table[0]); diff != "" {
			t.Errorf("CSV header (-want +got):\n%s", diff)
		}
		if len(table) != 14 {
			t.Fatalf("CSV: got %d lines, want header + 13", len(table))
		}
		col := func(row []string, name string) string {
			return row[slices.Index(wantHeader, name)]
		}
		first := table[1]
		if col(first, "leadcheck_verdict") != "valid" || col(first, "leadcheck_phone_e164") != "'+14155550100" ||
			col(first, "Phone") != "'+1 415 555 0100" || col(first, "leadcheck_ragged") != "false" {
			t.Errorf("row 1: got %q", first)
		}
		if got := col(table[3], "Notes"); got != "multi\nline" {
			t.Errorf("quoted newline: got %q", got)
		}
		if got := col(table[9], "Notes"); got != `'=HYPERLINK("http://evil")` {
			t.Errorf("formula cell: got %q, want it neutralised", got)
		}
		if got := col(table[9], "leadcheck_did_you_mean"); got != "jane@gmail.com" {
			t.Errorf("did you mean: got %q", got)
		}
		if got := col(table[10], "Notes"); got != "'@SUM(A1)" {
			t.Errorf("@ cell: got %q", got)
		}
		if got := col(table[11], "leadcheck_reason"); got != "missing_field" || col(table[11], "leadcheck_verdict") != "invalid" {
			t.Errorf("row without lead values: got %q", table[11])
		}
		short := table[12] // "sue@acme.test,-5,US": ragged, padded
		if len(short) != len(wantHeader) || col(short, "Phone") != "'-5" || col(short, "leadcheck_ragged") != "true" {
			t.Errorf("short ragged row: got %q", short)
		}
		long := table[13] // one cell past the header, kept after the leadcheck columns
		if len(long) != len(wantHeader)+1 || long[len(long)-1] != "extra" || col(long, "leadcheck_ragged") != "true" {
			t.Errorf("long ragged row: got %q", long)
		}
		if got := col(long, "leadcheck_phone_e164"); got != "'+442079460958" {
			t.Errorf("country cell not a region code: got e164 %q, want the number read with its own prefix", got)
		}

		// The verdict filter keeps the rows in order.
		invalid := parseNDJSON(t, e.download("caller-a", st.ID, FormatNDJSON, "invalid"))
		if len(invalid) != counts.Invalid {
			t.Errorf("filter invalid: got %d rows, want %d", len(invalid), counts.Invalid)
		}
		for _, r := range invalid {
			if r.Result.Verdict != validate.Invalid {
				t.Errorf("filter invalid: got row %d with %s", r.Row, r.Result.Verdict)
			}
		}
		filtered := parseCSV(t, e.download("caller-a", st.ID, FormatCSV, "valid,risky"))
		if len(filtered) != 1+counts.Valid+counts.Risky {
			t.Errorf("filter valid,risky: got %d lines, want %d", len(filtered), 1+counts.Valid+counts.Risky)
		}
		for _, row := range filtered[1:] {
			if v := col(row, "leadcheck_verdict"); v != "valid" && v != "risky" {
				t.Errorf("filter valid,risky: got a %s row", v)
			}
		}
	})
}

func TestOtherFormats(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, nil)
		e.start()
		tests := []struct {
			name, body string
			opts       Options
			format     string
			verdicts   []validate.Verdict
		}{
			{"tsv", "email\tphone\njane@acme.test\t\nkim@missing.test\t\n", Options{}, "tsv", []validate.Verdict{validate.Valid, validate.Invalid}},
			{"semicolon", "E-mail;Mobile\njane@acme.test;+14155550100\n", Options{}, "csv", []validate.Verdict{validate.Valid}},
			{"txt", "jane@acme.test\njoe@nullmx.test\n", Options{}, "txt", []validate.Verdict{validate.Valid, validate.Invalid}},
			{"ndjson", `{"email":"jane@acme.test"}` + "\n" + `{"email":"lee@broken.test"}` + "\n", Options{}, "ndjson", []validate.Verdict{validate.Valid, validate.Unknown}},
			{"json", `[{"email":"max@mailinator.com"},{"email":"jane@acme.test"}]`, Options{}, "json", []validate.Verdict{validate.Risky, validate.Valid}},
			{"headerless by option", "jane@acme.test,x\nkim@missing.test,y\n", Options{HasHeader: "false", EmailColumn: "1"}, "csv", []validate.Verdict{validate.Valid, validate.Invalid}},
			{"domain column", "company,website\nAcme,acme.test\nNope,nomail.test\n", Options{DomainColumn: "website"}, "csv", []validate.Verdict{validate.Valid, validate.Invalid}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st := e.mustSubmit("", tt.body, tt.opts)
				if st.Format != tt.format {
					t.Errorf("format: got %q, want %q", st.Format, tt.format)
				}
				e.wait("", st.ID)
				var got []validate.Verdict
				for _, r := range parseNDJSON(t, e.download("", st.ID, FormatNDJSON, "")) {
					got = append(got, r.Result.Verdict)
				}
				if diff := cmp.Diff(tt.verdicts, got); diff != "" {
					t.Errorf("verdicts (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestDomainResolvedOncePerJob: 300 rows at one domain, asked while DNS is
// slow, cost one query per record type; A and AAAA are not asked, since
// the domain has MX records.
func TestDomainResolvedOncePerJob(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{Latency: 30 * time.Millisecond}, nil)
	e.run(e.svc)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 300 {
		fmt.Fprintf(&b, "person%d@acme.test\n", i)
	}
	st := e.mustSubmit("", b.String(), Options{})
	if got := e.wait("", st.ID); got.Counts.Valid != 300 {
		t.Fatalf("got %+v, want 300 valid", got.Counts)
	}
	for qtype, want := range map[uint16]int{dns.TypeMX: 1, dns.TypeTXT: 1, dns.TypeA: 0, dns.TypeAAAA: 0} {
		if n := e.dns.Queries("acme.test", qtype); n != want {
			t.Errorf("acme.test %s: got %d queries, want %d", dns.TypeToString[qtype], n, want)
		}
	}
}

// TestInputOrder: rows finish out of order (each domain answers after a
// different delay) but come out in input order.
func TestInputOrder(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		var zone strings.Builder
		zone.WriteString(testenv.MailZone)
		zone.WriteString("$ORIGIN order.\n@ 300 IN SOA ns.order. h.order. 1 3600 600 86400 60\n")
		var file strings.Builder
		file.WriteString("email\n")
		for i := range 200 {
			fmt.Fprintf(&zone, "d%d 300 IN MX 10 mx.d%d.order.\n", i, i)
			fmt.Fprintf(&file, "p%d@d%d.order\n", i, (i*37)%50)
		}
		e := newStoreEnv(t, kind, dnstest.Config{Zone: zone.String(), Latency: 5 * time.Millisecond}, func(c *Config) { c.Workers = 32 })
		e.start()
		st := e.mustSubmit("", file.String(), Options{})
		e.wait("", st.ID)
		rows := parseNDJSON(t, e.download("", st.ID, FormatNDJSON, ""))
		if len(rows) != 200 {
			t.Fatalf("got %d rows, want 200", len(rows))
		}
		for i, r := range rows {
			want := fmt.Sprintf("p%d@d%d.order", i, (i*37)%50)
			if r.Row != i+1 || r.Record["email"] != want || r.Result.Verdict != validate.Valid {
				t.Fatalf("position %d: got row %d %q %s, want row %d %q valid", i, r.Row, r.Record["email"], r.Result.Verdict, i+1, want)
			}
		}
	})
}

// TestResumeAfterCrash: a job stopped mid-way, whose results files then
// got bytes past the checkpoint (rows written but not checkpointed when the
// process died), resumes in a new Service and ends with every row exactly
// once.
func TestResumeAfterCrash(t *testing.T) {
	t.Parallel()
	var file strings.Builder
	file.WriteString("email,n\n")
	const rows = 400
	for i := range rows {
		fmt.Fprintf(&file, "p%d@acme.test,%d\n", i, i)
	}
	e := newTestEnv(t, dnstest.Config{}, func(c *Config) {
		c.Workers, c.ChunkRows = 2, 2
		c.Enricher = slowEnricher{delay: 2 * time.Millisecond}
	})
	st := e.mustSubmit("", file.String(), Options{Enrich: true})
	stop := e.run(e.svc)
	for {
		got, _ := e.svc.Get(context.Background(), "", st.ID)
		if got.ProcessedRows >= 40 {
			break
		}
		if got.Status.Final() {
			t.Fatalf("job ended before it could be stopped: %+v", got)
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	paused, _ := e.svc.Get(context.Background(), "", st.ID)
	if paused.Status != StatusRunning || paused.ProcessedRows >= rows {
		t.Fatalf("after shutdown: got %s with %d rows, want running and unfinished", paused.Status, paused.ProcessedRows)
	}
	// Rows past the checkpoint, as a crash would leave them.
	dir := filepath.Join(e.cfg.Dir, "jobs", st.ID)
	for _, name := range []string{resultsFile} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(`{"row":999999,"torn`); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	e.reopen()
	if got, _ := e.svc.Get(context.Background(), "", st.ID); got.Status != StatusRunning {
		t.Fatalf("reopened: got %s, want running", got.Status)
	}
	e.run(e.svc)
	done := e.wait("", st.ID)
	if done.Status != StatusCompleted || done.ProcessedRows != rows || done.Counts.Valid != rows {
		t.Fatalf("resumed: got %+v, want completed with %d valid rows", done, rows)
	}
	got := parseNDJSON(t, e.download("", st.ID, FormatNDJSON, ""))
	if len(got) != rows {
		t.Fatalf("got %d rows, want %d", len(got), rows)
	}
	for i, r := range got {
		if r.Row != i+1 || r.Record["n"] != strconv.Itoa(i) {
			t.Fatalf("position %d: got row %d n=%s", i, r.Row, r.Record["n"])
		}
	}
	table := parseCSV(t, e.download("", st.ID, FormatCSV, ""))
	if len(table) != rows+1 {
		t.Errorf("CSV: got %d lines, want %d", len(table), rows+1)
	}
	provider := slices.Index(table[0], "leadcheck_mail_provider")
	if provider < 0 || table[0][len(table[0])-1] != "leadcheck_phone_timezone" {
		t.Fatalf("CSV header lacks the enrichment columns: %q", table[0])
	}
	for i, row := range table[1:] {
		if row[1] != strconv.Itoa(i) || row[provider] != "acme-mx" {
			t.Fatalf("CSV line %d: got n=%s provider=%q", i+2, row[1], row[provider])
		}
	}
}

func TestCancelRunningJob(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		zone, file := testenv.ManyDomains(2000)
		e := newStoreEnv(t, kind, dnstest.Config{Zone: zone, Latency: 50 * time.Millisecond}, func(c *Config) { c.Workers = 4 })
		e.start()
		st := e.mustSubmit("me", file, Options{})
		for {
			got, _ := e.store.Get(context.Background(), "me", st.ID)
			if got.Status == StatusRunning && got.ProcessedRows > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		start := time.Now()
		if err := e.store.Delete(context.Background(), "me", st.ID); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("delete took %s, want it prompt", d)
		}
		got, err := e.store.Get(context.Background(), "me", st.ID)
		if err != nil || got.Status != StatusCanceled || got.FinishedAt == nil {
			t.Fatalf("after delete: got %+v %v, want canceled", got, err)
		}
		if left := e.dataLeft(st.ID); len(left) != 0 {
			t.Errorf("data left: %v, want only the record", left)
		}
		if _, err := e.store.Results(context.Background(), "me", st.ID, DownloadOptions{}); !isKind(err, KindConflict) {
			t.Errorf("results of a canceled job: got %v, want a conflict", err)
		}
		// Deleting it again forgets it.
		if err := e.store.Delete(context.Background(), "me", st.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Get(context.Background(), "me", st.ID); !isKind(err, KindNotFound) {
			t.Errorf("after second delete: got %v, want not found", err)
		}
		if files := e.jobsLeft(); len(files) != 0 {
			t.Errorf("job directories left: %v", files)
		}
	})
}

func TestCancelQueuedJob(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, nil)
		// No Run: the job stays queued.
		st := e.mustSubmit("me", "email\njane@acme.test\n", Options{})
		if err := e.store.Delete(context.Background(), "me", st.ID); err != nil {
			t.Fatal(err)
		}
		got, _ := e.store.Get(context.Background(), "me", st.ID)
		if got.Status != StatusCanceled {
			t.Errorf("got %s, want canceled", got.Status)
		}
		if left := e.dataLeft(st.ID); len(left) != 0 {
			t.Errorf("data left: %v, want only the record", left)
		}
		// A runner started later does not pick it up.
		e.start()
		time.Sleep(50 * time.Millisecond)
		if got, _ := e.store.Get(context.Background(), "me", st.ID); got.Status != StatusCanceled {
			t.Errorf("after Run: got %s, want canceled", got.Status)
		}
	})
}

func TestOwnership(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, nil)
		st := e.mustSubmit("alice", "email\njane@acme.test\n", Options{})
		ctx := context.Background()
		if _, err := e.store.Get(ctx, "bob", st.ID); !isKind(err, KindNotFound) {
			t.Errorf("get by another caller: got %v, want not found", err)
		}
		if err := e.store.Delete(ctx, "bob", st.ID); !isKind(err, KindNotFound) {
			t.Errorf("delete by another caller: got %v, want not found", err)
		}
		if _, err := e.store.Results(ctx, "bob", st.ID, DownloadOptions{}); !isKind(err, KindNotFound) {
			t.Errorf("results by another caller: got %v, want not found", err)
		}
		if page, _ := e.store.List(ctx, "bob", 0, ""); len(page.Jobs) != 0 {
			t.Errorf("list by another caller: got %d jobs, want 0", len(page.Jobs))
		}
		for _, id := range []string{"", "../etc", strings.Repeat("a", 32), "ZZ"} {
			if _, err := e.store.Get(ctx, "alice", id); !isKind(err, KindNotFound) {
				t.Errorf("get %q: got %v, want not found", id, err)
			}
		}
	})
}

func TestResultsConflict(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	st := e.mustSubmit("", "email,n\njane@acme.test,1\n", Options{})
	_, err := e.svc.Results(context.Background(), "", st.ID, DownloadOptions{})
	if !isKind(err, KindConflict) || !strings.Contains(err.Error(), "poll GET /v1/bulk/"+st.ID) {
		t.Errorf("queued job: got %v, want a conflict telling to poll", err)
	}
	// A job whose upload went bad after the check fails, and says why.
	up := filepath.Join(e.cfg.Dir, "jobs", st.ID, uploadFile)
	if err := os.WriteFile(up, []byte("email,n\n\"jane@acme.test,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.run(e.svc)
	done := e.wait("", st.ID)
	if done.Status != StatusFailed || done.Error == nil || *done.Error == "" {
		t.Fatalf("got %+v, want failed with an error", done)
	}
	_, err = e.svc.Results(context.Background(), "", st.ID, DownloadOptions{})
	if !isKind(err, KindConflict) || !strings.Contains(err.Error(), *done.Error) {
		t.Errorf("failed job: got %v, want a conflict with the job's error %q", err, *done.Error)
	}
	if files := e.jobFiles(st.ID); slices.Contains(files, resultsFile) {
		t.Errorf("a failed job kept its partial results: %v", files)
	}
	if _, err := e.svc.Results(context.Background(), "", st.ID, DownloadOptions{Format: "xml"}); !isKind(err, KindInvalid) {
		t.Errorf("format xml: got %v, want invalid", err)
	}
	if _, err := e.svc.Results(context.Background(), "", st.ID, DownloadOptions{Verdicts: "good"}); !isKind(err, KindInvalid) {
		t.Errorf("verdict good: got %v, want invalid", err)
	}
}

func TestSweepExpired(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		var now time.Time = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := &now
		e := newStoreEnv(t, kind, dnstest.Config{}, func(c *Config) {
			c.Retention = time.Hour
			c.Now = func() time.Time { return *clock }
		})
		st := e.mustSubmit("", "email\njane@acme.test\n", Options{})
		if want := now.Add(time.Hour); !st.ExpiresAt.Equal(want) {
			t.Errorf("expires_at: got %s, want %s", st.ExpiresAt, want)
		}
		e.sweep()
		if _, err := e.store.Get(context.Background(), "", st.ID); err != nil {
			t.Fatalf("swept too early: %v", err)
		}
		*clock = now.Add(time.Hour)
		e.sweep()
		if _, err := e.store.Get(context.Background(), "", st.ID); !isKind(err, KindNotFound) {
			t.Errorf("after retention: got %v, want not found", err)
		}
		if files := e.jobsLeft(); len(files) != 0 {
			t.Errorf("job directories left: %v", files)
		}
	})
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		n := 0
		e := newStoreEnv(t, kind, dnstest.Config{}, func(c *Config) {
			// Two jobs per instant, so ties are broken by id.
			c.Now = func() time.Time { return base.Add(time.Duration(n/2) * time.Second) }
		})
		var ids []string
		for range 7 {
			st := e.mustSubmit("me", "email\njane@acme.test\n", Options{})
			ids = append(ids, st.ID)
			n++
		}
		e.mustSubmit("other", "email\njane@acme.test\n", Options{})
		var seen []Status
		cursor := ""
		for pages := 0; ; pages++ {
			page, err := e.store.List(context.Background(), "me", 3, cursor)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Jobs) > 3 || pages > 5 {
				t.Fatalf("page %d: got %d jobs", pages, len(page.Jobs))
			}
			seen = append(seen, page.Jobs...)
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(seen) != 7 {
			t.Fatalf("got %d jobs over all pages, want 7", len(seen))
		}
		for i := 1; i < len(seen); i++ {
			a, b := seen[i-1], seen[i]
			if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID) {
				t.Errorf("not newest first at %d: %s %s then %s %s", i, a.CreatedAt, a.ID, b.CreatedAt, b.ID)
			}
		}
		var got []string
		for _, s := range seen {
			got = append(got, s.ID)
		}
		slices.Sort(got)
		slices.Sort(ids)
		if !slices.Equal(got, ids) {
			t.Errorf("ids: got %v, want %v", got, ids)
		}
		for _, bad := range []struct {
			limit  int
			cursor string
		}{{101, ""}, {-1, ""}, {10, "not-a-cursor"}, {10, encodeCursor(cursorPos{})[:5]}} {
			if _, err := e.store.List(context.Background(), "me", bad.limit, bad.cursor); !isKind(err, KindInvalid) {
				t.Errorf("limit %d cursor %q: got %v, want invalid", bad.limit, bad.cursor, err)
			}
		}
	})
}

func TestProgressAndETA(t *testing.T) {
	t.Parallel()
	var w etaWindow
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if eta := w.add(start, 0, 1000); eta != nil {
		t.Errorf("no rate yet: got %v, want nil", *eta)
	}
	// 100 rows/s for 20s: the ETA follows the recent rate.
	var eta *int64
	for s := 1; s <= 20; s++ {
		eta = w.add(start.Add(time.Duration(s)*time.Second), 100*s, 5000)
	}
	if eta == nil || *eta < 29 || *eta > 31 {
		t.Errorf("at 100 rows/s with 3000 left: got %v, want about 30s", eta)
	}
	// The rate doubles: within the window the ETA reflects it.
	for s := 21; s <= 32; s++ {
		eta = w.add(start.Add(time.Duration(s)*time.Second), 2000+200*(s-20), 5000)
	}
	if eta == nil || *eta > 4 || *eta < 2 {
		t.Errorf("at 200 rows/s with 600 left: got %v, want about 3s", eta)
	}
}

// TestETAColdStart replays a job whose first second is slow (cold
// domains) and the rest fast, sampled every 100 ms as the writer does: no
// ETA in the first seconds, then whole seconds never far above the time
// really left.
func TestETAColdStart(t *testing.T) {
	t.Parallel()
	const total = 100_000
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// rows done after ms milliseconds: 500 rows/s for 1 s, then 10,000/s.
	doneAt := func(ms int) int {
		if ms <= 1000 {
			return ms / 2
		}
		return min(500+(ms-1000)*10, total)
	}
	var end int
	for end = 0; doneAt(end) < total; end += 100 {
	}
	var w etaWindow
	got := 0
	for ms := 0; ms <= end; ms += 100 {
		eta := w.add(start.Add(time.Duration(ms)*time.Millisecond), doneAt(ms), total)
		if ms < int(etaWarmup/time.Millisecond) {
			if eta != nil {
				t.Errorf("at %d ms: got an ETA of %d s during the warm-up, want none", ms, *eta)
			}
			continue
		}
		if eta == nil {
			continue
		}
		got++
		left := float64(end-ms) / 1000
		if *eta < 0 || float64(*eta) > 2*left+1 {
			t.Errorf("at %d ms with %.1f s left: got an ETA of %d s", ms, left, *eta)
		}
	}
	if got == 0 {
		t.Errorf("no ETA over a %d ms job", end)
	}
}

// slowEnricher takes a while per row, so a job runs long enough to be
// stopped mid-way, and adds a mail provider so its columns can be checked.
type slowEnricher struct{ delay time.Duration }

func (s slowEnricher) EnrichResult(ctx context.Context, req validate.Request, res validate.Result) enrich.Enrichment {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
	}
	return enrich.Enrichment{Mail: &enrich.Mail{Provider: "acme-mx"}, Missing: []enrich.Gap{}}
}

func isKind(err error, k Kind) bool {
	var be *Error
	return errors.As(err, &be) && be.Kind == k
}
