package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/leadcheck/leadcheck/internal/keys"
	"github.com/leadcheck/leadcheck/internal/limits"
)

// keysSettings are the LEADCHECK_* variables of keys, limits and quotas;
// settings() includes them.
func keysSettings() []setting {
	return []setting{
		{"LEADCHECK_KEYS_FILE", "keys-file", "YAML file of API keys (secret and publishable), their origins, rates and quotas; see Keys and limits", func(c *config, v string) error {
			if strings.TrimSpace(v) == "" {
				return errors.New("it is set but names no file; point it at the keys file, or unset it")
			}
			c.Keys.File = v
			return nil
		}},
		{"LEADCHECK_TRUSTED_PROXIES", "trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For names the client, for per-IP limits (default: none, the header is ignored)", func(c *config, v string) error {
			for _, s := range splitList(v) {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					addr, aerr := netip.ParseAddr(s)
					if aerr != nil {
						return fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an address", s)
					}
					p = netip.PrefixFrom(addr, addr.BitLen())
				}
				c.Keys.TrustedProxies = append(c.Keys.TrustedProxies, p.Masked())
			}
			if len(c.Keys.TrustedProxies) == 0 {
				return errors.New("it is set but lists no CIDR; list the proxies, or unset it")
			}
			return nil
		}},
		{"LEADCHECK_DEFAULT_RATE", "", "rate of secret keys that set none, and of LEADCHECK_API_KEYS: N/s, N/m or N/h (default 100/s)", func(c *config, v string) error {
			r, err := keys.ParseRate(v)
			c.Keys.Defaults.SecretRate = r
			return err
		}},
		{"LEADCHECK_MAX_VALIDATIONS_IN_FLIGHT", "", "validations and enrichments the API runs at once; past it, 503 overloaded (default 1024)", positiveInt(func(c *config) *int { return &c.Keys.MaxValidations })},
		{"LEADCHECK_MAX_LOOKUPS_IN_FLIGHT", "", "domains the real-time API resolves at once; a validation that needs one more is answered 503 overloaded (default 256)", positiveInt(func(c *config) *int { return &c.Keys.MaxLookups })},
	}
}

// keysConfig holds the keys settings (config.Keys).
type keysConfig struct {
	File           string
	TrustedProxies []netip.Prefix
	Defaults       keys.Defaults
	MaxValidations int
	MaxLookups     int
}

// setButEmpty is what getenvOf makes of a keys variable that is set to
// nothing, so that its setter refuses it: LEADCHECK_API_KEYS="" must stop
// start-up, never mean open mode.
const setButEmpty = " "

// keysVariables may not be set to an empty value.
var keysVariables = []string{"LEADCHECK_API_KEYS", "LEADCHECK_KEYS_FILE"}

// getenvOf is the getenv of main: os.Getenv, except that the keys variables
// set to "" read as setButEmpty (os.Getenv cannot tell set-but-empty from
// unset, and for these the difference is open mode).
func getenvOf(lookup func(string) (string, bool)) func(string) string {
	return func(k string) string {
		v, ok := lookup(k)
		if ok && v == "" {
			for _, kv := range keysVariables {
				if k == kv {
					return setButEmpty
				}
			}
		}
		return v
	}
}

// loadKeys builds the key set from LEADCHECK_API_KEYS and the keys file;
// nil (open mode) only when neither is set.
func loadKeys(c config) (*keys.Set, error) {
	var set *keys.Set
	if c.APIKeysSet {
		s, err := keys.FromList(strings.Join(c.APIKeys, ","), c.Keys.Defaults)
		if err != nil {
			return nil, fmt.Errorf("LEADCHECK_API_KEYS: %w", err)
		}
		set = s
	}
	if c.Keys.File != "" {
		s, err := keys.LoadFile(c.Keys.File, c.Keys.Defaults)
		if err != nil {
			return nil, err
		}
		if set == nil {
			set = s
		} else if set, err = keys.Merge(set, s); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// newLimiter builds the rate and quota limiter: shared through Redis when
// LEADCHECK_REDIS_URL is set, in process otherwise. Its Redis pool is its
// own, small and with short timeouts, so a slow Redis costs a limited
// request at most one short wait before the in-process limits take over.
func (p *parts) newLimiter() (*limits.Limiter, func()) {
	cfg := limits.Config{Prefix: p.cfg.CachePrefix, Logger: p.logger}
	if p.cfg.RedisURL == "" {
		return limits.New(cfg), func() {}
	}
	opt, err := redis.ParseURL(p.cfg.RedisURL)
	if err != nil {
		// LEADCHECK_REDIS_URL was parsed by the cache already; a URL it
		// took and go-redis does not is kept in process, and said so.
		p.logger.Warn("limits: LEADCHECK_REDIS_URL cannot be used; limits stay in process", "err", err)
		return limits.New(cfg), func() {}
	}
	opt.PoolSize = 16
	opt.MaxRetries = -1
	opt.DialTimeout = 250 * time.Millisecond
	opt.ReadTimeout = 250 * time.Millisecond
	opt.WriteTimeout = 250 * time.Millisecond
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	client := redis.NewClient(opt)
	cfg.Redis = client
	return limits.New(cfg), func() {
		if err := client.Close(); err != nil {
			p.logger.Warn("close limits redis", "err", err)
		}
	}
}

// jobLimits gives bulk each key's caps on running and queued jobs; callers
// that are no key (open mode) have none.
func jobLimits(set *keys.Set) func(caller string) (int, int) {
	if set.Len() == 0 {
		return nil
	}
	return func(caller string) (int, int) {
		k, ok := set.Named(caller)
		if !ok {
			return 0, 0
		}
		return k.MaxRunningJobs, k.MaxQueuedJobs
	}
}

// webhookSecretsDir holds the generated webhook secret of each key that
// has none in the keys file, one file per key name, under the data
// directory, so receivers keep verifying across restarts.
const webhookSecretsDir = "webhook-secrets"

// keyWebhookSecrets gives each keys-file key its own webhook secret: the
// file's webhook_secret, or one generated once and kept in
// <data dir>/webhook-secrets/<name> (0600). Keys of LEADCHECK_API_KEYS
// share the server's secret. The secrets are never logged nor answered by
// the API; the log names the files.
func (p *parts) keyWebhookSecrets(load func(name, path string) (secret string, created bool, where string, err error)) (func(caller string) string, error) {
	secrets := map[string]string{}
	for _, k := range p.keys.Keys() {
		if k.Kind != keys.Secret || k.FromList {
			continue
		}
		if k.WebhookSecret != "" {
			secrets[k.Name] = k.WebhookSecret
			continue
		}
		dir := filepath.Join(p.cfg.DataDir, webhookSecretsDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("webhook secrets: %w (set LEADCHECK_DATA_DIR to a writable directory)", err)
		}
		secret, created, where, err := load("key:"+k.Name, filepath.Join(dir, k.Name))
		if err != nil {
			return nil, fmt.Errorf("webhook secret of key %q: %w", k.Name, err)
		}
		if created {
			p.logger.Info("generated a webhook signing secret for a key; give it to that key's webhook receivers, or set webhook_secret in the keys file", "key", k.Name, "path", where)
		}
		secrets[k.Name] = secret
	}
	if len(secrets) == 0 {
		return nil, nil
	}
	return func(caller string) string { return secrets[caller] }, nil
}
