package cache

import (
	"context"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/redis/go-redis/v9"

	"github.com/leadcheck/leadcheck/validate"
)

// These benchmarks answer one question: is it worth caching CPU-only work
// (phone parsing, email syntax) in Redis? Compare a Redis round trip with
// the work it would save. The results are in doc.go.
//
//	go test ./cache/ -run '^$' -bench . -benchmem -count 5

// storedFacts stores a DomainFacts value on the test Redis, as the cache
// would, under a key of the benchmark's own, and returns a client and the
// key.
func storedFacts(b *testing.B) (*redis.Client, string) {
	b.Helper()
	rc, cfg := sharedRedis(b)
	key := cfg.KeyPrefix + "v1:dns:bench.example"
	v, err := encodeFacts(okFacts(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	if err := rc.Set(context.Background(), key, v, time.Hour).Err(); err != nil {
		b.Fatalf("SET: %v", err)
	}
	return rc, key
}

// BenchmarkRedisGET is one GET of a stored DomainFacts value on the test
// Redis: the least a Redis-cached answer can cost.
func BenchmarkRedisGET(b *testing.B) {
	rc, key := storedFacts(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := rc.Get(ctx, key).Err(); err != nil {
			b.Fatalf("GET: %v", err)
		}
	}
}

// BenchmarkRedisGETParallel is the same GET from many goroutines, for the
// throughput one Redis connection pool reaches.
func BenchmarkRedisGETParallel(b *testing.B) {
	rc, key := storedFacts(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := rc.Get(ctx, key).Err(); err != nil {
				b.Errorf("GET: %v", err)
				return
			}
		}
	})
}

// BenchmarkSharedTierGet is the Redis tier's read as the cache does it:
// breaker, GET+PTTL in one round trip, JSON decode.
func BenchmarkSharedTierGet(b *testing.B) {
	_, shared := sharedRedis(b)
	cfg, err := shared.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewRedis(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	key := cfg.key("bench.example")
	v, err := encodeFacts(okFacts(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.set(ctx, key, v, time.Hour); err != nil {
		b.Fatalf("set: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, _, err := s.get(ctx, key)
		if err != nil {
			b.Fatalf("get: %v", err)
		}
		if _, err := decodeFacts(got); err != nil {
			b.Fatalf("decode: %v", err)
		}
	}
}

// BenchmarkLocalHit is CheckDomain answered by the in-process tier.
func BenchmarkLocalHit(b *testing.B) {
	next, _ := counted(always(okFacts(time.Hour)))
	d := newTestDomains(b, Config{}, next)
	ctx := context.Background()
	d.CheckDomain(ctx, "example.com")
	b.ReportAllocs()
	for b.Loop() {
		if _, cached := d.CheckDomain(ctx, "example.com"); !cached {
			b.Fatal("cached = false, want true")
		}
	}
}

// BenchmarkMemoLocalHit is Memo.Do answered by the in-process tier: a copy
// of the value, no call of load.
func BenchmarkMemoLocalHit(b *testing.B) {
	m := newTestMemo(b, Config{}, "site")
	ctx := context.Background()
	load := func(context.Context) ([]byte, time.Duration) {
		return []byte(`{"name":"Example Inc","country":"US"}`), time.Hour
	}
	m.Do(ctx, "example.com", load)
	b.ReportAllocs()
	for b.Loop() {
		if _, cached := m.Do(ctx, "example.com", load); !cached {
			b.Fatal("cached = false, want true")
		}
	}
}

// BenchmarkPhoneParseValidFormat is the phone work a cache would save:
// parse, validity, E.164 formatting.
func BenchmarkPhoneParseValidFormat(b *testing.B) {
	phonenumbers.Parse("+16502530000", "US") // package data is loaded lazily
	b.ReportAllocs()
	for b.Loop() {
		n, err := phonenumbers.Parse("(650) 253-0000", "US")
		if err != nil {
			b.Fatal(err)
		}
		if !phonenumbers.IsValidNumber(n) {
			b.Fatal("IsValidNumber = false, want true")
		}
		_ = phonenumbers.Format(n, phonenumbers.E164)
	}
}

// BenchmarkValidatePhone is the engine's whole phone check.
func BenchmarkValidatePhone(b *testing.B) {
	validate.ValidatePhone("+44 20 7946 0958", "")
	b.ReportAllocs()
	for b.Loop() {
		if r := validate.ValidatePhone("+44 20 7946 0958", ""); r.E164 == "" {
			b.Fatalf("ValidatePhone = %+v, want an E.164 form", r)
		}
	}
}

// BenchmarkParseAddress is the engine's email syntax check, IDNA included.
func BenchmarkParseAddress(b *testing.B) {
	for _, in := range []string{"Jane.Doe+news@Example.COM", "jürgen@bücher.example"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := validate.ParseAddress(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
