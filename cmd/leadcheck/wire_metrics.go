package main

import (
	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/internal/metrics"
)

// registerJobMetrics exposes the bulk jobs by state, read at each scrape.
func (p *parts) registerJobMetrics() error {
	svc, ok := p.bulk.(*bulk.Service)
	if !ok || p.rec == nil {
		return nil
	}
	states := make([]string, len(bulk.JobStates))
	for i, s := range bulk.JobStates {
		states[i] = string(s)
	}
	return p.rec.JobsByState(states, func() map[string]int {
		out := map[string]int{}
		for s, n := range svc.JobCounts() {
			out[string(s)] = n
		}
		return out
	})
}

var _ bulk.Metrics = (*metrics.Recorder)(nil)
