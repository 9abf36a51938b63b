package cache

import (
	"context"

	"github.com/leadcheck/leadcheck/validate"
)

// RecheckDomain is CheckDomain after forgetting a DNS failure the
// in-process tier holds for the domain (failures are kept for ErrorTTL and
// never reach Redis). A bulk job calls it to ask again about a domain whose
// lookup failed, instead of getting the same failure back until ErrorTTL
// runs out; good facts are kept and answered from the cache as usual.
func (d *Domains) RecheckDomain(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool) {
	if key := d.cfg.key(asciiDomain); !d.bypass(key) {
		if e, ok := d.local.GetIfPresent(key); ok && e.v.Status == validate.DNSError {
			d.local.Invalidate(key)
		}
	}
	return d.CheckDomain(ctx, asciiDomain)
}
