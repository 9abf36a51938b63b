package bulk

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// TestClusterChunkCompletionLocksTheJobFirst: a chunk that completes while
// another transaction holds its job's row (as Delete does while it cancels
// the job) waits without holding its chunk's row, so the canceler can
// delete the job's chunks at once. The other order deadlocked: DELETE
// through one instance answered 500 while another completed a chunk.
func TestClusterChunkCompletionLocksTheJobFirst(t *testing.T) {
	t.Parallel()
	const rows = 200
	var zone, body strings.Builder
	zone.WriteString("$ORIGIN lock.\n@ 300 IN SOA ns.lock. h.lock. 1 3600 600 86400 60\n")
	body.WriteString("email\n")
	for i := range rows {
		fmt.Fprintf(&zone, "d%d 300 IN MX 10 mx.d%d.lock.\n", i, i)
		fmt.Fprintf(&body, "lead%d@d%d.lock\n", i, i)
	}
	e := newStoreEnv(t, storePostgres, dnstest.Config{Zone: zone.String(), Latency: 50 * time.Millisecond}, nil)
	e.start()
	st := e.mustSubmit("k", body.String(), Options{})
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := e.store.Get(ctx, "k", st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == StatusRunning {
			break
		}
		if got.Status.Final() || time.Now().After(deadline) {
			t.Fatalf("got %s, want the job running", got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Hold the job's row, as Delete does, until a chunk waits on it.
	tx, err := e.cl.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM leadcheck_bulk_jobs WHERE id = $1 FOR UPDATE", st.ID); err != nil {
		t.Fatal(err)
	}
	for {
		var waiting int
		if err := e.cl.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%leadcheck_bulk_jobs%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no chunk came to complete within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Then delete the chunks, as Delete does next: no chunk row is held.
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '500ms'"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "DELETE FROM leadcheck_bulk_chunks WHERE job_id = $1", st.ID); err != nil {
		t.Fatalf("delete the chunks while a chunk completes: %v; want no wait (a waiting chunk holds no chunk row)", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// Rolled back: the job completes with every row.
	done := e.wait("k", st.ID)
	if done.Status != StatusCompleted || done.ProcessedRows != rows {
		t.Errorf("got %s with %d rows, want completed with %d", done.Status, done.ProcessedRows, rows)
	}
}
