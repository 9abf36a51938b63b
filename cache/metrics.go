package cache

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counter is one event count, kept both as a plain number for Stats and as a
// Prometheus counter for /metrics, so tests need no scraping.
type counter struct {
	n    atomic.Uint64
	prom prometheus.Counter
}

func (c *counter) inc() {
	c.n.Add(1)
	c.prom.Inc()
}

// metrics holds every counter of one Domains.
type metrics struct {
	localHit, localMiss              counter
	redisHit, redisMiss, redisError  counter
	redisWriteError, loads           counter
	requests                         *prometheus.CounterVec
	loadsTotal, redisWriteErrorsProm prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadcheck_cache_requests_total",
			Help: "Cache lookups of domain facts by tier (local, redis) and result (hit, miss, error).",
		}, []string{"tier", "result"}),
		loadsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leadcheck_cache_loads_total",
			Help: "Domain facts loaded from live DNS because no tier had them (after coalescing).",
		}),
		redisWriteErrorsProm: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leadcheck_cache_redis_write_errors_total",
			Help: "Failed writes of domain facts to Redis; the facts stay in the local tier.",
		}),
	}
	// Creating every series up front makes them visible at zero, so a rate()
	// over a series that has not happened yet is 0, not absent.
	m.localHit.prom = m.requests.WithLabelValues("local", "hit")
	m.localMiss.prom = m.requests.WithLabelValues("local", "miss")
	m.redisHit.prom = m.requests.WithLabelValues("redis", "hit")
	m.redisMiss.prom = m.requests.WithLabelValues("redis", "miss")
	m.redisError.prom = m.requests.WithLabelValues("redis", "error")
	m.redisWriteError.prom = m.redisWriteErrorsProm
	m.loads.prom = m.loadsTotal
	return m
}

// register adds the collectors to reg; nil reg registers nothing.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m.requests, m.loadsTotal, m.redisWriteErrorsProm} {
		if err := reg.Register(c); err != nil {
			// Leave reg as it was, so a caller may retry with another one.
			for _, d := range done {
				reg.Unregister(d)
			}
			return fmt.Errorf("register cache metrics: %w", err)
		}
		done = append(done, c)
	}
	return nil
}

func (m *metrics) stats() Stats {
	return Stats{
		LocalHits:        m.localHit.n.Load(),
		LocalMisses:      m.localMiss.n.Load(),
		RedisHits:        m.redisHit.n.Load(),
		RedisMisses:      m.redisMiss.n.Load(),
		RedisErrors:      m.redisError.n.Load(),
		RedisWriteErrors: m.redisWriteError.n.Load(),
		Loads:            m.loads.n.Load(),
	}
}

// unregister undoes register, for a NewDomains that fails after it.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range []prometheus.Collector{m.requests, m.loadsTotal, m.redisWriteErrorsProm} {
		reg.Unregister(c)
	}
}
