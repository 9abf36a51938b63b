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
	if c.prom != nil {
		c.prom.Inc()
	}
}

// metricNames names the metric families of one kind of cache and describes
// them. Every cache registering a family must give the same help text, or
// the registry refuses the second. leaseWaits is empty for a cache that
// takes no leases (see tiered.share), which then exports no such family.
type metricNames struct {
	requests, requestsHelp       string
	loads, loadsHelp             string
	writeErrors, writeErrorsHelp string
	leaseWaits, leaseWaitsHelp   string
}

// domainMetricNames are the families of Domains, unlabelled: one Domains per
// process, and dashboards already read these names.
func domainMetricNames() metricNames {
	return metricNames{
		requests:        "leadcheck_cache_requests_total",
		requestsHelp:    "Cache lookups of domain facts by tier (local, redis) and result (hit, miss, error).",
		loads:           "leadcheck_cache_loads_total",
		loadsHelp:       "Domain facts loaded from live DNS because no tier had them (after coalescing).",
		writeErrors:     "leadcheck_cache_redis_write_errors_total",
		writeErrorsHelp: "Failed writes of domain facts to Redis; the facts stay in the local tier.",
		leaseWaits:      "leadcheck_cache_lease_waits_total",
		leaseWaitsHelp:  "Loads of domain facts that found another instance resolving the domain (its lease in Redis) and waited for its answer instead of asking DNS at once.",
	}
}

// memoMetricNames are the families of every Memo, told apart by the label
// cache="<namespace>" so that several of them share one registry.
func memoMetricNames() metricNames {
	return metricNames{
		requests:        "leadcheck_memo_requests_total",
		requestsHelp:    "Memo cache lookups by cache (namespace), tier (local, redis) and result (hit, miss, error).",
		loads:           "leadcheck_memo_loads_total",
		loadsHelp:       "Values loaded by the caller's load function because no tier had them (after coalescing), by cache.",
		writeErrors:     "leadcheck_memo_redis_write_errors_total",
		writeErrorsHelp: "Failed writes of memo values to Redis, by cache; the values stay in the local tier.",
	}
}

// metrics holds every counter of one cache.
type metrics struct {
	localHit, localMiss             counter
	redisHit, redisMiss, redisError counter
	redisWriteError, loads          counter
	leaseWaits                      counter
	collectors                      []prometheus.Collector
}

// newMetrics creates the counters of one cache; labels (nil for none) are
// set on every series it exports.
func newMetrics(names metricNames, labels prometheus.Labels) *metrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: names.requests, Help: names.requestsHelp, ConstLabels: labels,
	}, []string{"tier", "result"})
	loads := prometheus.NewCounter(prometheus.CounterOpts{
		Name: names.loads, Help: names.loadsHelp, ConstLabels: labels,
	})
	writeErrors := prometheus.NewCounter(prometheus.CounterOpts{
		Name: names.writeErrors, Help: names.writeErrorsHelp, ConstLabels: labels,
	})
	m := &metrics{collectors: []prometheus.Collector{requests, loads, writeErrors}}
	// Creating every series up front makes them visible at zero, so a rate()
	// over a series that has not happened yet is 0, not absent.
	m.localHit.prom = requests.WithLabelValues("local", "hit")
	m.localMiss.prom = requests.WithLabelValues("local", "miss")
	m.redisHit.prom = requests.WithLabelValues("redis", "hit")
	m.redisMiss.prom = requests.WithLabelValues("redis", "miss")
	m.redisError.prom = requests.WithLabelValues("redis", "error")
	m.redisWriteError.prom = writeErrors
	m.loads.prom = loads
	if names.leaseWaits != "" {
		leaseWaits := prometheus.NewCounter(prometheus.CounterOpts{
			Name: names.leaseWaits, Help: names.leaseWaitsHelp, ConstLabels: labels,
		})
		m.leaseWaits.prom = leaseWaits
		m.collectors = append(m.collectors, leaseWaits)
	}
	return m
}

// register adds the collectors to reg; nil reg registers nothing.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var done []prometheus.Collector
	for _, c := range m.collectors {
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
		LeaseWaits:       m.leaseWaits.n.Load(),
	}
}

// unregister undoes register, for a constructor that fails after it.
func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors {
		reg.Unregister(c)
	}
}
