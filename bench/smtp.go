package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/smtptest"
)

// B10: bulk mailbox verification. BENCHMARKS.md fixes 10,000 addresses
// over 100 domains at a loopback SMTP server that adds 20 ms per reply;
// the measure is SMTP connections opened ÷ domains.
const (
	targetB10      = 3.0
	smtpLatency    = 20 * time.Millisecond
	smtpRows       = 10_000
	smtpDomains    = 100
	smtpQuickRows  = 1_000
	smtpQuickDoms  = 20
	smtpJobTimeout = 5 * time.Minute
)

// smtpBulk runs B10 on a fresh server with LEADCHECK_SMTP=on, against its
// own DNS zone (each domain's MX on 127.0.0.1 under its own name, as
// separate companies' mail exchangers would be) and a go-smtp server on
// loopback where half of each domain's addresses exist.
func (b *bench) smtpBulk(ctx context.Context) outcome {
	rows, domains := smtpRows, smtpDomains
	if b.opts.Quick {
		rows, domains = smtpQuickRows, smtpQuickDoms
	}
	perDomain := rows / domains
	oc := outcome{ID: "B10",
		Measure: fmt.Sprintf("SMTP bulk %s addresses, %d domains, +20 ms per reply: connections ÷ domains", count(rows), domains),
		Target:  fmt.Sprintf("≤ %.0f", targetB10)}

	var zone strings.Builder
	zone.WriteString("$ORIGIN smtpbench.\n@ 300 IN SOA ns.smtpbench. h.smtpbench. 1 3600 600 86400 60\n")
	var mailboxes []string
	for d := range domains {
		fmt.Fprintf(&zone, "s%d 300 IN MX 10 mx.s%d.smtpbench.\nmx.s%d 300 IN A 127.0.0.1\n", d, d, d)
		for u := range perDomain / 2 {
			mailboxes = append(mailboxes, fmt.Sprintf("u%d@s%d.smtpbench", u, d))
		}
	}
	dnsSrv, err := dnstest.New(dnstest.Config{Zone: zone.String()})
	if err != nil {
		return oc.fail(fmt.Errorf("dns server: %w", err))
	}
	defer dnsSrv.Close()
	mx, err := smtptest.Start(smtptest.Config{Mailboxes: mailboxes, Latency: smtpLatency})
	if err != nil {
		return oc.fail(err)
	}
	defer mx.Close()

	// Rows interleave the domains, so that sharing sessions depends on
	// grouping, not on the file's order.
	path := filepath.Join(b.work, "smtp-leads.csv")
	if err := writeSMTPLeads(path, perDomain, domains); err != nil {
		return oc.fail(err)
	}
	defer func() {
		if !b.opts.Keep {
			_ = os.Remove(path)
		}
	}()

	b.starts++
	dataDir := filepath.Join(b.work, fmt.Sprintf("data-%02d-smtp", b.starts))
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return oc.fail(err)
	}
	p, addr, _, err := b.startAndWait(ctx, "smtp", b.server, []string{"serve"}, func(addr string) []string {
		env := b.serverEnv(addr, dataDir)
		for i, kv := range env {
			if strings.HasPrefix(kv, "LEADCHECK_DNS=") {
				env[i] = "LEADCHECK_DNS=" + dnsSrv.Addr()
			}
		}
		return append(env,
			"LEADCHECK_SMTP=on",
			fmt.Sprintf("LEADCHECK_SMTP_PORT=%d", mx.Port()),
			"LEADCHECK_SMTP_HELO=bench.leadcheck.test",
			"LEADCHECK_SMTP_FROM=bench@leadcheck.test",
			"LEADCHECK_ALLOW_PRIVATE_NETWORKS=true")
	})
	if err != nil {
		return oc.fail(err)
	}
	defer p.stop(stopGrace)
	c, err := client.NewClientWithResponses("http://"+addr, client.WithHTTPClient(&http.Client{}))
	if err != nil {
		return oc.fail(err)
	}

	b.logf("B10: job of %s addresses over %d domains, SMTP +%v per reply", count(rows), domains, smtpLatency)
	start := time.Now()
	body, contentType := multipartUpload(path, map[string]string{"name": "bench smtp", "email_column": "email", "smtp": "true"})
	defer body.Close()
	jctx, cancel := context.WithTimeout(ctx, smtpJobTimeout)
	defer cancel()
	created, err := c.CreateBulkJobWithBodyWithResponse(jctx, contentType, body)
	if err != nil {
		return oc.fail(fmt.Errorf("create bulk job: %w", err))
	}
	if created.JSON202 == nil {
		return oc.fail(fmt.Errorf("create bulk job: got %s: %.300s", created.Status(), created.Body))
	}
	id := created.JSON202.Id
	var job client.BulkJob
	for {
		st, err := c.GetBulkJobWithResponse(jctx, id)
		if err != nil || st.JSON200 == nil {
			return oc.fail(fmt.Errorf("bulk job %s status: %v", id, err))
		}
		job = *st.JSON200
		if job.Status == client.BulkStatusCompleted {
			break
		}
		if job.Status == client.BulkStatusFailed || job.Status == client.BulkStatusCanceled {
			return oc.fail(fmt.Errorf("bulk job %s ended %s", id, job.Status))
		}
		sleepCtx(jctx, b.opts.Sizes.BulkPoll)
		if jctx.Err() != nil {
			return oc.fail(fmt.Errorf("bulk job %s: not done in %v", id, smtpJobTimeout))
		}
	}
	n, err := countResultRows(jctx, c, id)
	if err != nil {
		return oc.fail(err)
	}
	wall := time.Since(start)
	if n != rows {
		return oc.fail(fmt.Errorf("got %d result rows, want %d", n, rows))
	}
	if job.Counts.Valid != rows/2 || job.Counts.Invalid != rows/2 {
		return oc.fail(fmt.Errorf("counts %+v, want %d valid and %d invalid (mailbox_not_found)", job.Counts, rows/2, rows/2))
	}
	if err := p.alive(); err != nil {
		return oc.fail(err)
	}
	sessions := mx.Sessions()
	rcpt := 0
	for _, r := range mx.RcptPerSession() {
		rcpt += r
	}
	ratio := float64(sessions) / float64(domains)
	oc.Raw = fmt.Sprintf("%d connections for %d domains; %d RCPT TO (%d addresses + %d catch-all probes); wall %v (%.0f rows/s)",
		sessions, domains, rcpt, rows, rcpt-rows, wall.Round(time.Millisecond), float64(rows)/wall.Seconds())
	oc.Value = fmt.Sprintf("%.2f", ratio)
	oc.Met = yesNo(ratio <= targetB10 && mx.DataCommands() == 0)
	oc.Details = append(oc.Details,
		"Clock: from the start of the upload (field smtp=true) to the last row of the CSV results.",
		fmt.Sprintf("The fixture SMTP server adds %v before every reply; half of each domain's addresses exist (250), the rest answer 550 5.1.1; DATA commands seen: %d.", smtpLatency, mx.DataCommands()),
		"Floor for the wall time: each domain needs about one reply per address plus a handful per session, so ≈ (addresses per domain + 6) × 20 ms per domain, domains in parallel up to LEADCHECK_BULK_WORKERS.")
	return oc
}

// writeSMTPLeads writes perDomain addresses at each of domains, domain
// by domain interleaved: u0@s0, u0@s1, ..., u1@s0, ...
func writeSMTPLeads(path string, perDomain, domains int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString("email\n")
	for u := range perDomain {
		for d := range domains {
			fmt.Fprintf(w, "u%d@s%d.smtpbench\n", u, d)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
