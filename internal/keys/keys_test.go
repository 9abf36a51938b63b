package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func digestHex(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

const productExample = `
keys:
  - name: backend                 # shown in logs, metrics and usage; never the key itself
    key_sha256: %s
    kind: secret                  # every route
    rate: 100/s                   # per key
    daily_quota: 1000000          # validations plus bulk rows per UTC day
  - name: acme-signup-form
    key: pk_live_4f2a0000000000000000
    kind: publishable             # GET/POST /v1/validate only
    origins: [https://www.acme.com, https://acme.com]
    rate: 30/m                    # per client IP, for this key
    burst: 10
    daily_quota: 50000            # for the whole key
`

func TestParseProductExample(t *testing.T) {
	t.Parallel()
	src := strings.Replace(productExample, "%s", digestHex("sk_backend_secret_123"), 1)
	set, err := Parse([]byte(src), "keys.yaml", DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 2 {
		t.Fatalf("got %d keys, want 2", set.Len())
	}
	be, ok := set.Lookup("sk_backend_secret_123")
	if !ok || be.Name != "backend" || be.Kind != Secret || be.Rate != (Rate{100, time.Second}) || be.Burst != 100 || be.DailyQuota != 1_000_000 {
		t.Errorf("backend: got %+v %v", be, ok)
	}
	pk, ok := set.Lookup("pk_live_4f2a0000000000000000")
	if !ok || pk.Name != "acme-signup-form" || pk.Kind != Publishable || pk.Rate != (Rate{30, time.Minute}) || pk.Burst != 10 || pk.DailyQuota != 50_000 {
		t.Errorf("publishable: got %+v %v", pk, ok)
	}
	if got := strings.Join(set.Origins(), " "); got != "https://acme.com https://www.acme.com" {
		t.Errorf("origins: got %q", got)
	}
	if !pk.AllowsOrigin("https://acme.com") || !pk.AllowsOrigin("") || pk.AllowsOrigin("https://evil.example") {
		t.Error("publishable origin check is wrong")
	}
	if _, ok := set.Lookup("pk_live_4f2a000000000000000"); ok {
		t.Error("a prefix of a key matched")
	}
	if _, ok := set.Lookup(""); ok {
		t.Error("the empty key matched")
	}
}

// TestErrorMatrix is every way a keys file or LEADCHECK_API_KEYS can be
// wrong: each must be refused with a message naming the entry and the fix.
func TestErrorMatrix(t *testing.T) {
	t.Parallel()
	sk := "sk_aaaaaaaaaaaaaaaaaaaa"
	for _, tc := range []struct {
		name, file string
		want       []string // all must be in the message
	}{
		{"empty file", "", []string{"empty"}},
		{"comment only", "# nothing\n", []string{"empty"}},
		{"no keys", "keys: []\n", []string{"lists no key"}},
		{"keys null", "keys:\n", []string{"lists no key"}},
		{"not yaml", "keys: [\n", []string{"not valid"}},
		{"unknown top field", "key:\n  - name: a\n", []string{"not valid", "key"}},
		{"unknown entry field", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n    daly_quota: 5\n", []string{"daly_quota"}},
		{"no name", "keys:\n  - key: " + sk + "\n    kind: secret\n", []string{"entry 1", "name is missing"}},
		{"bad name", "keys:\n  - name: 'a b'\n    key: " + sk + "\n    kind: secret\n", []string{"entry 1", "name"}},
		{"no key", "keys:\n  - name: a\n    kind: secret\n", []string{"(a)", "neither key nor key_sha256"}},
		{"both keys", "keys:\n  - name: a\n    key: " + sk + "\n    key_sha256: " + digestHex(sk) + "\n    kind: secret\n", []string{"(a)", "both"}},
		{"short key", "keys:\n  - name: a\n    key: short\n    kind: secret\n", []string{"(a)", "keys new"}},
		{"bad digest", "keys:\n  - name: a\n    key_sha256: abc\n    kind: secret\n", []string{"(a)", "64 hex"}},
		{"no kind", "keys:\n  - name: a\n    key: " + sk + "\n", []string{"(a)", "kind is missing"}},
		{"unknown kind", "keys:\n  - name: a\n    key: " + sk + "\n    kind: admin\n", []string{"(a)", `"admin"`, "secret or publishable"}},
		{"bad rate", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n    rate: 10/d\n", []string{"(a)", "10/d", "s, m or h"}},
		{"zero rate", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n    rate: 0/s\n", []string{"(a)", "0/s"}},
		{"bad burst", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n    burst: 0\n", []string{"(a)", "burst"}},
		{"negative quota", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n    daily_quota: -1\n", []string{"(a)", "daily_quota"}},
		{"quota not a number", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n    daily_quota: lots\n", []string{"not valid"}},
		{"duplicate key", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n  - name: b\n    key_sha256: " + digestHex(sk) + "\n    kind: secret\n", []string{`"a"`, `"b"`, "same key"}},
		{"duplicate name", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n  - name: a\n    key: " + sk + "x\n    kind: secret\n", []string{`"a"`, "twice"}},
		{"publishable without origins", "keys:\n  - name: p\n    key: pk_aaaaaaaaaaaaaaaaaaaa\n    kind: publishable\n", []string{"(p)", "origins"}},
		{"bad origin", "keys:\n  - name: p\n    key: pk_aaaaaaaaaaaaaaaaaaaa\n    kind: publishable\n    origins: [www.acme.com]\n", []string{"(p)", "www.acme.com", "https://"}},
		{"origin with path", "keys:\n  - name: p\n    key: pk_aaaaaaaaaaaaaaaaaaaa\n    kind: publishable\n    origins: [https://acme.com/signup]\n", []string{"(p)", "scheme://host"}},
		{"secret with origins", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n    origins: [https://acme.com]\n", []string{"(a)", "publishable keys only"}},
		{"publishable bulk caps", "keys:\n  - name: p\n    key: pk_aaaaaaaaaaaaaaaaaaaa\n    kind: publishable\n    origins: [https://acme.com]\n    max_running_jobs: 2\n", []string{"(p)", "bulk"}},
		{"bad webhook secret", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n    webhook_secret: nope\n", []string{"(a)", "whsec_"}},
		{"two documents", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n---\nkeys: []\n", []string{"more than one"}},
		{"second entry named", "keys:\n  - name: a\n    key: " + sk + "\n    kind: secret\n  - name: b\n    key: " + sk + "b\n    kind: nope\n", []string{"entry 2 (b)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set, err := Parse([]byte(tc.file), "keys.yaml", DefaultLimits())
			if err == nil {
				t.Fatalf("got %d keys and no error, want an error", set.Len())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "keys.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), sk) {
				t.Errorf("error %q shows a key", err)
			}
		})
	}
}

func TestFromList(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", " ", ",", " , ,"} {
		if _, err := FromList(v, DefaultLimits()); err == nil || !strings.Contains(err.Error(), "no key") {
			t.Errorf("FromList(%q): got %v, want a 'holds no key' error", v, err)
		}
	}
	if _, err := FromList("a-long-enough-key-1,a-long-enough-key-1", DefaultLimits()); err == nil {
		t.Error("a duplicate key was accepted")
	}
	set, err := FromList(" sk_one_000000000000 , sk_two_000000000000 ", DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	k, ok := set.Lookup("sk_two_000000000000")
	if !ok || k.Name != "key-2" || k.Kind != Secret || k.Rate != DefaultLimits().SecretRate {
		t.Errorf("got %+v %v", k, ok)
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	a, err := FromList("sk_one_000000000000", DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse([]byte("keys:\n  - name: key-1\n    key: sk_two_000000000000\n    kind: secret\n"), "f", DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(a, b); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("merge with a clashing name: got %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml"), DefaultLimits()); err == nil || !strings.Contains(err.Error(), "LEADCHECK_KEYS_FILE") {
		t.Errorf("missing file: got %v", err)
	}
	path := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(path, []byte("keys:\n  - name: a\n    key: sk_aaaaaaaaaaaaaaaaaaaa\n    kind: secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := LoadFile(path, DefaultLimits())
	if err != nil || set.Len() != 1 {
		t.Fatalf("got %v %v", set, err)
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Rate{
		"100/s": {100, time.Second}, "30/m": {30, time.Minute}, " 5 / h ": {5, time.Hour}, "1000000/s": {maxRateN, time.Second},
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q): got %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "100", "/s", "x/s", "-1/s", "0/m", "1/d", "1/", "1000001/s", "1.5/s", "1/s/s"} {
		if r, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q): got %v, want an error", in, r)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for kind, prefix := range map[Kind]string{Secret: "sk_", Publishable: "pk_"} {
		k1, d1, err := New(kind)
		if err != nil {
			t.Fatal(err)
		}
		k2, _, _ := New(kind)
		if !strings.HasPrefix(k1, prefix) || k1 == k2 || d1 != digestHex(k1) {
			t.Errorf("New(%s): got %q %q %q", kind, k1, k2, d1)
		}
	}
	if _, _, err := New("admin"); err == nil {
		t.Error("New(admin) worked")
	}
	if err := CheckWebhookSecret(NewWebhookSecret()); err != nil {
		t.Error(err)
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"100/s", "30/m", "1/h", "0/s", "999999999999/s", "1/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.N <= 0 || r.N > maxRateN || (r.Per != time.Second && r.Per != time.Minute && r.Per != time.Hour) {
			t.Fatalf("ParseRate(%q) = %+v, out of range", s, r)
		}
		again, err := ParseRate(r.String())
		if err != nil || again != r {
			t.Fatalf("round trip of %q: %v %v", s, again, err)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(strings.Replace(productExample, "%s", digestHex("sk_backend_secret_123"), 1)))
	f.Add([]byte("keys:\n  - name: a\n    key: sk_aaaaaaaaaaaaaaaaaaaa\n    kind: secret\n"))
	f.Add([]byte("keys: [{name: p, key: pk_aaaaaaaaaaaaaaaaaaaa, kind: publishable, origins: [https://a.b]}]"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := Parse(b, "fuzz.yaml", DefaultLimits())
		if err != nil {
			if set != nil {
				t.Fatal("an error came with a set")
			}
			return
		}
		if set.Len() == 0 {
			t.Fatal("a file with no key was accepted")
		}
		for _, k := range set.Keys() {
			if k.Name == "" || (k.Kind != Secret && k.Kind != Publishable) || k.Rate.IsZero() || k.Burst <= 0 {
				t.Fatalf("accepted a bad key: %+v", k)
			}
			if k.Kind == Publishable && len(k.Origins) == 0 {
				t.Fatalf("accepted a publishable key without origins: %+v", k)
			}
		}
	})
}
