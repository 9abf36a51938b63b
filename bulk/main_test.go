package bulk

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// TestMain fails the package when a test leaves a goroutine running: every
// worker, reader, dispatcher and timer of the service must stop with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testEnv is a service over a real DNS server on loopback and a temporary
// directory.
type testEnv struct {
	t     *testing.T
	dns   *dnstest.Server
	lists *validate.Lists
	cfg   Config
	svc   *Service // the local store; nil for the PostgreSQL one
	// store is the store under test: svc, or cl.
	store Store
	cl    *Cluster
	kind  string
}

// The kinds of store a test env builds (see eachStore).
const (
	storeLocal    = "local"
	storePostgres = "postgres"
)

// eachStore runs fn once per store, as parallel subtests: the contract
// both stores keep.
func eachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range []string{storeLocal, storePostgres} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

func newTestEnv(t *testing.T, dnsCfg dnstest.Config, mod func(*Config)) *testEnv {
	t.Helper()
	return newStoreEnv(t, storeLocal, dnsCfg, mod)
}

// newStoreEnv builds a test env over the store kind: the local store in a
// temporary directory, or the PostgreSQL store on a database of the test's
// own (with uploads received in a temporary directory).
func newStoreEnv(t *testing.T, kind string, dnsCfg dnstest.Config, mod func(*Config)) *testEnv {
	t.Helper()
	if dnsCfg.Behaviours == nil {
		dnsCfg.Behaviours = map[string]dnstest.Behaviour{"broken.test": dnstest.Servfail()}
	}
	fx := testenv.NewFixture(t, dnsCfg, 2*time.Second)
	cfg := Config{
		Dir:             t.TempDir(),
		Lists:           fx.Lists,
		Domains:         fx.Checker,
		Workers:         8,
		ChunkRows:       4,
		CheckpointEvery: 10 * time.Millisecond,
		WebhookBackoff:  20 * time.Millisecond,
		SweepEvery:      time.Hour,
		// broken.test fails for good: its rows are retried for this long.
		DNSRetryBudget:  200 * time.Millisecond,
		DNSRetryBackoff: 10 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	e := &testEnv{t: t, dns: fx.DNS, lists: fx.Lists, cfg: cfg, kind: kind}
	if kind == storePostgres {
		e.cl = e.openCluster(testenv.Postgres(t))
		e.store = e.cl
		return e
	}
	e.svc = e.open()
	e.store = e.svc
	return e
}

// openCluster opens a PostgreSQL store on url with the env's settings:
// chunks of 4 rows, so small files have several.
func (e *testEnv) openCluster(url string) *Cluster {
	e.t.Helper()
	cl, err := OpenCluster(context.Background(), ClusterConfig{
		Config:            e.cfg,
		DatabaseURL:       url,
		StoreChunkRows:    4,
		RescueAfter:       30 * time.Second,
		FetchPollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

// reopen opens the local store again over its directory, as a restart
// would (the PostgreSQL store: a second instance on the same database).
func (e *testEnv) reopen() {
	e.t.Helper()
	if e.cl != nil {
		e.cl = e.openCluster(e.cl.cfg.DatabaseURL)
		e.store = e.cl
		return
	}
	e.svc = e.open()
	e.store = e.svc
}

// start runs the store under test until the test ends.
func (e *testEnv) start() (stop func()) {
	e.t.Helper()
	return e.run(e.store)
}

// sweep runs the store's retention sweep once.
func (e *testEnv) sweep() {
	e.t.Helper()
	if e.cl != nil {
		if _, err := e.cl.Sweep(context.Background()); err != nil {
			e.t.Fatal(err)
		}
		return
	}
	e.svc.Sweep(context.Background())
}

// dataLeft reports what the store still holds of job id's rows: the files
// of its directory but its record, or its chunks.
func (e *testEnv) dataLeft(id string) []string {
	e.t.Helper()
	if e.cl == nil {
		var files []string
		for _, f := range e.jobFiles(id) {
			if f != recordFile {
				files = append(files, f)
			}
		}
		return files
	}
	return e.strings("SELECT 'chunk ' || seq FROM leadcheck_bulk_chunks WHERE job_id = $1 ORDER BY seq", id)
}

// jobsLeft lists the jobs the store holds anything of.
func (e *testEnv) jobsLeft() []string {
	e.t.Helper()
	if e.cl == nil {
		return dirEntries(e.t, filepath.Join(e.cfg.Dir, "jobs"))
	}
	return e.strings("SELECT id FROM leadcheck_bulk_jobs UNION SELECT job_id FROM leadcheck_bulk_chunks")
}

// strings runs a query of one text column on the PostgreSQL store.
func (e *testEnv) strings(sql string, args ...any) []string {
	e.t.Helper()
	rows, err := e.cl.pool.Query(context.Background(), sql, args...)
	if err != nil {
		e.t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// open opens a Service over the environment's directory.
func (e *testEnv) open() *Service {
	e.t.Helper()
	svc, err := Open(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// run starts svc.Run and returns a stop func that waits for it; the test's
// cleanup stops it too.
func (e *testEnv) run(svc Store) (stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Fatal("Run did not return within 10s of its context ending")
		}
	}
	e.t.Cleanup(stop)
	return stop
}

// submit uploads body as a file and submits it.
func (e *testEnv) submit(caller, body string, o Options) (Status, error) {
	e.t.Helper()
	up, err := e.store.StartUpload(caller)
	if err != nil {
		e.t.Fatal(err)
	}
	defer up.Discard()
	if _, err := up.ReadFrom(strings.NewReader(body)); err != nil {
		e.t.Fatal(err)
	}
	return e.store.Submit(context.Background(), caller, up, o)
}

func (e *testEnv) mustSubmit(caller, body string, o Options) Status {
	e.t.Helper()
	st, err := e.submit(caller, body, o)
	if err != nil {
		e.t.Fatalf("submit: %v", err)
	}
	return st
}

// wait polls until the job is final.
func (e *testEnv) wait(caller, id string) Status {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := e.store.Get(context.Background(), caller, id)
		if err != nil {
			e.t.Fatalf("get %s: %v", id, err)
		}
		if st.Status.Final() {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still %s after 30s (%d/%d rows)", id, st.Status, st.ProcessedRows, st.TotalRows)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// download returns a completed job's results.
func (e *testEnv) download(caller, id, format, verdicts string) string {
	e.t.Helper()
	d, err := e.store.Results(context.Background(), caller, id, DownloadOptions{Format: format, Verdicts: verdicts})
	if err != nil {
		e.t.Fatalf("results: %v", err)
	}
	defer d.Close()
	var b bytes.Buffer
	if _, err := d.WriteTo(&b); err != nil {
		e.t.Fatalf("write results: %v", err)
	}
	return b.String()
}

// ndjsonRow is the part of a results.ndjson line the tests read.
type ndjsonRow struct {
	Row    int               `json:"row"`
	Line   int               `json:"line"`
	Ragged bool              `json:"ragged"`
	Record map[string]string `json:"record"`
	Result validate.Result   `json:"result"`
	Error  *struct {
		Code, Field, Message string
	} `json:"error"`
}

func parseNDJSON(t *testing.T, s string) []ndjsonRow {
	t.Helper()
	var rows []ndjsonRow
	dec := json.NewDecoder(strings.NewReader(s))
	for {
		var r ndjsonRow
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			return rows
		} else if err != nil {
			t.Fatalf("results.ndjson: %v\n%s", err, s)
		}
		rows = append(rows, r)
	}
}

// parseCSV reads a CSV download, checking and dropping the BOM.
func parseCSV(t *testing.T, s string) [][]string {
	t.Helper()
	body, ok := strings.CutPrefix(s, utf8BOM)
	if !ok {
		t.Fatalf("CSV download does not start with a UTF-8 BOM: %q", s[:min(len(s), 20)])
	}
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("CSV download: %v\n%s", err, body)
	}
	return rows
}

// dirEntries lists a directory's names ("" entries when it is missing).
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func (e *testEnv) jobFiles(id string) []string {
	return dirEntries(e.t, filepath.Join(e.cfg.Dir, "jobs", id))
}
