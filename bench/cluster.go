package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/leadcheck/leadcheck/client"
)

// targetB8 is B8's bound: the B3 job on two instances over PostgreSQL and
// Redis may take this many times as long as on one with the local store.
const targetB8 = 1.25

// clusterRedisURL is the Redis of the cluster runs when -redis-url is not
// given: the local one, on a database of its own that the run empties.
const clusterRedisURL = "redis://127.0.0.1:6379/13"

func (b *bench) wantsCluster() bool {
	return b.wants("B8") || b.wants("B3p") || b.wants("B4p") || b.wants("B5p")
}

// clusterBulk runs the PostgreSQL store: B8 (the B3 file on two instances
// sharing PostgreSQL and Redis, upload through one, polled and downloaded
// through the other, ÷ the local store's B3 wall time), and B3p, B4p, B5p
// (B3-B5 on one instance over PostgreSQL, each job on a fresh database).
func (b *bench) clusterBulk(ctx context.Context) []outcome {
	s := b.opts.Sizes
	b8 := outcome{ID: "B8", Measure: fmt.Sprintf("bulk %s rows on 2 instances over PostgreSQL and Redis ÷ 1 instance, local store: wall time", count(s.BulkRows)),
		Target: fmt.Sprintf("≤ %.2f", targetB8)}
	b3 := outcome{ID: "B3p", Measure: "B3 on the PostgreSQL store, 1 instance: rows/s; peak RSS",
		Target: fmt.Sprintf("≥ %s rows/s; ≤ %s", count(targetB3Rows), mb(targetB3RSS))}
	b4 := outcome{ID: "B4p", Measure: "B4 on the PostgreSQL store", Target: fmt.Sprintf("≤ %.1f", targetB4)}
	b5 := outcome{ID: "B5p", Measure: "B5 on the PostgreSQL store", Target: fmt.Sprintf("≤ %.2f", targetB5)}
	all := func(err error) []outcome { return []outcome{b8.fail(err), b3.fail(err), b4.fail(err), b5.fail(err)} }
	if b.files == nil || b.big.Wall == 0 {
		return all(errors.New("needs the local store's B3 run (it did not complete)"))
	}
	var out []outcome
	if b.wants("B8") {
		run, err := b.clusterJob(ctx, "b8", b.files.Big, 2)
		if err != nil {
			out = append(out, b8.fail(err))
		} else {
			ratio := run.Wall.Seconds() / b.big.Wall.Seconds()
			b8.Value = fmt.Sprintf("%.2f", ratio)
			b8.Raw = fmt.Sprintf("2 instances %v (%.0f rows/s, peak RSS %s the larger); 1 instance, local store %v",
				run.Wall.Round(time.Millisecond), run.RowsPerS, mb(run.PeakRSS), b.big.Wall.Round(time.Millisecond))
			b8.Met = yesNo(!run.TimedOut && ratio <= targetB8)
			b8.Details = append(b8.Details, "Uploaded through the first instance, polled and downloaded through the second; both work chunks. Clock as B3's.",
				"The two instances, PostgreSQL, Redis, the DNS server and the client share this machine's cores: the ratio measures the store's overhead, not a second machine's gain.")
			out = append(out, b8)
		}
	}
	if b.wants("B3p") || b.wants("B4p") || b.wants("B5p") {
		small, err := b.clusterJob(ctx, "b5p", b.files.Small, 1)
		if err != nil {
			return append(out, b3.fail(err), b4.fail(err), b5.fail(err))
		}
		b5 = b.bulkB5(b5, small, b.naive)
		big, err := b.clusterJob(ctx, "b3p", b.files.Big, 1)
		if err != nil {
			return append(out, b3.fail(err), b4.fail(err), b5)
		}
		b3.Raw = big.String()
		b3.Value = fmt.Sprintf("%.0f rows/s; %s", big.RowsPerS, mb(big.PeakRSS))
		b3.Met = yesNo(!big.TimedOut && big.RowsPerS >= targetB3Rows && big.PeakRSS <= targetB3RSS)
		ratio := float64(big.PeakRSS) / float64(small.PeakRSS)
		b4.Raw = fmt.Sprintf("%s at %s rows, %s at %s rows", mb(big.PeakRSS), count(s.BulkRows), mb(small.PeakRSS), count(s.SubsetRows))
		b4.Value = fmt.Sprintf("%.2f", ratio)
		b4.Met = yesNo(!big.TimedOut && ratio <= targetB4)
		out = append(out, b3, b4, b5)
	}
	return out
}

// clusterJob runs one job of file on n fresh instances sharing a fresh
// PostgreSQL database and an emptied Redis database; the peak RSS is the
// largest instance's.
func (b *bench) clusterJob(ctx context.Context, name string, file dataset, n int) (bulkRun, error) {
	dbURL, drop, err := b.freshDatabase(ctx, name)
	if err != nil {
		return bulkRun{}, err
	}
	defer drop()
	redisURL := b.opts.RedisURL
	if redisURL == "" {
		redisURL = clusterRedisURL
	}
	prefix := fmt.Sprintf("leadcheck-bench-%d-%s:", os.Getpid(), name)
	defer clearRedisPrefix(redisURL, prefix)
	var procs []*proc
	var clients []*client.ClientWithResponses
	defer func() {
		for _, p := range procs {
			_ = p.stop(stopGrace)
		}
	}()
	for i := range n {
		b.starts++
		dataDir := filepath.Join(b.work, fmt.Sprintf("data-%02d-%s-%d", b.starts, name, i))
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return bulkRun{}, err
		}
		p, addr, _, err := b.startAndWait(ctx, name+"-"+strconv.Itoa(i), b.server, []string{"serve"}, func(addr string) []string {
			return append(b.serverEnv(addr, dataDir),
				"LEADCHECK_DATABASE_URL="+dbURL,
				"LEADCHECK_REDIS_URL="+redisURL,
				"LEADCHECK_CACHE_PREFIX="+prefix)
		})
		if err != nil {
			return bulkRun{}, err
		}
		procs = append(procs, p)
		c, err := client.NewClientWithResponses("http://"+addr, client.WithHTTPClient(&http.Client{}))
		if err != nil {
			return bulkRun{}, err
		}
		clients = append(clients, c)
	}
	b.logf("bulk: job of %s rows on %d instance(s) over PostgreSQL", count(file.Rows), n)
	run, err := runBulkOn(ctx, clients[0], clients[n-1], clients[n-1], file, b.opts.Sizes.BulkPoll, b.opts.Sizes.BulkTimeout)
	if err != nil {
		return run, err
	}
	for _, p := range procs {
		if err := p.alive(); err != nil {
			return run, err
		}
		peak, err := p.peakRSS()
		if err != nil {
			return run, err
		}
		run.PeakRSS = max(run.PeakRSS, peak)
	}
	b.logf("bulk: %v", run)
	return run, nil
}

// freshDatabase creates a database of its own on -database-url and returns
// its URL and the func that drops it.
func (b *bench) freshDatabase(ctx context.Context, name string) (string, func(), error) {
	admin := b.opts.DatabaseURL
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at -database-url: %w (start one, or pass -database-url)", err)
	}
	defer conn.Close(context.Background())
	db := fmt.Sprintf("leadcheck_bench_%d_%s", os.Getpid(), name)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", nil, err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create the bench database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + db
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			b.logf("drop database %s: %v", db, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
			b.logf("drop database %s: %v", db, err)
		}
	}
	return u.String(), drop, nil
}

// clearRedisPrefix deletes what a cluster run left in Redis.
func clearRedisPrefix(redisURL, prefix string) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
}
