package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/mailbox"
)

// smtpSettings are the LEADCHECK_SMTP* variables of mailbox verification;
// settings() includes them. LEADCHECK_ALLOW_PRIVATE_NETWORKS, shared with
// webhooks and enrichment, is a core setting.
func smtpSettings() []setting {
	return []setting{
		{"LEADCHECK_SMTP", "", "on enables mailbox verification over SMTP, asked per request with options.smtp, smtp=true or the bulk field smtp=true (default off)", func(c *config, v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "on", "true", "1":
				c.SMTP.Enabled = true
			case "off", "false", "0":
				c.SMTP.Enabled = false
			default:
				return fmt.Errorf("%q is neither on nor off", v)
			}
			return nil
		}},
		{"LEADCHECK_SMTP_PORT", "", "port of the mail exchangers (default 25)", func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 || n > 65535 {
				return fmt.Errorf("%q is not a port number", v)
			}
			c.SMTP.Port = n
			return nil
		}},
		{"LEADCHECK_SMTP_HELO", "", "the EHLO name; it should match the reverse DNS of the sending IP (default localhost)", func(c *config, v string) error { c.SMTP.HELO = v; return nil }},
		{"LEADCHECK_SMTP_FROM", "", "the MAIL FROM address, at a domain whose SPF allows the sending IP (default: the null sender <>)", func(c *config, v string) error { c.SMTP.From = v; return nil }},
		{"LEADCHECK_SMTP_TIMEOUT", "", "time allowed for the connection and for each SMTP reply (default 10s)", durationSetter(func(c *config) *time.Duration { return &c.SMTP.Timeout })},
		{"LEADCHECK_SMTP_PROXY", "", "socks5://host:port to reach port 25 through, where the host network blocks it", func(c *config, v string) error {
			if !strings.HasPrefix(v, "socks5://") {
				return fmt.Errorf("%q is not socks5://host:port", v)
			}
			c.SMTP.Proxy = v
			return nil
		}},
		{"LEADCHECK_SMTP_HOST_CONCURRENCY", "", "SMTP sessions open at once per mail exchanger (default 2)", positiveInt(func(c *config) *int { return &c.SMTP.HostConcurrency })},
		{"LEADCHECK_SMTP_MAX_SESSIONS", "", "SMTP sessions open at once in all (default 64)", positiveInt(func(c *config) *int { return &c.SMTP.MaxSessions })},
		{"LEADCHECK_SMTP_HOST_PAUSE", "", "least time between two sessions at one mail exchanger; 0 for none (default 200ms)", func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("%q is not a duration such as 200ms", v)
			}
			c.SMTP.HostPause = d
			if d == 0 {
				c.SMTP.HostPause = -1 // mailbox.Config reads 0 as "default"
			}
			return nil
		}},
		{"LEADCHECK_SMTP_GREYLIST_BUDGET", "", "how long a bulk job keeps asking again for greylisted addresses before writing them unknown (default 10m)", durationSetter(func(c *config) *time.Duration { return &c.SMTP.GreylistBudget })},
		{"LEADCHECK_SMTP_CACHE_TTL", "", "how long an address's SMTP answer and a domain's catch-all answer are cached (default 24h)", durationSetter(func(c *config) *time.Duration { return &c.SMTP.CacheTTL })},
		{"LEADCHECK_SMTP_ERROR_TTL", "", "how long a failed or greylisted SMTP check is cached, at most 10m (default 1m)", func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > mailbox.MaxErrorTTL {
				return fmt.Errorf("%q is not a duration from 1s to 10m", v)
			}
			c.SMTP.ErrorTTL = d
			return nil
		}},
	}
}

// smtpConfig holds the SMTP settings (config.SMTP). Zero values take the
// mailbox package's defaults.
type smtpConfig struct {
	Enabled         bool
	Port            int
	HELO, From      string
	Timeout         time.Duration
	Proxy           string
	HostConcurrency int
	MaxSessions     int
	HostPause       time.Duration // -1: none
	GreylistBudget  time.Duration
	CacheTTL        time.Duration
	ErrorTTL        time.Duration
}

// newMailbox builds the mailbox checker when LEADCHECK_SMTP is on and gives
// the engine the ability to verify mailboxes; without it the engine (and
// so the API) refuses requests that ask. Answers are cached in a
// cache.Memo (namespace "smtp"), in Redis too when LEADCHECK_REDIS_URL is
// set. It needs p.engine; call it before newBulk. closeMailbox closes what
// it opened.
func (p *parts) newMailbox() error {
	c := p.cfg.SMTP
	if !c.Enabled {
		return nil
	}
	prober, err := mailbox.New(mailbox.Config{
		Port:            c.Port,
		HELO:            c.HELO,
		From:            c.From,
		Timeout:         c.Timeout,
		Proxy:           c.Proxy,
		AllowPrivate:    p.cfg.AllowPrivateNetworks,
		HostConcurrency: c.HostConcurrency,
		MaxSessions:     c.MaxSessions,
		HostPause:       c.HostPause,
		DNSServers:      p.cfg.DNSServers,
		Logger:          p.logger,
	})
	if err != nil {
		return fmt.Errorf("LEADCHECK_SMTP: %w", err)
	}
	ttl := c.CacheTTL
	if ttl == 0 {
		ttl = mailbox.DefaultTTL
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = mailbox.DefaultTimeout
	}
	memo, err := cache.NewMemo(cache.Config{
		Redis:     p.redis,
		RedisURL:  p.cfg.RedisURL,
		KeyPrefix: p.cfg.CachePrefix,
		MaxTTL:    ttl,
		// A load is one session of about eight exchanges (banner, hello,
		// STARTTLS, MAIL, two RCPT, QUIT), each bounded by the timeout; a
		// mail exchanger that takes the full timeout at several steps is
		// not waited for longer than three of them.
		LoadTimeout: 3 * timeout,
		Logger:      p.logger,
	}, "smtp", p.reg)
	if err != nil {
		return fmt.Errorf("smtp cache: %w", err)
	}
	p.smtpMemo = memo
	p.mailbox = mailbox.NewChecker(prober, memo, ttl, c.ErrorTTL)
	p.engine = p.engine.WithMailbox(p.mailbox)
	return nil
}

// closeMailbox closes the SMTP answer cache, aborting probes still running
// in the background.
func (p *parts) closeMailbox() error {
	if p.smtpMemo == nil {
		return nil
	}
	if err := p.smtpMemo.Close(); err != nil {
		return fmt.Errorf("close smtp cache: %w", err)
	}
	return nil
}
