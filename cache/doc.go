// Package cache keeps the DNS facts of domains so that a domain is resolved
// once, not once per address, per request or per instance, and keeps other
// per-key values (company facts read from web sites) with the same
// machinery.
//
// Domains wraps a validate.DomainChecker (normally validate.DNSChecker) and
// implements the same interface, so the engine does not know it is there.
// Memo caches opaque byte values under a namespace for callers that own
// their encoding and know how long each value lives (package enrich); its Do
// matches enrich.Memo. Both are thin wrappers around one generic core
// (tiered, in tiered.go) that holds the tiers, the coalescing, the detached
// loads, Close and the counters; a wrapper adds only its keys, its codec and
// its lifetimes. What follows describes Domains; the Memo section says where
// Memo differs.
//
// # Tiers and keys
//
// The in-process tier (otter) is bounded by entries and by estimated bytes
// and expires each entry on its own lifetime. Behind it, when
// Config.RedisURL is set, Redis is shared by every instance: a local miss
// reads Redis (GET and PTTL in one round trip), a Redis hit fills the local
// tier for the lifetime Redis has left, and a full miss loads through the
// wrapped checker and stores in both tiers. Keys are versioned,
// <prefix>v1:dns:<ascii domain>, and values are the JSON of
// validate.DomainFacts: adding a field keeps v1 (older readers ignore it),
// any other change of the format bumps the version, so a rolling deploy never
// reads a value written in a format it does not know. A value that does not
// decode is counted as a Redis error and overwritten by a fresh load.
//
// # Lifetimes
//
//   - ok answers: the smallest TTL of the answers, clamped to
//     [MinTTL, MaxTTL] (default 5 min to 24 h); an unknown TTL gets MinTTL.
//   - NXDOMAIN and null MX: the negative TTL (the SOA's, or the null MX
//     record's), capped by NegativeTTL (1 h) so a newly registered domain
//     starts working soon, and raised to NegativeMinTTL (1 min) so a zone
//     with a tiny negative TTL does not send every blur of a mistyped
//     domain to DNS. The floor never exceeds the cap.
//   - dns_error, and ok answers whose SPF or DMARC lookup failed: ErrorTTL
//     (5 s in DefaultConfig; 0 disables) and in process only. A failing
//     resolver is often one instance's problem; another instance should be
//     free to ask, and a partial answer must not be pinned for hours.
//
// The in-process tier runs on Config.Now, so tests move time; Redis expiry
// runs on Redis' clock (PX on write, PTTL on read), so instances need not
// agree on the time.
//
// # Coalescing and cancellation
//
// Concurrent misses for one domain in one process share one load
// (singleflight): one Redis read and, on a miss, one call of the wrapped
// checker, however many requests wait. With Redis, concurrent misses on
// several instances share one load too. A load that misses Redis takes the
// domain's lease, <prefix>v1:lease:dns:<ascii domain>, with SET NX, an
// expiry of LoadTimeout and a random token of its own as the value, in the
// same round trip as a second read of the facts. The instance that gets the
// lease resolves the domain, stores the facts as usual, and then at once
// deletes the lease, but only while the lease still holds its token (a Lua
// script). An instance that finds the lease taken waits for the facts to
// appear in Redis. It looks every 10 ms at first and every 100 ms later,
// polling rather than subscribing (tiered.go says why), and returns what it
// finds as cached, without calling its checker. When the lease ends with no
// facts in Redis, the waiter resolves by itself at once, with a LoadTimeout
// of its own. That happens when the holder died, or when its answer stays in
// its own process (a dns_error, or facts with a failed SPF or DMARC lookup).
// A lease is a hint, never a lock. Any Redis error while taking it or
// waiting sends the load to the checker at once, and a lease without expiry
// holds a load no longer than LoadTimeout. Two instances still both resolve
// a domain when its holder dies or fails (its waiters all resolve), or when
// Redis fails, but not merely because they missed at the same moment.
//
// The load runs detached from the request that started it
// (context.WithoutCancel, keeping its values, bounded by LoadTimeout,
// default 10 s, and aborted by Close): a visitor who leaves the form must
// not fail the requests waiting on the same domain, and the answer still
// lands in the cache for the next blur. A caller whose own context ends
// stops waiting at once, whether for a load in its process or, through it,
// for another instance's lease, and gets a dns_error result ("unknown"),
// which is not cached. The load stores its result locally before it ends,
// and re-checks the local tier when it starts, so a request that missed
// just as a load finished does not start a second one.
//
// # Redis trouble never fails a request
//
// Every Redis call has RedisTimeout (50 ms) and no retry; dials are single
// attempts and the pool is small. A circuit breaker (gobreaker) opens after
// 3 failures in a row; while it is open Redis is not called at all, so a
// dead or black-holed Redis adds no latency, and requests go on with the
// local tier and live DNS. After BreakerTimeout (5 s) one request probes
// Redis; success closes the breaker. go-redis redials by itself, so Redis
// is used again within seconds of its return, well inside 30 s. RedisStatus
// reports "degraded" while the breaker is not closed (for /readyz; the
// service is still ready, only with more DNS traffic). It changes on
// traffic: an idle instance reports "degraded" until a request has probed.
// Leases add no Redis call to a lookup that hits, and none at all while
// the breaker is open; a waiter stops at its first Redis error. NewDomains
// does not contact Redis, so a Redis that is down at start degrades the
// cache instead of stopping the service; a malformed URL is a start-up
// error.
//
// Each cache dials its own pool from Config.RedisURL unless Config.Redis
// gives it one. NewRedis builds one to share: a process with a Domains and a
// Memo then keeps one pool (16 connections, not 32) and one breaker, so one
// outage trips once and /readyz reads one state. The caches do not close a
// shared Redis; its owner closes it after them.
//
// # Memo
//
// NewMemo(cfg, namespace, reg) keys values <KeyPrefix>v1:<namespace>:<key>;
// the namespace (a-z, 0-9, '_', '-', up to 32, never "dns" or "lease")
// keeps caches apart on one Redis. Keys are used as given (case-sensitive); an empty key,
// one over 512 bytes or one with a space or control byte bypasses the cache.
// Values are bytes, stored as they are: the caller versions its format (in
// the namespace or the value). Do reads the local tier, then, coalesced,
// Redis, then calls the caller's load once per key, detached as above. load
// returns the value and its lifetime: the value is kept for that long in both
// tiers, capped at MaxTTL; a lifetime of zero or less keeps it nowhere, for
// answers not worth keeping (the caller, not the cache, decides how long a
// failure is remembered). MinTTL and the DNS lifetimes do not apply. A Redis
// hit is kept in process for what Redis has left (PTTL), capped at MaxTTL,
// and not at all when Redis does not know (a key without expiry). A caller
// whose ctx ends gets (nil, false). Every caller gets its own copy of the
// bytes.
//
// A Memo coalesces in process only and takes no leases. Its callers also
// use Do as a plain lookup and as a store: package mailbox reads and
// writes answers and catch-all flags with load functions that return at
// once. For those a lease would add two Redis round trips per miss. It
// would also make a lookup or a store wait for the whole of another
// instance's probe of the same address, or for LoadTimeout (up to three
// SMTP timeouts) when that instance dies. The site fetches of package
// enrich would gain from leases as DNS does. They share Memo with those
// callers, so taking leases for them needs a per-Memo switch (tiered has
// one, leases), which is left for when it is wanted.
//
// # Metrics
//
// leadcheck_cache_requests_total{tier="local|redis",result="hit|miss|error"},
// leadcheck_cache_loads_total (calls of the wrapped checker),
// leadcheck_cache_redis_write_errors_total and
// leadcheck_cache_lease_waits_total (loads that found another instance's
// lease and waited on it; those that then resolved by themselves count
// in loads too) are registered on the Registerer given to NewDomains;
// Stats returns the same numbers. A failed lease call counts as a Redis
// error (result="error"). A Memo
// registers leadcheck_memo_requests_total, leadcheck_memo_loads_total (calls
// of its load function) and leadcheck_memo_redis_write_errors_total with the
// same labels plus cache="<namespace>". The families differ because Domains'
// series keep the names and labels dashboards already read; the cache label
// lets Memos of several namespaces share one registry. Registering the same
// cache twice on one registry (two Domains, or two Memos of one namespace)
// is an error at start.
//
// # What is not cached: CPU-only work
//
// Phone parsing and email syntax are recomputed on every request, never
// cached in Redis. bench_test.go measures the choice. Numbers from a quiet
// 2-core machine (load average under 2), go-redis v9 to the Redis on the
// same host over loopback; 6 runs, fastest and median per operation:
//
//	Redis GET round trip (one goroutine)           54 µs    60 µs
//	Redis GET, 16 goroutines, per op               11 µs    11 µs
//	the cache's Redis read: GET+PTTL, JSON decode  55 µs    62 µs   40 allocs
//	in-process hit (CheckDomain)                   0.24 µs  0.24 µs    2 allocs
//	in-process hit (Memo.Do, 37-byte value)        0.13 µs  0.13 µs    2 allocs
//	phonenumbers Parse+IsValidNumber+Format(E164)  15 µs    15 µs   81 allocs
//	validate.ValidatePhone (the engine's check)    3.2 µs   3.3 µs  19 allocs
//	validate.ParseAddress (syntax, IDNA)           0.9-1.6 µs  0.9-1.7 µs
//
// A Redis hit for a phone result (a read plus a JSON decode, like the cache's
// own read) costs many times more than computing it again (ValidatePhone
// reads the library's metadata with its patterns compiled once, see
// validate/phonemeta.go), and a miss costs the read, the work and a SET:
// caching can only lose, and would add load to the one Redis the whole fleet
// shares. Email syntax is cheaper still. The grain decides the rest: a phone
// number or an address belongs to one lead and rarely repeats across
// requests, so most lookups would be misses. A domain is the opposite:
// shared by every address at it, and its DNS lookup costs milliseconds, a
// hundred times a Redis read or more.
// Reproduce with:
//
//	go test ./cache/ -run '^$' -bench . -benchmem -count 10
package cache
