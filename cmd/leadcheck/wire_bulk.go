package main

import "context"

// bulkSettings are the LEADCHECK_* variables of bulk jobs; settings()
// includes them.
func bulkSettings() []setting { return nil }

// bulkConfig holds the bulk settings (config.Bulk).
type bulkConfig struct{}

// newBulk builds the bulk job service; run, when not nil, owns its
// background work (workers, sweeper, webhooks) until ctx ends.
func (p *parts) newBulk() (run func(ctx context.Context) error, err error) { return nil, nil }
