package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/apitest"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

// The PostgreSQL store (LEADCHECK_DATABASE_URL) driven through real
// processes: several servers on one database and one Redis, killed with
// SIGKILL mid-job, started together on an empty database, and the database
// itself restarted under them. Every test reads the rows back and holds
// them to the input: each row exactly once, in input order.
//
// Chunks are small (clusterChunkRows) so a job has many, and the rescue
// horizon short (clusterRescueAfter) so that a dead instance's chunks come
// back soon. River's own clocks still set the pace after a kill: a new
// leader is elected once the dead one's term runs out (up to ~20s), and
// its rescuer runs at once and then every 30s; the waits below allow for
// both.

const (
	clusterChunkRows   = 50
	clusterRescueAfter = "3s"
	// clusterLatency is added to every DNS answer: a row costs one round
	// trip, so a job of some thousands of rows on as many domains runs for
	// several seconds.
	clusterLatency = 150 * time.Millisecond
	clusterKey     = "cluster-key"
	// clusterSecret signs the webhooks of every instance: each has its own
	// data directory, where a generated secret would differ.
	clusterSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	// webhookRescueHorizon is how long a webhook delivery runs before
	// River may hand it to another instance: the webhook worker's timeout
	// (the delivery's 15s, plus 10s), not LEADCHECK_BULK_RESCUE_AFTER.
	webhookRescueHorizon = 25 * time.Second
	// clusterWait bounds the wait for a job to complete after a kill or a
	// restart: leader election, the rescuer's interval, the retry.
	clusterWait = 80 * time.Second
)

// clusterLeads is a zone and an upload of n rows on a domain each, so that
// every row asks the DNS: most domains receive mail (valid), every tenth
// does not exist (invalid), every thirteenth row is a role address
// (risky), every seventeenth no address at all (invalid, no lookup).
func clusterLeads(n int) (zoneText, upload string, emails []string) {
	var z, f strings.Builder
	z.WriteString("$ORIGIN many.\n@ 300 IN SOA ns.many. h.many. 1 3600 600 86400 60\n")
	f.WriteString("email,n\n")
	for i := range n {
		fmt.Fprintf(&z, "d%d 300 IN MX 10 mx.d%d.many.\n", i, i)
		var email string
		switch {
		case i%17 == 16:
			email = fmt.Sprintf("not-an-address-%d", i)
		case i%13 == 12:
			email = fmt.Sprintf("info@d%d.many", i)
		case i%10 == 9:
			email = fmt.Sprintf("lead%d@gone%d.many", i, i)
		default:
			email = fmt.Sprintf("lead%d@d%d.many", i, i)
		}
		emails = append(emails, email)
		fmt.Fprintf(&f, "%s,%d\n", email, i)
	}
	return z.String(), f.String(), emails
}

// clusterFixture is what the instances of one test share: a database, a
// Redis key prefix, a DNS server answering the leads' zone with latency,
// and the settings every instance starts with.
type clusterFixture struct {
	t      *testing.T
	db     string
	env    map[string]string
	dns    *dnstest.Server
	upload string
	emails []string

	mu    sync.Mutex
	names []string
	procs []*process
	pool  *pgxpool.Pool
}

// newClusterFixture prepares instances on the database at db, for a job of
// rows rows.
func newClusterFixture(t *testing.T, db string, rows int) *clusterFixture {
	t.Helper()
	zoneText, upload, emails := clusterLeads(rows)
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zoneText, Latency: clusterLatency})
	redisURL, prefix := testenv.Redis(t)
	f := &clusterFixture{
		t:  t,
		db: db,
		env: map[string]string{
			"LEADCHECK_DNS":                    dnsSrv.Addr(),
			"LEADCHECK_DNS_TIMEOUT":            "5s", // slow answers on a loaded machine are not failures
			"LEADCHECK_DATABASE_URL":           db,
			"LEADCHECK_REDIS_URL":              redisURL,
			"LEADCHECK_CACHE_PREFIX":           prefix,
			"LEADCHECK_API_KEYS":               clusterKey,
			"LEADCHECK_DEFAULT_RATE":           "100000/s",
			"LEADCHECK_WEBHOOK_SECRET":         clusterSecret,
			"LEADCHECK_ALLOW_PRIVATE_NETWORKS": "true",
			"LEADCHECK_WEBHOOK_BACKOFF":        "200ms",
			"LEADCHECK_BULK_CHUNK_ROWS":        strconv.Itoa(clusterChunkRows),
			"LEADCHECK_BULK_RESCUE_AFTER":      clusterRescueAfter,
		},
		dns:    dnsSrv,
		upload: upload,
		emails: emails,
	}
	// Registered before any process starts, so it runs after they have
	// all been stopped and their logs are complete.
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, p := range f.procs {
			logs := p.logs.text()
			if strings.Contains(logs, "WARNING: DATA RACE") {
				t.Errorf("instance %s reported a data race:\n%s", f.names[i], logs)
			}
			// A killed instance or a restarting database is never a 500.
			for line := range strings.Lines(logs) {
				if strings.Contains(line, `"status":500`) {
					t.Errorf("instance %s answered 500: %s", f.names[i], line)
				}
			}
		}
	})
	return f
}

// launch starts an instance named name (for the logs) without waiting for
// it to listen.
func (f *clusterFixture) launch(name string) *process {
	f.t.Helper()
	p := launchProcess(f.t, f.env)
	f.mu.Lock()
	f.names = append(f.names, name)
	f.procs = append(f.procs, p)
	f.mu.Unlock()
	return p
}

// start starts instances and returns once every one listens; they start
// at the same moment.
func (f *clusterFixture) start(names ...string) []*process {
	f.t.Helper()
	ps := make([]*process, len(names))
	for i, n := range names {
		ps[i] = f.launch(n)
	}
	for _, p := range ps {
		p.waitListening(f.t)
	}
	return ps
}

// logs is the tail of every instance's log, for a failure message.
func (f *clusterFixture) logs() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for i, p := range f.procs {
		lines := strings.Split(p.logs.text(), "\n")
		if len(lines) > 120 {
			lines = lines[len(lines)-120:]
		}
		fmt.Fprintf(&b, "--- instance %s (last %d lines) ---\n%s\n", f.names[i], len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

// fatalf fails the test with the instances' logs.
func (f *clusterFixture) fatalf(format string, args ...any) {
	f.t.Helper()
	f.t.Fatalf(format+"\n%s", append(args, f.logs())...)
}

// client is a generated client on p with the cluster's key, whose requests
// and answers are held to openapi.yaml.
func (f *clusterFixture) client(p *process) *client.ClientWithResponses {
	f.t.Helper()
	c, err := client.NewClientWithResponses(p.base,
		client.WithHTTPClient(&http.Client{
			Transport: apitest.Transport{Reporter: f.t, CheckRequests: true},
			Timeout:   10 * time.Second,
		}),
		client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("X-API-Key", clusterKey)
			return nil
		}))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// dbPool is a pool on the test's database, for what only the tables show.
func (f *clusterFixture) dbPool() *pgxpool.Pool {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pool == nil {
		pool, err := pgxpool.New(context.Background(), f.db)
		if err != nil {
			f.t.Fatal(err)
		}
		f.t.Cleanup(pool.Close)
		f.pool = pool
	}
	return f.pool
}

// submit uploads the leads through c, with fields, and returns the job id.
func (f *clusterFixture) submit(c *client.ClientWithResponses, fields map[string]string) string {
	f.t.Helper()
	ct, body := multipartFile(f.t, f.upload, fields)
	created, err := c.CreateBulkJobWithBodyWithResponse(f.t.Context(), ct, body)
	if err != nil {
		f.fatalf("create: %v", err)
	}
	if created.JSON202 == nil {
		f.fatalf("create: got %d %s, want 202", created.StatusCode(), created.Body)
	}
	return created.JSON202.Id
}

// job reads job id through c; any answer but 200 fails the test.
func (f *clusterFixture) job(c *client.ClientWithResponses, id string) client.BulkJob {
	f.t.Helper()
	resp, err := c.GetBulkJobWithResponse(f.t.Context(), id)
	if err != nil || resp.JSON200 == nil {
		code, body := 0, []byte(nil)
		if resp != nil {
			code, body = resp.StatusCode(), resp.Body
		}
		f.fatalf("get job %s: %v %d %s", id, err, code, body)
	}
	return *resp.JSON200
}

// jobOrUnavailable is job, except that a 503 store_unavailable (the
// database is restarting) is not a failure but false.
func (f *clusterFixture) jobOrUnavailable(c *client.ClientWithResponses, id string) (client.BulkJob, bool) {
	f.t.Helper()
	resp, err := c.GetBulkJobWithResponse(f.t.Context(), id)
	if err == nil && resp.StatusCode() == http.StatusServiceUnavailable && resp.JSON503 != nil && resp.JSON503.Error.Code == "store_unavailable" {
		return client.BulkJob{}, false
	}
	if err != nil || resp.JSON200 == nil {
		code, body := 0, []byte(nil)
		if resp != nil {
			code, body = resp.StatusCode(), resp.Body
		}
		f.fatalf("get job %s: %v %d %s", id, err, code, body)
	}
	return *resp.JSON200, true
}

// waitJob polls job id through c every 50ms until done says so, failing
// the test after timeout or when the job fails or is canceled (unless
// done accepts that).
func (f *clusterFixture) waitJob(c *client.ClientWithResponses, id string, timeout time.Duration, what string, done func(client.BulkJob) bool) client.BulkJob {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		job, ok := f.jobOrUnavailable(c, id)
		if !ok {
			// The store is not answering (a database restart): ask again.
		} else if done(job) {
			return job
		}
		if job.Status == client.BulkStatusFailed || job.Status == client.BulkStatusCanceled {
			f.fatalf("waiting for %s: the job is %s (%v)", what, job.Status, job.Error)
		}
		if time.Now().After(deadline) {
			f.fatalf("waiting for %s: not within %s; job: %s with %d of %v rows", what, timeout, job.Status, job.ProcessedRows, job.TotalRows)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func completed(j client.BulkJob) bool { return j.Status == client.BulkStatusCompleted }

// progressed is a waitJob condition: at least n rows done, and the job
// still running. A job that completes first fails the test, since the
// test meant to act mid-job.
func (f *clusterFixture) progressed(n int) func(client.BulkJob) bool {
	return func(j client.BulkJob) bool {
		if j.Status == client.BulkStatusCompleted {
			f.fatalf("the job completed before the test could act mid-job; make it longer (rows or clusterLatency)")
		}
		return j.Status == client.BulkStatusRunning && j.ProcessedRows >= n
	}
}

// kill sends SIGKILL to p and waits for it to be gone.
func (f *clusterFixture) kill(p *process) {
	f.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		f.t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		f.fatalf("a killed instance did not exit within 10s")
	}
}

// resultRow is one NDJSON line of a download.
type resultRow struct {
	Row    int               `json:"row"`
	Record map[string]string `json:"record"`
	Result struct {
		Verdict string `json:"verdict"`
		Score   int    `json:"score"`
		Email   struct {
			Reason string `json:"reason"`
		} `json:"email"`
	} `json:"result"`
}

// download reads job id's results through c: format "csv" or "ndjson",
// verdict a filter or "".
func (f *clusterFixture) download(c *client.ClientWithResponses, id, format, verdict string) []byte {
	f.t.Helper()
	fm := client.GetBulkResultsParamsFormat(format)
	params := &client.GetBulkResultsParams{Format: &fm}
	if verdict != "" {
		params.Verdict = &verdict
	}
	res, err := c.GetBulkResultsWithResponse(f.t.Context(), id, params)
	if err != nil || res.StatusCode() != http.StatusOK {
		code, body := 0, []byte(nil)
		if res != nil {
			code, body = res.StatusCode(), res.Body
		}
		f.fatalf("results of %s (%s, verdict %q): %v %d %s", id, format, verdict, err, code, body)
	}
	return res.Body
}

// ndjsonRows decodes an NDJSON download.
func (f *clusterFixture) ndjsonRows(b []byte) []resultRow {
	f.t.Helper()
	var rows []resultRow
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var r resultRow
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			return rows
		} else if err != nil {
			f.t.Fatalf("NDJSON line %d: %v", len(rows)+1, err)
		}
		rows = append(rows, r)
	}
}

// checkRows holds a full NDJSON download to the input: every row exactly
// once, in input order, with its own record.
func (f *clusterFixture) checkRows(rows []resultRow) {
	f.t.Helper()
	if len(rows) != len(f.emails) {
		f.t.Errorf("got %d rows, want %d", len(rows), len(f.emails))
	}
	for i, r := range rows {
		if i >= len(f.emails) {
			break
		}
		if r.Row != i+1 || r.Record["n"] != strconv.Itoa(i) || r.Record["email"] != f.emails[i] {
			f.t.Fatalf("position %d: got row %d n=%s email=%s, want row %d n=%d email=%s", i, r.Row, r.Record["n"], r.Record["email"], i+1, i, f.emails[i])
		}
		if r.Result.Verdict == "" {
			f.t.Fatalf("row %d has no verdict", r.Row)
		}
	}
}

// checkCounts holds the job's counters to its rows.
func (f *clusterFixture) checkCounts(job client.BulkJob, rows []resultRow) {
	f.t.Helper()
	var want client.VerdictCounts
	for _, r := range rows {
		switch r.Result.Verdict {
		case "valid":
			want.Valid++
		case "invalid":
			want.Invalid++
		case "risky":
			want.Risky++
		case "unknown":
			want.Unknown++
		}
	}
	got := job.Counts
	got.CountryNeeded = 0
	if job.ProcessedRows != len(f.emails) || got != want {
		f.t.Errorf("job counters: got %d rows %+v, want %d rows %+v (the rows' verdicts)", job.ProcessedRows, job.Counts, len(f.emails), want)
	}
}

// checkCSV holds a CSV download to the NDJSON rows: the same rows (or
// those with a verdict in only, when not empty), in order, with the same
// verdict and score.
func (f *clusterFixture) checkCSV(b []byte, rows []resultRow, only ...string) {
	f.t.Helper()
	table, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil {
		f.t.Fatalf("CSV: %v", err)
	}
	if len(table) == 0 {
		f.t.Fatal("CSV: no header")
	}
	col := map[string]int{}
	for i, name := range table[0] {
		col[name] = i
	}
	for _, name := range []string{"email", "n", "leadcheck_verdict", "leadcheck_score"} {
		if _, ok := col[name]; !ok {
			f.t.Fatalf("CSV header %q lacks %s", table[0], name)
		}
	}
	var want []resultRow
	for _, r := range rows {
		if len(only) == 0 || slices.Contains(only, r.Result.Verdict) {
			want = append(want, r)
		}
	}
	if len(table)-1 != len(want) {
		f.t.Fatalf("CSV: got %d rows, want %d", len(table)-1, len(want))
	}
	for i, line := range table[1:] {
		w := want[i]
		if line[col["n"]] != w.Record["n"] || line[col["email"]] != w.Record["email"] ||
			line[col["leadcheck_verdict"]] != w.Result.Verdict || line[col["leadcheck_score"]] != strconv.Itoa(w.Result.Score) {
			f.t.Fatalf("CSV line %d: got n=%s %s %s score %s, want n=%s %s %s score %d", i+2,
				line[col["n"]], line[col["email"]], line[col["leadcheck_verdict"]], line[col["leadcheck_score"]],
				w.Record["n"], w.Record["email"], w.Result.Verdict, w.Result.Score)
		}
	}
}

// checkResults downloads a completed job through c in both formats and
// holds both to the input and the job's counters; it returns the rows.
func (f *clusterFixture) checkResults(c *client.ClientWithResponses, id string) []resultRow {
	f.t.Helper()
	job := f.job(c, id)
	if job.Status != client.BulkStatusCompleted {
		f.fatalf("job %s is %s, want completed", id, job.Status)
	}
	rows := f.ndjsonRows(f.download(c, id, "ndjson", ""))
	f.checkRows(rows)
	f.checkCounts(job, rows)
	f.checkCSV(f.download(c, id, "csv", ""), rows)
	return rows
}

// runningChunks returns the River jobs of job id's chunks that are
// running, by River job id, with the client (instance) that runs each.
func (f *clusterFixture) runningChunks(id string) map[int64]string {
	f.t.Helper()
	rows, err := f.dbPool().Query(f.t.Context(), `SELECT id, attempted_by[cardinality(attempted_by)] FROM river_job
		WHERE kind = 'leadcheck_bulk_chunk' AND state = 'running' AND args->>'job_id' = $1`, id)
	if err != nil {
		f.t.Fatalf("running chunks: %v", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var jobID int64
		var by string
		if err := rows.Scan(&jobID, &by); err != nil {
			f.t.Fatal(err)
		}
		out[jobID] = by
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// checkRedone asserts that the River jobs of chunks a dead instance was
// running were completed by another instance on a later attempt: dead is
// the dead instance's River client id, or "" when every instance died.
func (f *clusterFixture) checkRedone(stuck map[int64]string, dead string) {
	f.t.Helper()
	ids := slices.Collect(maps.Keys(stuck))
	rows, err := f.dbPool().Query(f.t.Context(), `SELECT id, state, attempt, attempted_by[cardinality(attempted_by)] FROM river_job WHERE id = ANY($1)`, ids)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var jobID int64
		var state, by string
		var attempt int
		if err := rows.Scan(&jobID, &state, &attempt, &by); err != nil {
			f.t.Fatal(err)
		}
		n++
		if state != "completed" || attempt < 2 || by == dead {
			f.t.Errorf("River job %d of a chunk the killed instance ran: got %s after %d attempts, last by %s; want completed by another instance", jobID, state, attempt, by)
		}
	}
	if n != len(ids) {
		f.t.Errorf("got %d of the %d River jobs of the killed instance's chunks", n, len(ids))
	}
}

// TestClusterThreeInstances: upload through A, watch it through B,
// download through C, and every row is what /v1/validate says of it.
func TestClusterThreeInstances(t *testing.T) {
	t.Parallel()
	const rows = 3000
	f := newClusterFixture(t, testenv.Postgres(t), rows)
	ps := f.start("A", "B", "C")
	a, b, c := f.client(ps[0]), f.client(ps[1]), f.client(ps[2])

	id := f.submit(a, map[string]string{"name": "three instances"})

	// B sees the progress the workers of all three make, with an ETA
	// whenever the job runs and some rows are done.
	var progress []int
	withETA, withoutETA := 0, 0
	job := f.waitJob(b, id, 60*time.Second, "the job to complete, polled through B", func(j client.BulkJob) bool {
		if j.Status == client.BulkStatusRunning && j.ProcessedRows > 0 {
			if j.EtaSeconds == nil {
				withoutETA++
			} else {
				withETA++
			}
			if len(progress) == 0 || progress[len(progress)-1] != j.ProcessedRows {
				progress = append(progress, j.ProcessedRows)
			}
		}
		return completed(j)
	})
	if !slices.IsSorted(progress) || len(progress) < 2 {
		t.Errorf("progress through B: got %v, want at least two growing values while it ran", progress)
	}
	if withETA == 0 || withoutETA > 0 {
		t.Errorf("ETA through B: present in %d polls of the running job, absent in %d; want it in every one", withETA, withoutETA)
	}
	if job.TotalRows == nil || *job.TotalRows != rows {
		t.Errorf("total rows: got %v, want %d", job.TotalRows, rows)
	}

	list, err := b.ListBulkJobsWithResponse(t.Context(), nil)
	if err != nil {
		f.fatalf("list through B: %v", err)
	}
	if list.JSON200 == nil {
		f.fatalf("list through B: got %d %s, want 200", list.StatusCode(), list.Body)
	}
	if !slices.ContainsFunc(list.JSON200.Jobs, func(j client.BulkJob) bool { return j.Id == id && j.Status == client.BulkStatusCompleted }) {
		t.Errorf("list through B: got %+v, want job %s completed", list.JSON200.Jobs, id)
	}

	got := f.checkResults(c, id)
	verdicts := map[string]int{}
	for _, r := range got {
		verdicts[r.Result.Verdict]++
	}
	for _, v := range []string{"valid", "invalid", "risky"} {
		if verdicts[v] == 0 {
			t.Errorf("verdicts: got %v, want some %s rows (the leads have them)", verdicts, v)
		}
	}

	// Filters: only the asked verdicts, still in order.
	filtered := f.ndjsonRows(f.download(c, id, "ndjson", "invalid,risky"))
	var want []resultRow
	for _, r := range got {
		if r.Result.Verdict == "invalid" || r.Result.Verdict == "risky" {
			want = append(want, r)
		}
	}
	if len(filtered) != len(want) {
		t.Errorf("NDJSON verdict=invalid,risky: got %d rows, want %d", len(filtered), len(want))
	}
	for i := range min(len(filtered), len(want)) {
		if filtered[i].Row != want[i].Row || filtered[i].Result.Verdict != want[i].Result.Verdict {
			t.Fatalf("NDJSON verdict=invalid,risky, position %d: got row %d %s, want row %d %s", i, filtered[i].Row, filtered[i].Result.Verdict, want[i].Row, want[i].Result.Verdict)
		}
	}
	f.checkCSV(f.download(c, id, "csv", "valid"), got, "valid")

	// Every row agrees with the real-time API of one of the instances. Its
	// DNS answers come from the cache the bulk workers filled, or from the
	// DNS again where the cache let a domain go (a busy machine opens the
	// Redis breaker): the same answers, with less of the latency that only
	// made the job last.
	f.dns.SetLatency(30 * time.Millisecond)
	f.compareWithValidate(ps[0].base, got)
}

// validated is what compareWithValidate reads of a /v1/validate answer.
type validated struct {
	Verdict string `json:"verdict"`
	Score   int    `json:"score"`
	Email   struct {
		Reason string `json:"reason"`
	} `json:"email"`
	body []byte
}

// compareWithValidate asks GET /v1/validate on base about every row's
// address and fails the test where the verdict or the score differs. A
// DNS timeout is the one outcome that may differ between two asks on a
// loaded machine: the real-time answer is asked again (its message says
// to), and a bulk row that timed out is logged, not failed. A plain
// client: the contract checks of the generated one cost more than the
// calls, and the contract of /v1/validate is tested elsewhere.
func (f *clusterFixture) compareWithValidate(base string, rows []resultRow) {
	f.t.Helper()
	type mismatch struct {
		row  int
		desc string
	}
	var mu sync.Mutex
	var bad []mismatch
	tolerated := 0
	var wg sync.WaitGroup
	next := make(chan resultRow)
	hc := &http.Client{Timeout: 10 * time.Second}
	for range 24 {
		wg.Go(func() {
			for r := range next {
				email := r.Record["email"]
				var v validated
				var err error
				for try := 0; try < 3; try++ {
					v, err = askValidate(f.t.Context(), hc, base, email)
					if err != nil || v.Verdict == r.Result.Verdict || v.Email.Reason != "dns_error" {
						break
					}
					time.Sleep(200 * time.Millisecond)
				}
				desc := ""
				switch {
				case err != nil:
					desc = err.Error()
				case v.Verdict == r.Result.Verdict && v.Score == r.Result.Score:
				case r.Result.Email.Reason == "dns_error":
					mu.Lock()
					tolerated++
					mu.Unlock()
				default:
					desc = fmt.Sprintf("bulk %s %d (%s), /v1/validate %s %d: %s", r.Result.Verdict, r.Result.Score, r.Result.Email.Reason, v.Verdict, v.Score, v.body)
				}
				if desc != "" {
					mu.Lock()
					bad = append(bad, mismatch{r.Row, email + ": " + desc})
					mu.Unlock()
				}
			}
		})
	}
	for _, r := range rows {
		next <- r
	}
	close(next)
	wg.Wait()
	if tolerated > 0 {
		f.t.Logf("%d rows timed out on the DNS in the job (a loaded machine) and differ from /v1/validate for that", tolerated)
	}
	slices.SortFunc(bad, func(x, y mismatch) int { return x.row - y.row })
	for i, m := range bad {
		if i == 10 {
			f.t.Errorf("... and %d more", len(bad)-10)
			break
		}
		f.t.Errorf("row %d differs from /v1/validate: %s", m.row, m.desc)
	}
}

// askValidate asks base's GET /v1/validate about email.
func askValidate(ctx context.Context, hc *http.Client, base, email string) (validated, error) {
	var v validated
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/validate?email="+url.QueryEscape(email), nil)
	if err != nil {
		return v, err
	}
	req.Header.Set("X-API-Key", clusterKey)
	resp, err := hc.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return v, err
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	v.body = body
	return v, json.Unmarshal(body, &v)
}

// TestClusterKillWorker: SIGKILL the instance that works the job's chunks;
// the chunks it held are redone by the others and the job completes with
// every row exactly once.
func TestClusterKillWorker(t *testing.T) {
	t.Parallel()
	const rows = 3000
	f := newClusterFixture(t, testenv.Postgres(t), rows)
	a := f.start("A")[0]
	ca := f.client(a)
	id := f.submit(ca, nil)

	// A alone, so the chunks running now are A's: that names A's River
	// client.
	f.waitJob(ca, id, 30*time.Second, "A to work some rows", f.progressed(100))
	var aClient string
	for _, by := range f.runningChunks(id) {
		aClient = by
	}
	if aClient == "" {
		f.fatalf("no chunk of job %s is running while A works it", id)
	}
	ps := f.start("B", "C")
	cb, cc := f.client(ps[0]), f.client(ps[1])
	f.waitJob(cb, id, 30*time.Second, "the job to run on", f.progressed(0))

	f.kill(a)
	stuck := f.runningChunks(id)
	maps.DeleteFunc(stuck, func(_ int64, by string) bool { return by != aClient })
	if len(stuck) == 0 {
		f.fatalf("A held no running chunk when it was killed; nothing tested")
	}
	if job := f.job(cb, id); job.Status != client.BulkStatusRunning {
		f.fatalf("after the kill: got %s, want the job still running", job.Status)
	}
	t.Logf("A died holding %d chunks", len(stuck))

	f.waitJob(cb, id, clusterWait, "the job to complete on B and C", completed)
	f.checkRedone(stuck, aClient)
	f.checkResults(cc, id)
}

// TestClusterKillAll: SIGKILL every instance mid-job, start one, and it
// completes the job.
func TestClusterKillAll(t *testing.T) {
	t.Parallel()
	const rows = 3000
	f := newClusterFixture(t, testenv.Postgres(t), rows)
	ps := f.start("A", "B")
	ca := f.client(ps[0])
	id := f.submit(ca, nil)
	f.waitJob(ca, id, 30*time.Second, "A and B to work some rows", f.progressed(100))
	f.kill(ps[0])
	f.kill(ps[1])
	stuck := f.runningChunks(id)
	if len(stuck) == 0 {
		f.fatalf("no chunk was running when both instances were killed; nothing tested")
	}

	cc := f.client(f.start("C")[0])
	if job := f.job(cc, id); job.Status != client.BulkStatusRunning || job.ProcessedRows >= rows {
		f.fatalf("after the kills: got %s with %d rows, want it running and unfinished", job.Status, job.ProcessedRows)
	}
	f.waitJob(cc, id, clusterWait, "the job to complete on C", completed)
	f.checkRedone(stuck, "")
	f.checkResults(cc, id)
}

// schemaVersions are the versions of bulk/schema's files.
func schemaVersions() ([]int, error) {
	names, err := filepath.Glob(filepath.Join("..", "..", "bulk", "schema", "*.sql"))
	if err != nil || len(names) == 0 {
		return nil, fmt.Errorf("bulk/schema: %d files, %v", len(names), err)
	}
	var versions []int
	for _, n := range names {
		num, _, _ := strings.Cut(filepath.Base(n), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("bulk/schema: %s: %w", n, err)
		}
		versions = append(versions, v)
	}
	slices.Sort(versions)
	return versions, nil
}

// leadcheckTables are the tables of our schema (not River's).
func (f *clusterFixture) leadcheckTables() []string {
	f.t.Helper()
	rows, err := f.dbPool().Query(f.t.Context(), "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'leadcheck\\_%' ORDER BY 1")
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			f.t.Fatal(err)
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		f.t.Fatal("no leadcheck_* tables")
	}
	return names
}

// rowsMentioning counts the rows of table whose text holds s.
func (f *clusterFixture) rowsMentioning(table, s string) int {
	f.t.Helper()
	var n int
	q := fmt.Sprintf("SELECT count(*) FROM %s t WHERE strpos(t::text, $1) > 0", table)
	if err := f.dbPool().QueryRow(f.t.Context(), q, s).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", table, err)
	}
	return n
}

// chunkRows counts job id's rows in leadcheck_bulk_chunks.
func (f *clusterFixture) chunkRows(id string) int {
	f.t.Helper()
	var n int
	if err := f.dbPool().QueryRow(f.t.Context(), "SELECT count(*) FROM leadcheck_bulk_chunks WHERE job_id = $1", id).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestClusterDeleteWhileWorking: DELETE through C cancels a job A and B
// are working: its chunks are gone at once, the chunks in flight store
// nothing when they end, and a second DELETE leaves no row of it.
func TestClusterDeleteWhileWorking(t *testing.T) {
	t.Parallel()
	const rows = 3000
	f := newClusterFixture(t, testenv.Postgres(t), rows)
	ps := f.start("A", "B", "C")
	ca, cb, cc := f.client(ps[0]), f.client(ps[1]), f.client(ps[2])
	id := f.submit(ca, nil)
	f.waitJob(cb, id, 30*time.Second, "some rows done", f.progressed(100))
	// Until chunks run on two instances or more at once.
	for deadline := time.Now().Add(20 * time.Second); ; {
		if workers := slices.Compact(slices.Sorted(maps.Values(f.runningChunks(id)))); len(workers) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			f.fatalf("the job's chunks never ran on two instances at once")
		}
		f.waitJob(cb, id, time.Second, "the job to go on", f.progressed(0))
		time.Sleep(20 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	del, err := cc.DeleteBulkJobWithResponse(ctx, id)
	if err != nil {
		f.fatalf("DELETE through C: %v; want 204 within 5s", err)
	}
	if del.StatusCode() != http.StatusNoContent {
		f.fatalf("DELETE through C: got %d %s, want 204", del.StatusCode(), del.Body)
	}
	canceled := f.job(ca, id)
	if canceled.Status != client.BulkStatusCanceled {
		f.fatalf("after DELETE: got %s, want canceled", canceled.Status)
	}
	if n := f.chunkRows(id); n != 0 {
		t.Fatalf("after DELETE: %d chunk rows of the job remain, want none", n)
	}

	// The chunks A and B (and C) were working end, and store nothing:
	// wait until River runs none of the job's chunks, and for a second
	// after that.
	deadline := time.Now().Add(20 * time.Second)
	var quietSince time.Time
	for quietSince.IsZero() || time.Since(quietSince) < time.Second {
		if n := f.chunkRows(id); n != 0 {
			f.fatalf("%d chunk rows of the canceled job were written back", n)
		}
		job := f.job(cb, id)
		if job.Status != client.BulkStatusCanceled || job.ProcessedRows != canceled.ProcessedRows || job.Counts != canceled.Counts {
			f.fatalf("the canceled job changed: got %s with %d rows %+v, want canceled with %d rows %+v",
				job.Status, job.ProcessedRows, job.Counts, canceled.ProcessedRows, canceled.Counts)
		}
		running := len(f.runningChunks(id))
		switch {
		case running > 0:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		}
		if time.Now().After(deadline) {
			f.fatalf("chunks of the canceled job still running after 20s: %d", running)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var waiting int
	if err := f.dbPool().QueryRow(t.Context(), `SELECT count(*) FROM river_job WHERE args->>'job_id' = $1
		AND state IN ('available', 'scheduled', 'retryable', 'pending', 'running')`, id).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	if waiting != 0 {
		t.Errorf("River still holds %d jobs of the canceled job to run", waiting)
	}

	del, err = cc.DeleteBulkJobWithResponse(t.Context(), id)
	if err != nil {
		f.fatalf("second DELETE: %v", err)
	}
	if del.StatusCode() != http.StatusNoContent {
		f.fatalf("second DELETE: got %d %s, want 204", del.StatusCode(), del.Body)
	}
	gone, err := ca.GetBulkJobWithResponse(t.Context(), id)
	if err != nil {
		f.fatalf("GET after the second DELETE: %v", err)
	}
	if gone.StatusCode() != http.StatusNotFound {
		f.fatalf("GET after the second DELETE: got %d %s, want 404", gone.StatusCode(), gone.Body)
	}
	for _, table := range f.leadcheckTables() {
		if n := f.rowsMentioning(table, id); n != 0 {
			t.Errorf("%s: %d rows of the deleted job remain", table, n)
		}
	}
}

// TestClusterPostgresRestart: the database restarts (immediate stop, then
// start on the same port and data) under two instances mid-job; they ride
// through, answering 503 store_unavailable meanwhile, and the job
// completes.
func TestClusterPostgresRestart(t *testing.T) {
	t.Parallel()
	const rows = 3000
	pg := testenv.PostgresServer(t, testenv.FreePort(t))
	f := newClusterFixture(t, pg.URL, rows)
	ps := f.start("A", "B")
	ca, cb := f.client(ps[0]), f.client(ps[1])
	id := f.submit(ca, nil)
	f.waitJob(ca, id, 30*time.Second, "some rows done", f.progressed(100))

	pg.Stop()
	// While it is down, a status read is a 503 the client may retry,
	// with the JSON error body, never a 500.
	unavailable := 0
	for _, c := range []*client.ClientWithResponses{ca, cb, ca, cb, ca, cb} {
		resp, err := c.GetBulkJobWithResponse(t.Context(), id)
		if err != nil {
			f.fatalf("GET while PostgreSQL is down: %v", err)
		}
		switch resp.StatusCode() {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			if resp.JSON503 == nil || resp.JSON503.Error.Code != "store_unavailable" {
				t.Errorf("GET while PostgreSQL is down: got 503 %s, want a JSON error store_unavailable", resp.Body)
			}
			if resp.HTTPResponse.Header.Get("Retry-After") == "" {
				t.Errorf("GET while PostgreSQL is down: 503 without Retry-After")
			}
			unavailable++
		default:
			f.fatalf("GET while PostgreSQL is down: got %d %s, want 503 store_unavailable", resp.StatusCode(), resp.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d of 6 reads while PostgreSQL was down answered 503", unavailable)
	pg.Start()

	f.waitJob(cb, id, clusterWait, "the job to complete after the restart", completed)
	f.checkResults(ca, id)
}

// TestClusterStartTogether: two instances started at the same moment on an
// empty database both migrate it (one after the other, under the lock),
// both become ready, and share the jobs.
func TestClusterStartTogether(t *testing.T) {
	t.Parallel()
	const rows = 300
	f := newClusterFixture(t, testenv.Postgres(t), rows)
	ps := f.start("A", "B")
	for i, p := range ps {
		ready, err := f.client(p).ReadyzWithResponse(t.Context())
		if err != nil {
			f.fatalf("instance %d /readyz: %v", i, err)
		}
		if ready.JSON200 == nil || ready.JSON200.Checks["postgres"] != "ok" {
			f.fatalf("instance %d /readyz: got %d %s, want 200 with postgres ok", i, ready.StatusCode(), ready.Body)
		}
	}
	ca, cb := f.client(ps[0]), f.client(ps[1])
	id := f.submit(ca, nil)
	f.waitJob(cb, id, 60*time.Second, "the job to complete, polled through B", completed)
	f.checkResults(cb, id)
	if job := f.job(ca, id); job.Status != client.BulkStatusCompleted {
		t.Errorf("through A: got %s, want completed", job.Status)
	}

	pool := f.dbPool()
	for _, table := range []string{"leadcheck_schema_migrations", "river_migration"} {
		var dup int
		if err := pool.QueryRow(t.Context(), fmt.Sprintf("SELECT count(*) FROM (SELECT version FROM %s GROUP BY version HAVING count(*) > 1) d", table)).Scan(&dup); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if dup != 0 {
			t.Errorf("%s: %d versions applied more than once", table, dup)
		}
	}
	var versions []int
	rs, err := pool.Query(t.Context(), "SELECT version FROM leadcheck_schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var v int
		if err := rs.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	rs.Close()
	files, err := schemaVersions()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(versions, files) {
		t.Errorf("leadcheck_schema_migrations: got versions %v, want %v (bulk/schema)", versions, files)
	}
	for _, table := range []string{"leadcheck_bulk_jobs", "leadcheck_bulk_chunks", "river_job"} {
		var exists bool
		if err := pool.QueryRow(t.Context(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil || !exists {
			t.Errorf("table %s: exists %v, %v", table, exists, err)
		}
	}
}

// hookReceiver counts webhook deliveries, by webhook-id and in all, and
// holds the first one until its sender goes away.
type hookReceiver struct {
	mu       sync.Mutex
	byID     map[string]int
	total    int
	answered int // deliveries answered 204 (not the held one)
	bodies   [][]byte
	headers  []http.Header
	first    chan struct{} // closed when the first delivery arrives
	firstAt  time.Time
	firstEnd chan struct{} // closed when the held delivery's sender is gone
}

func newHookReceiver(t *testing.T) (*hookReceiver, *httptest.Server) {
	h := &hookReceiver{byID: map[string]int{}, first: make(chan struct{}), firstEnd: make(chan struct{})}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.total++
	h.byID[r.Header.Get("webhook-id")]++
	h.bodies = append(h.bodies, body)
	h.headers = append(h.headers, r.Header.Clone())
	held := h.total == 1
	if held {
		h.firstAt = time.Now()
		close(h.first)
	}
	h.mu.Unlock()
	if held {
		// Never answered: the sender is killed while it waits.
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		close(h.firstEnd)
		return
	}
	w.WriteHeader(http.StatusNoContent)
	h.mu.Lock()
	h.answered++
	h.mu.Unlock()
}

// TestClusterWebhookAfterKill: the instance that completes the job's last
// chunk is killed while it delivers the webhook; another instance delivers
// it again after the rescue horizon, with the same webhook-id, so the
// receiver takes it exactly once.
func TestClusterWebhookAfterKill(t *testing.T) {
	t.Parallel()
	const rows = 500
	f := newClusterFixture(t, testenv.Postgres(t), rows)
	recv, rcvSrv := newHookReceiver(t)
	a := f.start("A")[0]
	ca := f.client(a)
	// A alone works every chunk, the last one included, and is the only
	// instance that can take the webhook.
	id := f.submit(ca, map[string]string{"webhook_url": rcvSrv.URL})
	select {
	case <-recv.first:
	case <-time.After(60 * time.Second):
		f.fatalf("no webhook delivery within 60s")
	}
	if job := f.job(ca, id); job.Status != client.BulkStatusCompleted {
		f.fatalf("at the first delivery: got %s, want completed", job.Status)
	}
	f.kill(a)
	select {
	case <-recv.firstEnd:
	case <-time.After(5 * time.Second):
		t.Error("the held delivery did not end with its sender")
	}

	// River rescues the delivery's job once it has run for the webhook
	// worker's timeout (webhookRescueHorizon), on its leader, at the
	// leader's start and then every 30s. B, started past that horizon,
	// becomes the leader at once (A's term has run out) and rescues the
	// job in its first round; started earlier, it would do the same up
	// to 30s later. The wait only shortens the test.
	recv.mu.Lock()
	due := recv.firstAt.Add(webhookRescueHorizon)
	recv.mu.Unlock()
	time.Sleep(time.Until(due))
	cb := f.client(f.start("B")[0])

	job := f.waitJob(cb, id, clusterWait, "the webhook to be delivered by B", func(j client.BulkJob) bool {
		return j.Webhook != nil && j.Webhook.Delivered != nil && *j.Webhook.Delivered
	})
	time.Sleep(time.Second) // a second delivery would show by now
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.byID) != 1 || recv.byID["msg_"+id] == 0 {
		t.Errorf("webhook-ids: got %v, want one, msg_%s", recv.byID, id)
	}
	if recv.answered != 1 || recv.total != 2 {
		t.Errorf("deliveries: got %d in all, %d answered; want 2 (the held one, then one more), 1 answered", recv.total, recv.answered)
	}
	if got := len(job.Webhook.Attempts); got != 1 {
		t.Errorf("recorded attempts: got %d, want 1 (the killed sender recorded none)", got)
	}
	verifier, err := standardwebhooks.NewWebhook(clusterSecret)
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range recv.bodies {
		if err := verifier.Verify(body, recv.headers[i]); err != nil {
			t.Errorf("delivery %d: signature: %v", i+1, err)
		}
		var ev struct {
			Type string `json:"type"`
			Data struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("delivery %d: %v: %s", i+1, err, body)
		}
		if ev.Type != "bulk.completed" || ev.Data.ID != id || ev.Data.Status != "completed" {
			t.Errorf("delivery %d: got %s of %s (%s), want bulk.completed of %s", i+1, ev.Type, ev.Data.ID, ev.Data.Status, id)
		}
	}
}
