package main

import (
	"fmt"
	"time"
)

// verdictSettings are the LEADCHECK_* variables that keep verdicts honest
// under transient DNS trouble; settings() includes them.
func verdictSettings() []setting {
	return []setting{
		{"LEADCHECK_BULK_DNS_RETRY_BUDGET", "", "how long a bulk job keeps asking again about a domain whose DNS lookup failed before its rows are written as unknown; it may hold the output back that long; 0: no retries (default 15s)", func(c *config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return fmt.Errorf("%q is not a duration such as 15s", v)
			}
			if d == 0 {
				d = -1 // bulk.Config: negative is "no retries", zero the default
			}
			c.Verdicts.BulkDNSRetryBudget = d
			return nil
		}},
	}
}

// verdictsConfig holds the verdict settings (config.Verdicts). Zero values
// mean the defaults named in verdictSettings.
type verdictsConfig struct {
	BulkDNSRetryBudget time.Duration
}
