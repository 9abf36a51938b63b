package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// targetB9 is B9's bound: cached validate p99 during four bomb uploads ÷
// the same p99 with no upload.
const targetB9 = 3.0

// b9Sizes are B9's knobs: the rate and length of each latency run.
func (b *bench) b9Sizes() (rate float64, run time.Duration) {
	if b.opts.Quick {
		return 500, time.Second
	}
	return 2000, 5 * time.Second
}

// bombFile is B9's upload: about 1 MB of gzip that expands to 1 GiB of
// newlines (1,024 gzip members of 1 MiB each, which gzip readers take as
// one stream).
func bombFile() ([]byte, error) {
	var member bytes.Buffer
	zw, err := gzip.NewWriterLevel(&member, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(append([]byte("email\n"), bytes.Repeat([]byte{'\n'}, 1<<20)...)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return bytes.Repeat(member.Bytes(), 1024), nil
}

// bombForm is the bomb as a multipart body, built once so the uploading
// clients cost the bench process (which also measures) next to nothing.
func bombForm(bomb []byte) (contentType string, body []byte, err error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", "leads.csv.gz")
	if err != nil {
		return "", nil, err
	}
	if _, err := fw.Write(bomb); err != nil {
		return "", nil, err
	}
	if err := mw.Close(); err != nil {
		return "", nil, err
	}
	return mw.FormDataContentType(), b.Bytes(), nil
}

// uploadBomb posts the bomb's form and returns the status.
func uploadBomb(ctx context.Context, hc *http.Client, base, contentType string, form []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/bulk", bytes.NewReader(form))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// isolation is B9: the p99 of cached GET /v1/validate at a constant rate,
// first with nothing else running, then while four clients upload the
// bomb over and over (each upload is refused once its expansion shows,
// and sent again at once, so the attack lasts the whole run).
func (b *bench) isolation(ctx context.Context) outcome {
	oc := outcome{ID: "B9", Measure: "cached validate p99 while four 1 MB gzip bombs (1 GiB each) upload ÷ idle p99", Target: fmt.Sprintf("≤ %.0f", targetB9)}
	b.dns.SetLatency(0)
	bomb, err := bombFile()
	if err != nil {
		return oc.fail(err)
	}
	contentType, form, err := bombForm(bomb)
	if err != nil {
		return oc.fail(err)
	}
	vp, vaddr, _, err := b.startServer(ctx, "b9")
	if err != nil {
		return oc.fail(err)
	}
	defer vp.stop(stopGrace)
	base := "http://" + vaddr
	domains := min(b.opts.Sizes.CachedDomains, b.opts.Sizes.Domains)
	urls := make([]string, 0, 10*domains)
	for i := range 10 * domains {
		email := fmt.Sprintf("%s%d@%s", firstNames[i%len(firstNames)], i, leadDomain(i%domains))
		urls = append(urls, base+"/v1/validate?email="+url.QueryEscape(email))
	}
	if err := warmCache(ctx, urls[:domains]); err != nil {
		return oc.fail(err)
	}
	rate, dur := b.b9Sizes()
	hc := loadClient(validateTimeout, 256)
	defer hc.CloseIdleConnections()
	spec := attackSpec{Rate: rate, Duration: dur, MaxWorkers: 256}
	_ = attack(ctx, hc, roundRobin(urls), attackSpec{Rate: rate, Duration: dur / 2, MaxWorkers: 256}, nil) // warm-up
	idle := attack(ctx, hc, roundRobin(urls), spec, nil)
	if errCount(idle) > 0 || idle.Success < 1 {
		return oc.fail(fmt.Errorf("idle run: %v", idle))
	}

	upCtx, stopUploads := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var uploads, refused atomic.Int64
	var upErr atomic.Value
	upClient := &http.Client{Timeout: time.Minute}
	for range 4 {
		wg.Go(func() {
			for upCtx.Err() == nil {
				code, err := uploadBomb(upCtx, upClient, base, contentType, form)
				if err != nil {
					if upCtx.Err() == nil {
						upErr.Store(err)
					}
					return
				}
				uploads.Add(1)
				if code == http.StatusBadRequest {
					refused.Add(1)
				}
			}
		})
	}
	// Let the four uploads get going before measuring.
	sleepCtx(ctx, 200*time.Millisecond)
	loaded := attack(ctx, hc, roundRobin(urls), spec, nil)
	stopUploads()
	wg.Wait()
	if err, _ := upErr.Load().(error); err != nil {
		return oc.fail(fmt.Errorf("bomb upload: %w", err))
	}
	if errCount(loaded) > 0 || loaded.Success < 1 {
		return oc.fail(fmt.Errorf("run under bombs: %v", loaded))
	}
	peak, err := finish(vp)
	if err != nil {
		return oc.fail(err)
	}
	ratio := float64(loaded.P99) / float64(max(idle.P99, time.Microsecond))
	oc.Raw = fmt.Sprintf("p99 idle %v, during bombs %v (p50 %v → %v) at %.0f/s for %v each; %d bomb uploads during the run, %d refused with 400; peak RSS %s",
		ms(idle.P99), ms(loaded.P99), ms(idle.P50), ms(loaded.P50), rate, dur, uploads.Load(), refused.Load(), mb(peak))
	oc.Value = fmt.Sprintf("%.2f", ratio)
	oc.Met = yesNo(ratio <= targetB9)
	oc.Details = append(oc.Details,
		fmt.Sprintf("One fresh server; %d cached URLs over %d domains; an open-model constant rate of %.0f req/s for %v with nothing else running, then the same rate while four clients upload a %s gzip that expands to 1 GiB of newlines, each sending it again as soon as it is answered. "+
			"The bombs are refused by the expansion-ratio cap after a few MB of decompression; ingest scans and job rows run in LEADCHECK_BULK_CPU_SLOTS slots, below the core count.",
			len(urls), domains, rate, dur, mb(int64(len(bomb)))),
		"latency idle: "+idle.String(), "latency during bombs: "+loaded.String())
	return oc
}
