package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// maxFileBytes bounds the keys file: thousands of keys fit well below it,
// and a wrong path (a log, a disk image) fails at once instead of being
// read whole.
const maxFileBytes = 4 << 20

// file is the shape of the keys file; PRODUCT.md fixes the names.
type file struct {
	Keys []entry `yaml:"keys"`
}

type entry struct {
	Name           string   `yaml:"name"`
	Key            string   `yaml:"key"`
	KeySHA256      string   `yaml:"key_sha256"`
	Kind           string   `yaml:"kind"`
	Origins        []string `yaml:"origins"`
	Rate           string   `yaml:"rate"`
	Burst          *int     `yaml:"burst"`
	DailyQuota     *int64   `yaml:"daily_quota"`
	BulkRowsPerDay *int64   `yaml:"bulk_rows_per_day"`
	MaxRunningJobs *int     `yaml:"max_running_jobs"`
	MaxQueuedJobs  *int     `yaml:"max_queued_jobs"`
	WebhookSecret  string   `yaml:"webhook_secret"`

	// shorthand marks a key of LEADCHECK_API_KEYS, which keeps accepting
	// the short keys it always has.
	shorthand bool
}

// LoadFile reads and checks the keys file at path.
func LoadFile(path string, d Defaults) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w; point LEADCHECK_KEYS_FILE at a readable YAML file", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("keys file %s is larger than %d bytes; is it the right file?", path, maxFileBytes)
	}
	return Parse(b, path, d)
}

// Parse checks a keys file's content; source names it in messages. Every
// field is known (a misspelt "daly_quota" would otherwise silently leave a
// key without its quota), and a file that yields no key is an error: an
// empty file must never mean open mode.
func Parse(b []byte, source string, d Defaults) (*Set, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("keys file %s is empty; list keys under keys: (leadcheck keys new prints an entry)", source)
		}
		return nil, fmt.Errorf("keys file %s is not valid: %v; see the README section Keys and limits for the shape", source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("keys file %s holds more than one YAML document; keep one", source)
	}
	if len(f.Keys) == 0 {
		return nil, fmt.Errorf("keys file %s lists no key; add entries under keys: (leadcheck keys new prints one)", source)
	}
	return build(f.Keys, d, "keys file "+source)
}
