package bulk

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// wideFile is the amplifier: rows of cols columns whose header names are
// nameLen bytes long; only the first column holds a value.
func wideFile(rows, cols, nameLen int) []byte {
	var b bytes.Buffer
	for i := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		if i == 0 {
			b.WriteString("email")
			continue
		}
		fmt.Fprintf(&b, "%0*d", nameLen, i)
	}
	b.WriteByte('\n')
	for i := range rows {
		fmt.Fprintf(&b, "u%d@acme.test", i)
		b.WriteString(strings.Repeat(",", cols-1))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestAmplifierRefused: the file of the attack (thousands of columns with
// long names, gzipped to a few KB) is refused with a 400-kind error that
// names the limit, the line and the setting, and leaves nothing behind.
func TestAmplifierRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	for _, tc := range []struct {
		name    string
		body    []byte
		code    string
		setting string
	}{
		{"4900 columns of 200-byte names", gzipBytes(t, wideFile(1000, 4900, 200)), "too_many_columns", "LEADCHECK_BULK_MAX_COLUMNS"},
		{"900 columns of 200-byte names", gzipBytes(t, wideFile(100, 900, 200)), "header_too_long", "LEADCHECK_BULK_MAX_HEADER_BYTES"},
		{"a 100 KB cell", []byte("email,note\na@acme.test,x\nb@acme.test," + strings.Repeat("n", 100<<10) + "\n"), "field_too_long", "LEADCHECK_BULK_MAX_CELL_BYTES"},
		{"a 2 MB row", []byte("email,note\na@acme.test,x\nb@acme.test" + strings.Repeat(",nnnnnnnnn", 200<<10) + "\n"), "record_too_long", "LEADCHECK_BULK_MAX_RECORD_BYTES"},
		{"json with 1001 keys", jsonKeys(1001), "too_many_columns", "LEADCHECK_BULK_MAX_COLUMNS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.submit("", string(tc.body), Options{})
			var be *Error
			if !errors.As(err, &be) || be.Kind != KindInvalid || be.Code != tc.code {
				t.Fatalf("got %v, want a %s refusal", err, tc.code)
			}
			if !strings.Contains(be.Message, tc.setting) || !strings.Contains(be.Message, "line ") || !strings.Contains(be.Message, "limit") {
				t.Errorf("message %q does not name the line, the limit and %s", be.Message, tc.setting)
			}
		})
	}
	for _, dir := range []string{"tmp", "jobs"} {
		if left := dirEntries(t, filepath.Join(e.cfg.Dir, dir)); len(left) != 0 {
			t.Errorf("%s: left behind %v", dir, left)
		}
	}
}

func jsonKeys(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"email":"a@acme.test"`)
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":""`, i)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// TestRowOutputBounded: a file at the limits (as many columns, as long
// names as allowed) is accepted, and each row's results stay within its
// own bytes plus the header's plus a fixed allowance for the verdict.
func TestRowOutputBounded(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, func(c *Config) { c.MaxColumns = 200; c.MaxHeaderBytes = 8 << 10 })
		e.start()
		// 200 columns of 40-byte names: 8 KB of header, at the limit.
		body := wideFile(20, 200, 40)
		header := bytes.IndexByte(body, '\n') + 1
		st := e.mustSubmit("", string(body), Options{})
		e.wait("", st.ID)
		const verdictAllowance = 4 << 10
		rowBytes := (len(body) - header) / 20
		for _, format := range []string{FormatCSV, FormatNDJSON} {
			out := e.download("", st.ID, format, "")
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			for i, l := range lines[min(1, len(lines)):] {
				if format == FormatCSV && i == 0 {
					continue
				}
				if limit := rowBytes + header + verdictAllowance; len(l) > limit {
					t.Errorf("%s row %d: %d bytes of output for a %d-byte row and a %d-byte header", format, i, len(l), rowBytes, header)
				}
			}
		}
		// The job directory as a whole is bounded the same way.
		var total int64
		_ = filepath.Walk(filepath.Join(e.cfg.Dir, "jobs", st.ID), func(_ string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				total += fi.Size()
			}
			return nil
		})
		if limit := int64(len(body) + 2*20*(rowBytes+header+verdictAllowance)); total > limit {
			t.Errorf("job directory holds %d bytes for a %d-byte upload, want at most %d", total, len(body), limit)
		}
	})
}

// TestNewlineBombRefused: about 1 MB of gzip holding 1 GiB of newlines is
// a 400-kind refusal naming the expansion limit and its setting, found
// while streaming (the ingest test bounds the bytes read), with no job and
// no file left.
func TestNewlineBombRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	member := gzipBytes(t, append([]byte("email\n"), bytes.Repeat([]byte{'\n'}, 1<<20)...))
	bomb := bytes.Repeat(member, 1024)
	_, err := e.submit("", string(bomb), Options{})
	var be *Error
	if !errors.As(err, &be) || be.Kind != KindInvalid || be.Code != "too_large" || !strings.Contains(be.Message, "LEADCHECK_BULK_MAX_EXPANSION_RATIO") {
		t.Fatalf("got %v, want too_large naming LEADCHECK_BULK_MAX_EXPANSION_RATIO", err)
	}
	for _, dir := range []string{"tmp", "jobs"} {
		if left := dirEntries(t, filepath.Join(e.cfg.Dir, dir)); len(left) != 0 {
			t.Errorf("%s: left behind %v", dir, left)
		}
	}
}

// TestStartupManyJobs: start-up loads only the small job records, whatever
// the jobs' headers: 10,000 stored jobs whose header files are 1 MB each
// (sparse, and not even JSON, so reading one would fail the job's load)
// open with little memory, and every job is served. A record written
// before the header had its own file is split on the way.
func TestStartupManyJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 job directories")
	}
	e := newTestEnv(t, dnstest.Config{}, nil)
	stop := e.run(e.svc)
	wide := "email," + strings.Repeat("x", 1000) + "\na@acme.test,1\n"
	st := e.mustSubmit("owner", wide, Options{})
	e.wait("owner", st.ID)
	stop()
	jobs := filepath.Join(e.cfg.Dir, "jobs")
	recBytes, err := os.ReadFile(filepath.Join(jobs, st.ID, recordFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recBytes) > 4<<10 {
		t.Errorf("job.json is %d bytes for a job with a 1 KB header, want it small", len(recBytes))
	}
	const n = 10_000
	for i := range n {
		id := fmt.Sprintf("%032x", i+1)
		dir := filepath.Join(jobs, id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		rec := bytes.Replace(recBytes, []byte(st.ID), []byte(id), 1)
		if err := os.WriteFile(filepath.Join(dir, recordFile), rec, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(createFile(t, filepath.Join(dir, headerFile)), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	// One record of the old shape, header inside.
	old := filepath.Join(jobs, fmt.Sprintf("%032x", n+1))
	if err := os.Mkdir(old, 0o700); err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(recBytes, &r); err != nil {
		t.Fatal(err)
	}
	r.ID, r.ColumnNames = filepath.Base(old), nil
	r.Layout.Header = []string{"email", strings.Repeat("x", 1000)}
	ob, _ := json.Marshal(r)
	if err := os.WriteFile(filepath.Join(old, recordFile), ob, 0o600); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	svc := e.open()
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("opened %d jobs in %v, heap grew by %d KB", n+2, took, grew>>10)
	if limit := int64(40 << 20); grew > limit {
		t.Errorf("heap grew by %d bytes to hold %d jobs, want under %d", grew, n+2, limit)
	}
	page, err := svc.List(context.Background(), "owner", 100, "")
	if err != nil || len(page.Jobs) != 100 || page.NextCursor == "" {
		t.Fatalf("list: %v, %d jobs", err, len(page.Jobs))
	}
	got, err := svc.Get(context.Background(), "owner", filepath.Base(old))
	if err != nil || got.Columns["email"] != "email" {
		t.Errorf("old-shaped job: got %+v, %v", got, err)
	}
	if b, _ := os.ReadFile(filepath.Join(old, recordFile)); bytes.Contains(b, []byte(strings.Repeat("x", 1000))) {
		t.Errorf("the old record still holds its header after Open")
	}
	runtime.KeepAlive(svc)
}

func createFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

// endlessRecord is a records body whose second record never ends: a value
// of n bytes is streamed without being held anywhere.
type endlessRecord struct {
	prefix []byte
	left   int64
	read   int64
}

func (r *endlessRecord) Read(p []byte) (int, error) {
	n := copy(p, r.prefix)
	r.prefix = r.prefix[n:]
	for n < len(p) && r.left > 0 {
		p[n] = 'x'
		n++
		r.left--
	}
	r.read += int64(n)
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// TestRecordsBodyStreamed: a JSON body with a 300 MB record is refused as
// soon as the record passes the record limit, having read little more
// than the limit, so memory stays flat; the refusal names the record.
func TestRecordsBodyStreamed(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, func(c *Config) { c.MaxRecordBytes = 64 << 10 })
		up, err := e.store.StartUpload("")
		if err != nil {
			t.Fatal(err)
		}
		defer up.Discard()
		body := &endlessRecord{prefix: []byte(`{"records": [{"email": "a@acme.test"}, {"email": "b@acme.test", "note": "`), left: 300 << 20}
		_, err = up.ReadRecords(body)
		var be *Error
		if !errors.As(err, &be) || be.Code != "record_too_long" || be.Field != "records[1]" || !strings.Contains(be.Message, "LEADCHECK_BULK_MAX_RECORD_BYTES") {
			t.Fatalf("got %v, want record_too_long for records[1]", err)
		}
		if body.read > 256<<10 {
			t.Errorf("read %d bytes of the body before refusing a record past 64 KiB", body.read)
		}
	})
}

// overlapChecker records how many lookups are in flight at once.
type overlapChecker struct {
	next          validate.DomainChecker
	mu            sync.Mutex
	now, maxSoFar int
}

func (o *overlapChecker) CheckDomain(ctx context.Context, d string) (validate.DomainFacts, bool) {
	o.mu.Lock()
	o.now++
	o.maxSoFar = max(o.maxSoFar, o.now)
	o.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // a slow resolver, so lookups overlap
	defer func() {
		o.mu.Lock()
		o.now--
		o.mu.Unlock()
	}()
	return o.next.CheckDomain(ctx, d)
}

// TestCPUSlotsFreeDuringLookups: with one CPU slot for all bulk work, rows
// still wait on DNS side by side (a row gives its slot back while it
// waits), and the job completes; the slot count is what bounds the CPU.
func TestCPUSlotsFreeDuringLookups(t *testing.T) {
	t.Parallel()
	var oc *overlapChecker
	e := newTestEnv(t, dnstest.Config{}, func(c *Config) {
		c.CPUSlots = 1
		oc = &overlapChecker{next: c.Domains}
		c.Domains = oc
	})
	e.run(e.svc)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 40 {
		fmt.Fprintf(&b, "u%d@d%d.acme.test\n", i, i)
	}
	st := e.mustSubmit("", b.String(), Options{})
	if got := e.wait("", st.ID); got.Status != StatusCompleted || got.ProcessedRows != 40 {
		t.Fatalf("got %+v", got)
	}
	if cap(e.svc.cpu.slots) != 1 {
		t.Fatalf("cpu slots: %d", cap(e.svc.cpu.slots))
	}
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if oc.maxSoFar < 2 {
		t.Errorf("at most %d lookup in flight with 8 workers and one CPU slot: lookups hold the slot", oc.maxSoFar)
	}
}
