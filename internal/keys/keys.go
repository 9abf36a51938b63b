// Package keys loads the API keys a server accepts (the keys file of
// LEADCHECK_KEYS_FILE and the LEADCHECK_API_KEYS shorthand), with each
// key's kind, origins and limits, and finds the key a request presents.
//
// Keys are held only as SHA-256 digests. A presented key is hashed and
// compared with every digest in constant time, so neither its length nor
// which key matched shows in the time an answer takes. Everything that
// names a key to people or to storage (logs, metrics, job records, usage)
// uses its name.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what a key may do.
type Kind string

// The kinds of key, as Stripe names them: a secret key stays on a server
// and may call every route; a publishable key is meant to be read in a web
// page's source, so it may only validate, only from its origins, and is
// limited per client IP.
const (
	Secret      Kind = "secret"
	Publishable Kind = "publishable"
)

// Rate is N requests per Per. The zero Rate is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// IsZero reports whether r sets no limit.
func (r Rate) IsZero() bool { return r.N == 0 }

// String writes r as ParseRate reads it: "100/s", "30/m", "500/h".
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	unit := "s"
	switch r.Per {
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	}
	return strconv.Itoa(r.N) + "/" + unit
}

// maxRateN bounds the N of a rate: more than a million a second is no limit
// at all, and the bound keeps arithmetic on it far from overflow.
const maxRateN = 1_000_000

// ParseRate reads "N/s", "N/m" or "N/h" with N a positive integer.
func ParseRate(s string) (Rate, error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q is not N/s, N/m or N/h (e.g. 100/s)", s)
	}
	var per time.Duration
	switch strings.TrimSpace(unit) {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return Rate{}, fmt.Errorf("rate %q has unit %q; use s, m or h (e.g. 100/s)", s, unit)
	}
	v, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || v <= 0 || v > maxRateN {
		return Rate{}, fmt.Errorf("rate %q needs a whole number from 1 to %d before the slash (e.g. 100/s)", s, maxRateN)
	}
	return Rate{N: v, Per: per}, nil
}

// Key is one accepted key and what it may do. Its plain text is not kept.
type Key struct {
	// Name identifies the key in logs, metrics, job records and usage.
	Name string
	Kind Kind
	// Origins are the browser origins (scheme://host[:port]) a publishable
	// key answers; requests without an Origin header are answered too.
	Origins []string
	// Rate and Burst limit requests: per key for a secret key, per key and
	// client IP for a publishable one.
	Rate  Rate
	Burst int
	// DailyQuota bounds validations plus bulk rows per UTC day; 0 is none.
	DailyQuota int64
	// BulkRowsPerDay bounds bulk rows per UTC day on top of DailyQuota; 0
	// is none.
	BulkRowsPerDay int64
	// MaxRunningJobs and MaxQueuedJobs cap the key's bulk jobs.
	MaxRunningJobs int
	MaxQueuedJobs  int
	// WebhookSecret signs the key's bulk webhooks; "" means the server
	// generates one for the key and keeps it.
	WebhookSecret string
	// FromList marks a key of LEADCHECK_API_KEYS: the operator's own
	// backends, which share the server's webhook secret as they always did.
	FromList bool

	digest [sha256.Size]byte
}

// AllowsOrigin reports whether a request with this Origin header may use
// the key: no Origin (not a browser's cross-site request), or one of the
// key's origins. Secret keys allow any: origin binding is for keys that
// live in pages.
func (k *Key) AllowsOrigin(origin string) bool {
	if origin == "" || k.Kind == Secret {
		return true
	}
	return slices.Contains(k.Origins, origin)
}

// Defaults are the limits of keys that do not set their own (every key of
// LEADCHECK_API_KEYS).
type Defaults struct {
	SecretRate       Rate
	PublishableRate  Rate
	PublishableBurst int
	PublishableQuota int64
	MaxRunningJobs   int
	MaxQueuedJobs    int
}

// DefaultLimits are the limits documented in the README.
func DefaultLimits() Defaults {
	return Defaults{
		SecretRate:       Rate{N: 100, Per: time.Second},
		PublishableRate:  Rate{N: 30, Per: time.Minute},
		PublishableBurst: 10,
		PublishableQuota: 50_000,
		MaxRunningJobs:   2,
		MaxQueuedJobs:    10,
	}
}

// Set is the keys a server accepts. The zero Set (and nil) holds none:
// open mode. It is safe for concurrent use once built.
type Set struct {
	keys   []*Key
	byName map[string]*Key
}

// Len is the number of keys.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// Keys returns the keys in file order.
func (s *Set) Keys() []*Key {
	if s == nil {
		return nil
	}
	return slices.Clone(s.keys)
}

// Lookup finds the key whose digest is SHA-256(presented). Every digest is
// compared, in constant time, whatever matches: the time taken depends on
// the number of keys only.
func (s *Set) Lookup(presented string) (*Key, bool) {
	if s == nil || len(s.keys) == 0 {
		return nil, false
	}
	sum := sha256.Sum256([]byte(presented))
	found := -1
	for i, k := range s.keys {
		eq := subtle.ConstantTimeCompare(sum[:], k.digest[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil, false
	}
	return s.keys[found], true
}

// Origins is the union of the publishable keys' origins, sorted: what a
// CORS preflight (which carries no key) may be allowed for.
func (s *Set) Origins() []string {
	var out []string
	for _, k := range s.Keys() {
		if k.Kind == Publishable {
			out = append(out, k.Origins...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Named returns the key called name.
func (s *Set) Named(name string) (*Key, bool) {
	if s == nil {
		return nil, false
	}
	k, ok := s.byName[name]
	return k, ok
}

// FromList builds the secret keys of LEADCHECK_API_KEYS: a comma-separated
// list, each key with the default limits and the name "key-<n>" (its place
// in the list, from 1), which is what logs and job records show.
func FromList(v string, d Defaults) (*Set, error) {
	var entries []entry
	for _, k := range strings.Split(v, ",") {
		if k = strings.TrimSpace(k); k != "" {
			entries = append(entries, entry{Name: "key-" + strconv.Itoa(len(entries)+1), Key: k, Kind: string(Secret), shorthand: true})
		}
	}
	if len(entries) == 0 {
		return nil, errors.New("it is set but holds no key; list keys separated by commas, or unset it for open mode")
	}
	return build(entries, d, "LEADCHECK_API_KEYS")
}

// Merge is a and b together, refusing a key or a name that is in both.
func Merge(a, b *Set) (*Set, error) {
	out := &Set{keys: append(a.Keys(), b.Keys()...)}
	if err := out.checkUnique("LEADCHECK_API_KEYS and LEADCHECK_KEYS_FILE"); err != nil {
		return nil, err
	}
	return out, nil
}

// checkUnique refuses a name or a key used twice, and indexes the names.
func (s *Set) checkUnique(where string) error {
	s.byName = map[string]*Key{}
	digests := map[[sha256.Size]byte]string{}
	for _, k := range s.keys {
		if s.byName[k.Name] != nil {
			return fmt.Errorf("%s: the name %q is used twice; give every key its own name", where, k.Name)
		}
		s.byName[k.Name] = k
		if other, ok := digests[k.digest]; ok {
			return fmt.Errorf("%s: keys %q and %q are the same key; remove one or generate a new key with leadcheck keys new", where, other, k.Name)
		}
		digests[k.digest] = k.Name
	}
	return nil
}

// build checks every entry and turns it into a Key; source names where the
// entries came from, for the messages.
func build(entries []entry, d Defaults, source string) (*Set, error) {
	s := &Set{}
	for i, e := range entries {
		k, err := e.key(d)
		if err != nil {
			who := "entry " + strconv.Itoa(i+1)
			if e.Name != "" {
				who += " (" + e.Name + ")"
			}
			return nil, fmt.Errorf("%s: %s: %w", source, who, err)
		}
		s.keys = append(s.keys, k)
	}
	if err := s.checkUnique(source); err != nil {
		return nil, err
	}
	return s, nil
}

// Limits on the strings of an entry, so a hostile or mistaken file cannot
// make names or origins that break logs or headers.
const (
	maxNameLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 256
	maxOrigins   = 100
	maxOriginLen = 256
)

func (e entry) key(d Defaults) (*Key, error) {
	if e.Name == "" {
		return nil, errors.New("name is missing; give the key a name (letters, digits, - _ .) to show in logs and usage")
	}
	if len(e.Name) > maxNameLen || strings.IndexFunc(e.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0 {
		return nil, fmt.Errorf("name %q must be 1 to %d letters, digits, '-', '_' or '.'", e.Name, maxNameLen)
	}
	if c := e.Name[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
		return nil, fmt.Errorf("name %q must start with a letter or a digit", e.Name)
	}
	k := &Key{Name: e.Name, FromList: e.shorthand}
	switch {
	case e.Key != "" && e.KeySHA256 != "":
		return nil, errors.New("has both key and key_sha256; keep one (key_sha256 keeps the key itself out of the file)")
	case e.Key != "":
		if (len(e.Key) < minKeyLen && !e.shorthand) || len(e.Key) > maxKeyLen || strings.TrimSpace(e.Key) != e.Key {
			return nil, fmt.Errorf("key must be %d to %d characters without surrounding spaces; generate one with leadcheck keys new", minKeyLen, maxKeyLen)
		}
		k.digest = sha256.Sum256([]byte(e.Key))
	case e.KeySHA256 != "":
		b, err := hex.DecodeString(e.KeySHA256)
		if err != nil || len(b) != sha256.Size {
			return nil, errors.New("key_sha256 is not 64 hex digits; write the hex SHA-256 of the key (leadcheck keys new prints it)")
		}
		copy(k.digest[:], b)
	default:
		return nil, errors.New("has neither key nor key_sha256; add one (leadcheck keys new prints an entry)")
	}
	switch Kind(e.Kind) {
	case Secret, Publishable:
		k.Kind = Kind(e.Kind)
	case "":
		return nil, errors.New("kind is missing; write kind: secret or kind: publishable")
	default:
		return nil, fmt.Errorf("kind %q is unknown; write secret or publishable", e.Kind)
	}
	if len(e.Origins) > maxOrigins {
		return nil, fmt.Errorf("has %d origins; at most %d", len(e.Origins), maxOrigins)
	}
	for _, o := range e.Origins {
		norm, err := ParseOrigin(o)
		if err != nil {
			return nil, err
		}
		k.Origins = append(k.Origins, norm)
	}
	if k.Kind == Secret && len(k.Origins) > 0 {
		return nil, errors.New("is a secret key with origins; secret keys stay on servers, so origins are for publishable keys only")
	}
	if k.Kind == Publishable && len(k.Origins) == 0 {
		return nil, errors.New("is a publishable key without origins; list the sites that embed it, e.g. origins: [https://www.acme.com]")
	}
	k.Rate = d.SecretRate
	if k.Kind == Publishable {
		k.Rate, k.Burst, k.DailyQuota = d.PublishableRate, d.PublishableBurst, d.PublishableQuota
	}
	if e.Rate != "" {
		r, err := ParseRate(e.Rate)
		if err != nil {
			return nil, err
		}
		k.Rate = r
		k.Burst = 0
	}
	if e.Burst != nil {
		if *e.Burst <= 0 || *e.Burst > maxRateN {
			return nil, fmt.Errorf("burst %d must be from 1 to %d", *e.Burst, maxRateN)
		}
		k.Burst = *e.Burst
	}
	if k.Burst == 0 {
		k.Burst = k.Rate.N
	}
	positive := func(name string, v *int64, dst *int64) error {
		if v == nil {
			return nil
		}
		if *v <= 0 {
			return fmt.Errorf("%s %d must be positive; leave it out for no limit", name, *v)
		}
		*dst = *v
		return nil
	}
	if err := positive("daily_quota", e.DailyQuota, &k.DailyQuota); err != nil {
		return nil, err
	}
	if err := positive("bulk_rows_per_day", e.BulkRowsPerDay, &k.BulkRowsPerDay); err != nil {
		return nil, err
	}
	k.MaxRunningJobs, k.MaxQueuedJobs = d.MaxRunningJobs, d.MaxQueuedJobs
	for _, c := range []struct {
		name string
		v    *int
		dst  *int
	}{{"max_running_jobs", e.MaxRunningJobs, &k.MaxRunningJobs}, {"max_queued_jobs", e.MaxQueuedJobs, &k.MaxQueuedJobs}} {
		if c.v == nil {
			continue
		}
		if *c.v <= 0 || *c.v > 1000 {
			return nil, fmt.Errorf("%s %d must be from 1 to 1000", c.name, *c.v)
		}
		*c.dst = *c.v
	}
	if k.Kind == Publishable && (e.MaxRunningJobs != nil || e.MaxQueuedJobs != nil || e.BulkRowsPerDay != nil || e.WebhookSecret != "") {
		return nil, errors.New("is a publishable key with bulk settings; publishable keys cannot run bulk jobs, so remove max_running_jobs, max_queued_jobs, bulk_rows_per_day and webhook_secret")
	}
	if e.WebhookSecret != "" {
		if err := CheckWebhookSecret(e.WebhookSecret); err != nil {
			return nil, err
		}
		k.WebhookSecret = e.WebhookSecret
	}
	return k, nil
}

// ParseOrigin checks a browser origin, scheme://host[:port], and returns
// it in the form browsers send (lower case, no trailing slash).
func ParseOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || len(o) > maxOriginLen || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil || u.Opaque != "" {
		return "", fmt.Errorf("origin %q is not scheme://host[:port]; write it as the browser sends it, e.g. https://www.acme.com", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// CheckWebhookSecret accepts "whsec_" + standard base64 of 24 to 64 bytes
// (the Standard Webhooks shape).
func CheckWebhookSecret(s string) error {
	raw, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return errors.New("webhook_secret must start with whsec_")
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(b) < 24 || len(b) > 64 {
		return errors.New("webhook_secret must be whsec_ and the base64 of 24 to 64 random bytes")
	}
	return nil
}

// New makes a fresh random key of kind: "sk_" or "pk_" and 32 random bytes
// in unpadded base64url; it returns the key and its hex SHA-256.
func New(kind Kind) (key, sha256Hex string, err error) {
	prefix := "sk_"
	switch kind {
	case Secret:
	case Publishable:
		prefix = "pk_"
	default:
		return "", "", fmt.Errorf("kind %q is unknown; use secret or publishable", kind)
	}
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	key = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(key))
	return key, hex.EncodeToString(sum[:]), nil
}

// NewWebhookSecret makes a fresh "whsec_" secret of 32 random bytes.
func NewWebhookSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}
