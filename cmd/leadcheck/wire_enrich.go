package main

// enrichSettings are the LEADCHECK_* variables of enrichment; settings()
// includes them.
func enrichSettings() []setting { return nil }

// enrichConfig holds the enrichment settings (config.Enrich).
type enrichConfig struct{}

// newEnricher builds the enricher behind /v1/enrich and options.enrich.
func (p *parts) newEnricher() error { return nil }
