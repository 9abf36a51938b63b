package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadcheck/leadcheck/validate"
)

func TestConfigTTLs(t *testing.T) {
	t.Parallel()
	cfg, err := DefaultConfig().withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	spfFailed := okFacts(time.Hour)
	spfFailed.SPF = validate.PolicyRecord{LookupFailed: true}
	dmarcFailed := okFacts(time.Hour)
	dmarcFailed.DMARC = validate.PolicyRecord{LookupFailed: true}

	tests := []struct {
		name              string
		facts             validate.DomainFacts
		wantLocal, wantRd time.Duration
	}{
		{"positive inside bounds", okFacts(2 * time.Hour), 2 * time.Hour, 2 * time.Hour},
		{"positive below MinTTL", okFacts(30 * time.Second), 5 * time.Minute, 5 * time.Minute},
		{"positive above MaxTTL", okFacts(72 * time.Hour), 24 * time.Hour, 24 * time.Hour},
		{"positive without TTL", okFacts(0), 5 * time.Minute, 5 * time.Minute},
		{"nxdomain SOA inside bounds", nxFacts(15 * time.Minute), 15 * time.Minute, 15 * time.Minute},
		{"nxdomain SOA below floor", nxFacts(10 * time.Second), time.Minute, time.Minute},
		{"nxdomain SOA above cap", nxFacts(24 * time.Hour), time.Hour, time.Hour},
		{"nxdomain without SOA", nxFacts(0), time.Hour, time.Hour},
		{"null MX above cap", nullMXFacts(24 * time.Hour), time.Hour, time.Hour},
		{"null MX below floor", nullMXFacts(5 * time.Second), time.Minute, time.Minute},
		{"dns error", errFacts(), 5 * time.Second, 0},
		{"failed SPF lookup", spfFailed, 5 * time.Second, 0},
		{"failed DMARC lookup", dmarcFailed, 5 * time.Second, 0},
		{"unknown status", validate.DomainFacts{Status: "weird", TTL: time.Hour}, 5 * time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local, shared := cfg.ttls(tt.facts)
			if local != tt.wantLocal || shared != tt.wantRd {
				t.Errorf("ttls = (local %v, redis %v), want (local %v, redis %v)", local, shared, tt.wantLocal, tt.wantRd)
			}
		})
	}
}

func TestConfigErrorTTLZeroMeansNoErrorCaching(t *testing.T) {
	t.Parallel()
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if local, shared := cfg.ttls(errFacts()); local != 0 || shared != 0 {
		t.Errorf("ttls(error) = (%v, %v), want (0, 0)", local, shared)
	}
}

func TestConfigNegativeFloorNeverAboveCap(t *testing.T) {
	t.Parallel()
	cfg, err := Config{NegativeTTL: 20 * time.Second}.withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if local, _ := cfg.ttls(nxFacts(time.Second)); local != 20*time.Second {
		t.Errorf("ttls(nxdomain 1s) local = %v, want 20s (the cap wins over the 1m floor)", local)
	}
}

func TestConfigRejectsContradictions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"MinTTL above MaxTTL", Config{MinTTL: time.Hour, MaxTTL: time.Minute}},
		{"negative RedisTimeout", Config{RedisTimeout: -time.Second}},
		{"negative ErrorTTL", Config{ErrorTTL: -time.Second}},
		{"negative MaxEntries", Config{MaxEntries: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.cfg.withDefaults(); err == nil {
				t.Errorf("withDefaults(%+v) error = nil, want an error", tt.cfg)
			}
		})
	}
}

func TestConfigKey(t *testing.T) {
	t.Parallel()
	cfg := Config{KeyPrefix: "p:"}
	tests := []struct {
		in, want string
	}{
		{"example.com", "p:v1:dns:example.com"},
		{"Example.COM.", "p:v1:dns:example.com"},
		{"xn--bcher-kva.example", "p:v1:dns:xn--bcher-kva.example"},
		{"", ""},
		{".", ""},
		{"exa mple.com", ""},
		{"bücher.example", ""},
		{"a\x00b.com", ""},
		{"\u212Aelvin.example", ""},
		{strings.Repeat("a", 254), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := cfg.key(tt.in); got != tt.want {
				t.Errorf("key(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeFacts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    validate.DomainFacts
		wantErr bool
	}{
		{
			name: "ok",
			in:   `{"status":"ok","mx":[{"host":"mx.example.net","preference":5}],"null_mx":false,"has_a":true,"spf":{"found":false},"dmarc":{"found":false},"ttl_ns":60000000000}`,
			want: validate.DomainFacts{Status: validate.DNSOK, MX: []validate.MX{{Host: "mx.example.net", Preference: 5}}, HasA: true, TTL: time.Minute},
		},
		{
			name: "unknown fields from a newer release are ignored",
			in:   `{"status":"nxdomain","mx":null,"ttl_ns":1,"provider":"x"}`,
			want: validate.DomainFacts{Status: validate.DNSNXDomain, TTL: 1},
		},
		{name: "empty", in: ``, wantErr: true},
		{name: "not json", in: `OK`, wantErr: true},
		{name: "array", in: `[]`, wantErr: true},
		{name: "no status", in: `{}`, wantErr: true},
		{name: "unknown status", in: `{"status":"maybe"}`, wantErr: true},
		{name: "negative ttl", in: `{"status":"ok","ttl_ns":-5}`, wantErr: true},
		{name: "wrong type", in: `{"status":"ok","mx":"mx.example.net"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeFacts([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, errBadValue) {
					t.Errorf("decodeFacts(%q) error = %v, want errBadValue", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeFacts(%q) error = %v, want nil", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decodeFacts(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []validate.DomainFacts{okFacts(time.Hour), nxFacts(time.Minute), nullMXFacts(time.Hour), errFacts()} {
		b, err := encodeFacts(f)
		if err != nil {
			t.Fatalf("encodeFacts(%+v): %v", f, err)
		}
		got, err := decodeFacts(b)
		if err != nil {
			t.Fatalf("decodeFacts(%s): %v", b, err)
		}
		if diff := cmp.Diff(f, got); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
	}
}

// FuzzDecodeFacts checks that any bytes in Redis either decode to facts that
// survive a round trip unchanged or are refused as errBadValue; nothing
// panics.
func FuzzDecodeFacts(f *testing.F) {
	for _, facts := range []validate.DomainFacts{okFacts(time.Hour), nxFacts(time.Minute), nullMXFacts(0), errFacts()} {
		b, _ := json.Marshal(facts)
		f.Add(b)
	}
	f.Add([]byte(`{"status":"ok","mx":[{"host":"\u0000","preference":65535}]}`))
	f.Add([]byte(`{"status":"ok","ttl_ns":9223372036854775807}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeFacts(in)
		if err != nil {
			if !errors.Is(err, errBadValue) {
				t.Fatalf("decodeFacts(%q) error = %v, want errBadValue", in, err)
			}
			return
		}
		if got.TTL < 0 {
			t.Fatalf("decodeFacts(%q) TTL = %v, want >= 0", in, got.TTL)
		}
		b, err := encodeFacts(got)
		if err != nil {
			t.Fatalf("encodeFacts(%+v): %v", got, err)
		}
		again, err := decodeFacts(b)
		if err != nil {
			t.Fatalf("decodeFacts(encodeFacts(x)) error = %v for %s", err, b)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("round trip of %q mismatch (-first +second):\n%s", in, diff)
		}
	})
}

// FuzzConfigKey checks that a key is either refused or printable ASCII under
// the prefix, and that case and a root dot never split one domain in two.
func FuzzConfigKey(f *testing.F) {
	for _, s := range []string{"example.com", "EXAMPLE.com.", "", ".", "a b", "bücher.de", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	cfg := Config{KeyPrefix: "p:"}
	f.Fuzz(func(t *testing.T, domain string) {
		k := cfg.key(domain)
		if k == "" {
			return
		}
		rest, ok := strings.CutPrefix(k, "p:v1:dns:")
		if !ok {
			t.Fatalf("key(%q) = %q, want prefix p:v1:dns:", domain, k)
		}
		if rest == "" || len(rest) > maxDomainLength {
			t.Fatalf("key(%q) = %q, want 1..%d domain bytes", domain, k, maxDomainLength)
		}
		if bytes.ContainsFunc([]byte(rest), func(r rune) bool { return r <= ' ' || r >= 0x7f || ('A' <= r && r <= 'Z') }) {
			t.Fatalf("key(%q) = %q has a byte outside lower-case printable ASCII", domain, k)
		}
		if k2 := cfg.key(strings.ToUpper(domain) + "."); !strings.HasSuffix(domain, ".") && k2 != k {
			t.Fatalf("key(%q) = %q but key(upper+dot) = %q", domain, k, k2)
		}
	})
}
