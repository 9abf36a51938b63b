package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leadcheck/leadcheck/internal/keys"
)

// config is every setting of the service, loaded once in run: defaults,
// then environment variables, then flags. Nothing else reads the
// environment.
type config struct {
	Addr                 string
	DNSServers           []string // empty: the system's /etc/resolv.conf
	ResolvConf           string
	DNSTimeout           time.Duration
	ValidateTimeout      time.Duration
	RedisURL             string
	CachePrefix          string
	DataDir              string
	APIKeys              []string
	CORSOrigins          []string
	AllowPrivateNetworks bool
	DisposableFile       string
	FreeFile             string
	RoleFile             string
	MaxBodyBytes         int64
	LogLevel             slog.Level
	LogFormat            string
	ShutdownTimeout      time.Duration
	CacheMaxEntries      int
	CacheMinTTL          time.Duration
	CacheMaxTTL          time.Duration
	CacheNegativeTTL     time.Duration
	CacheErrorTTL        time.Duration
	Enrich               enrichConfig
	Bulk                 bulkConfig
	Verdicts             verdictsConfig
	Metrics              metricsConfig
	// APIKeysSet: LEADCHECK_API_KEYS is set, even to nothing.
	APIKeysSet bool
	Keys       keysConfig
	SMTP       smtpConfig
	Hostile    hostileConfig
	Cluster    clusterConfig
	APIKey     string // LEADCHECK_API_KEY, sent by validate and bulk with --server
}

func defaultConfig() config {
	return config{
		Addr:             ":8080",
		ResolvConf:       "/etc/resolv.conf",
		DNSTimeout:       2 * time.Second,
		ValidateTimeout:  3 * time.Second,
		DataDir:          "./data",
		MaxBodyBytes:     64 << 10,
		LogLevel:         slog.LevelInfo,
		LogFormat:        "json",
		ShutdownTimeout:  15 * time.Second,
		CacheMaxEntries:  100_000,
		CacheMinTTL:      5 * time.Minute,
		CacheMaxTTL:      24 * time.Hour,
		CacheNegativeTTL: time.Hour,
		CacheErrorTTL:    5 * time.Second,
		Keys:             keysConfig{Defaults: keys.DefaultLimits(), MaxValidations: 1024, MaxLookups: 256},
	}
}

// setting ties one environment variable (and the flag that mirrors it) to a
// field of config. The table is the single list of settings; the README's
// configuration table follows it.
type setting struct {
	env   string
	flag  string // "" = environment only
	usage string
	set   func(c *config, v string) error
}

func settings() []setting {
	return slices.Concat(
		coreSettings(),
		enrichSettings(),
		bulkSettings(),
		clusterSettings(),
		verdictSettings(),
		metricsSettings(),
		keysSettings(),
		smtpSettings(),
		hostileSettings(),
		cliSettings(),
	)
}

func coreSettings() []setting {
	return []setting{
		{"LEADCHECK_ADDR", "addr", "listen address (default :8080)", func(c *config, v string) error { c.Addr = v; return nil }},
		{"LEADCHECK_DNS", "dns", "comma-separated resolvers host:port (default: /etc/resolv.conf)", func(c *config, v string) error {
			servers, err := parseServers(v)
			c.DNSServers = servers
			return err
		}},
		{"LEADCHECK_DNS_TIMEOUT", "dns-timeout", "per-query DNS timeout (default 2s)", durationSetter(func(c *config) *time.Duration { return &c.DNSTimeout })},
		{"LEADCHECK_VALIDATE_TIMEOUT", "validate-timeout", "time budget of one validation; DNS still unanswered then makes the verdict unknown (default 3s)", durationSetter(func(c *config) *time.Duration { return &c.ValidateTimeout })},
		{"LEADCHECK_REDIS_URL", "redis-url", "redis://host:port/db; the caches live there too and instances share them (default: none, in-process only)", func(c *config, v string) error {
			if v != "" && !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") && !strings.HasPrefix(v, "unix://") {
				return fmt.Errorf("%q is not a redis:// URL; use redis://host:6379/0", v)
			}
			c.RedisURL = v
			return nil
		}},
		{"LEADCHECK_CACHE_PREFIX", "", "Redis key prefix, so deployments can share a Redis (default leadcheck:)", func(c *config, v string) error { c.CachePrefix = v; return nil }},
		{"LEADCHECK_DATA_DIR", "data-dir", "where bulk uploads, results and job state live (default ./data)", func(c *config, v string) error { c.DataDir = v; return nil }},
		{"LEADCHECK_API_KEYS", "", "comma-separated secret API keys with the default limits; unset (and no LEADCHECK_KEYS_FILE) means open mode", func(c *config, v string) error {
			c.APIKeys, c.APIKeysSet = splitList(v), true
			if len(c.APIKeys) == 0 {
				return errors.New("it is set but holds no key; list keys separated by commas, or unset it for open mode")
			}
			return nil
		}},
		{"LEADCHECK_CORS_ORIGINS", "cors-origins", "comma-separated browser origins allowed to call the API (https://www.acme.com); * allows any", func(c *config, v string) error {
			origins, err := parseOrigins(v)
			c.CORSOrigins = origins
			return err
		}},
		{"LEADCHECK_ALLOW_PRIVATE_NETWORKS", "", "let outbound requests reach private addresses (tests only)", boolSetter(func(c *config) *bool { return &c.AllowPrivateNetworks })},
		{"LEADCHECK_DISPOSABLE_FILE", "", "extra disposable domains; !domain removes one", func(c *config, v string) error { c.DisposableFile = v; return nil }},
		{"LEADCHECK_FREE_FILE", "", "extra free-provider domains; !domain removes one", func(c *config, v string) error { c.FreeFile = v; return nil }},
		{"LEADCHECK_ROLE_FILE", "", "extra role local parts; !name removes one", func(c *config, v string) error { c.RoleFile = v; return nil }},
		{"LEADCHECK_MAX_BODY_BYTES", "", "largest JSON request body in bytes (default 65536)", func(c *config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("%q is not a positive byte count", v)
			}
			c.MaxBodyBytes = n
			return nil
		}},
		{"LEADCHECK_LOG_LEVEL", "log-level", "debug, info, warn or error (default info)", func(c *config, v string) error {
			return c.LogLevel.UnmarshalText([]byte(v))
		}},
		{"LEADCHECK_LOG_FORMAT", "log-format", "json or text (default json)", func(c *config, v string) error {
			if v != "json" && v != "text" {
				return fmt.Errorf("%q is neither json nor text", v)
			}
			c.LogFormat = v
			return nil
		}},
		{"LEADCHECK_SHUTDOWN_TIMEOUT", "", "how long shutdown waits for requests in flight (default 15s)", durationSetter(func(c *config) *time.Duration { return &c.ShutdownTimeout })},
		{"LEADCHECK_CACHE_MAX_ENTRIES", "", "entries kept in the in-process DNS cache (default 100000)", func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return fmt.Errorf("%q is not a positive number", v)
			}
			c.CacheMaxEntries = n
			return nil
		}},
		{"LEADCHECK_CACHE_MIN_TTL", "", "shortest time DNS facts are cached (default 5m)", durationSetter(func(c *config) *time.Duration { return &c.CacheMinTTL })},
		{"LEADCHECK_CACHE_MAX_TTL", "", "longest time DNS facts are cached (default 24h)", durationSetter(func(c *config) *time.Duration { return &c.CacheMaxTTL })},
		{"LEADCHECK_CACHE_NEGATIVE_TTL", "", "longest time NXDOMAIN and null MX are cached (default 1h)", durationSetter(func(c *config) *time.Duration { return &c.CacheNegativeTTL })},
		{"LEADCHECK_CACHE_ERROR_TTL", "", "how long a DNS failure is cached, in process only; 0: not at all (default 5s)", func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("%q is not a duration such as 5s", v)
			}
			c.CacheErrorTTL = d
			return nil
		}},
	}
}

// loadConfig builds the config for a subcommand from the environment and
// the subcommand's flags; it returns the remaining arguments.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (config, []string, error) {
	c, err := loadEnv(getenv)
	if err != nil {
		return c, nil, err
	}
	for _, s := range settings() {
		if s.flag == "" {
			continue
		}
		set := s.set
		fs.Func(s.flag, s.usage+" (env "+s.env+")", func(v string) error { return set(&c, v) })
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	return c, fs.Args(), c.check()
}

// loadEnv is the defaults, then the environment.
func loadEnv(getenv func(string) string) (config, error) {
	c := defaultConfig()
	var errs []error
	for _, s := range settings() {
		if v := getenv(s.env); v != "" {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
			}
		}
	}
	return c, errors.Join(errs...)
}

// check refuses settings that would only fail later.
func (c config) check() error {
	var errs []error
	if c.DNSTimeout <= 0 {
		errs = append(errs, errors.New("LEADCHECK_DNS_TIMEOUT must be positive"))
	}
	if c.ValidateTimeout <= 0 {
		errs = append(errs, errors.New("LEADCHECK_VALIDATE_TIMEOUT must be positive"))
	}
	if c.CacheMinTTL > c.CacheMaxTTL {
		errs = append(errs, fmt.Errorf("LEADCHECK_CACHE_MIN_TTL (%s) is above LEADCHECK_CACHE_MAX_TTL (%s)", c.CacheMinTTL, c.CacheMaxTTL))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("LEADCHECK_ADDR %q is not host:port (e.g. :8080)", c.Addr))
	}
	return errors.Join(errs...)
}

func durationSetter(field func(*config) *time.Duration) func(*config, string) error {
	return func(c *config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a positive duration such as 2s", v)
		}
		*field(c) = d
		return nil
	}
}

func boolSetter(field func(*config) *bool) func(*config, string) error {
	return func(c *config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}
}

// parseServers reads "host[:port],..." and adds port 53 where missing.
func parseServers(v string) ([]string, error) {
	var out []string
	for _, s := range splitList(v) {
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			host, port = strings.Trim(s, "[]"), "53"
		}
		if net.ParseIP(host) == nil && host != "localhost" {
			return nil, fmt.Errorf("%q is not an IP address (host:port); name resolvers by address", s)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("%q has a bad port", s)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	if len(out) == 0 {
		return nil, errors.New("no resolver given")
	}
	return out, nil
}

// parseOrigins reads "scheme://host[:port],..." or "*".
func parseOrigins(v string) ([]string, error) {
	var out []string
	for _, o := range splitList(v) {
		if o == "*" {
			out = append(out, o)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("%q is not an origin; write scheme://host[:port], e.g. https://www.acme.com", o)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
