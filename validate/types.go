package validate

import "time"

// Verdict is the one-word answer for a field and for a whole lead. Callers
// branch on it, so the set is closed and its meaning fixed (see PRODUCT.md).
type Verdict string

// The verdicts, from best to worst for a lead.
const (
	Valid   Verdict = "valid"
	Unknown Verdict = "unknown"
	Risky   Verdict = "risky"
	Invalid Verdict = "invalid"
)

// severity orders verdicts so the lead can take the worst of its fields:
// invalid > risky > unknown > valid.
func (v Verdict) severity() int {
	switch v {
	case Invalid:
		return 3
	case Risky:
		return 2
	case Unknown:
		return 1
	default:
		return 0
	}
}

// Worse reports the worse of two verdicts.
func Worse(a, b Verdict) Verdict {
	if b.severity() > a.severity() {
		return b
	}
	return a
}

// Reason is the machine-readable cause behind a verdict. Clients log and
// branch on it, so values are never renamed.
type Reason string

// Reasons shared by every field.
const (
	ReasonOK Reason = "ok"
)

// Email and domain reasons.
const (
	ReasonInvalidSyntax   Reason = "invalid_syntax"
	ReasonTooLong         Reason = "too_long"
	ReasonInvalidDomain   Reason = "invalid_domain"
	ReasonQuotedLocalPart Reason = "quoted_local_part"
	ReasonIPLiteral       Reason = "ip_literal"
	ReasonNoSuchDomain    Reason = "no_such_domain"
	ReasonNullMX          Reason = "null_mx"
	ReasonNoMailServer    Reason = "no_mail_server"
	ReasonDisposable      Reason = "disposable"
	ReasonRoleAccount     Reason = "role_account"
	ReasonDNSError        Reason = "dns_error"
)

// Phone reasons.
const (
	ReasonNotANumber         Reason = "not_a_number"
	ReasonInvalidCountryCode Reason = "invalid_country_code"
	ReasonTooShort           Reason = "too_short"
	ReasonInvalidNumber      Reason = "invalid_number"
	ReasonPremiumRate        Reason = "premium_rate"
	ReasonVoIP               Reason = "voip"
	ReasonSharedCost         Reason = "shared_cost"
	// ReasonCountryNeeded goes with Unknown: a national number and no
	// country to read it in.
	ReasonCountryNeeded Reason = "country_needed"
)

// DNSStatus says whether a domain's mail routing could be decided.
type DNSStatus string

// The DNS outcomes. Only NXDOMAIN is a definite "no"; a failure is never
// read as one.
const (
	DNSOK       DNSStatus = "ok"
	DNSNXDomain DNSStatus = "nxdomain"
	DNSError    DNSStatus = "error"
)

// MX is one mail exchanger of a domain.
type MX struct {
	Host       string `json:"host"`
	Preference uint16 `json:"preference"`
}

// PolicyRecord is what a TXT policy record (SPF or DMARC) says.
type PolicyRecord struct {
	// Found is true when exactly one record of the kind exists.
	Found bool `json:"found"`
	// Record is the raw record text when found.
	Record string `json:"record,omitempty"`
	// Policy is the SPF "all" mechanism with its qualifier ("-all", "~all",
	// "?all", "+all") or the DMARC p= tag ("none", "quarantine", "reject").
	Policy string `json:"policy,omitempty"`
	// LookupFailed is true when the TXT lookup failed (SERVFAIL, timeout):
	// Found=false then means "don't know", not "none".
	LookupFailed bool `json:"lookup_failed,omitempty"`
}

// DomainFacts is everything DNS told us about a domain's mail set-up. It is
// the unit the cache stores: every address at a domain shares it.
type DomainFacts struct {
	Status DNSStatus `json:"status"`
	// Error describes a failed lookup (e.g. "MX: SERVFAIL"); empty otherwise.
	Error   string       `json:"error,omitempty"`
	MX      []MX         `json:"mx"`
	NullMX  bool         `json:"null_mx"`
	HasA    bool         `json:"has_a"`
	HasAAAA bool         `json:"has_aaaa"`
	SPF     PolicyRecord `json:"spf"`
	DMARC   PolicyRecord `json:"dmarc"`
	// TTL is the smallest TTL of the answers (the SOA minimum for negative
	// answers); the cache clamps it to its bounds. Zero when unknown.
	TTL time.Duration `json:"ttl_ns"`
}

// DNSResult is the DNS part of an email or domain result, as clients see it.
type DNSResult struct {
	Status     DNSStatus    `json:"status"`
	Error      string       `json:"error,omitempty"`
	MXFound    bool         `json:"mx_found"`
	NullMX     bool         `json:"null_mx"`
	ImplicitMX bool         `json:"implicit_mx"`
	MX         []MX         `json:"mx"`
	SPF        PolicyRecord `json:"spf"`
	DMARC      PolicyRecord `json:"dmarc"`
}

// EmailFlags are facts about an address reported whatever the verdict.
type EmailFlags struct {
	Free         bool `json:"free"`
	Disposable   bool `json:"disposable"`
	Role         bool `json:"role"`
	Subaddressed bool `json:"subaddressed"`
	SMTPUTF8     bool `json:"smtputf8"`
}

// EmailResult is the verdict on one email address.
type EmailResult struct {
	Input       string     `json:"input"`
	Normalized  string     `json:"normalized,omitempty"`
	Verdict     Verdict    `json:"verdict"`
	Reason      Reason     `json:"reason"`
	Message     string     `json:"message,omitempty"`
	DidYouMean  string     `json:"did_you_mean,omitempty"`
	Local       string     `json:"local,omitempty"`
	Domain      string     `json:"domain,omitempty"`
	ASCIIDomain string     `json:"ascii_domain,omitempty"`
	Flags       EmailFlags `json:"flags"`
	DNS         *DNSResult `json:"dns,omitempty"`
	// SMTP is the mailbox check, when the request asked for it.
	SMTP  *SMTPResult `json:"smtp,omitempty"`
	Score int         `json:"score"`
}

// PhoneResult is the verdict on one phone number.
type PhoneResult struct {
	Input         string  `json:"input"`
	Verdict       Verdict `json:"verdict"`
	Reason        Reason  `json:"reason"`
	Message       string  `json:"message,omitempty"`
	Valid         bool    `json:"valid"`
	Possible      bool    `json:"possible"`
	E164          string  `json:"e164,omitempty"`
	International string  `json:"international,omitempty"`
	National      string  `json:"national,omitempty"`
	Country       string  `json:"country,omitempty"`
	CountryCode   int     `json:"country_code,omitempty"`
	Type          string  `json:"type"`
	Score         int     `json:"score"`
}

// DomainResult is the verdict on a bare domain (can it receive mail?).
type DomainResult struct {
	Input       string     `json:"input"`
	Verdict     Verdict    `json:"verdict"`
	Reason      Reason     `json:"reason"`
	Message     string     `json:"message,omitempty"`
	Domain      string     `json:"domain,omitempty"`
	ASCIIDomain string     `json:"ascii_domain,omitempty"`
	Free        bool       `json:"free"`
	Disposable  bool       `json:"disposable"`
	DNS         *DNSResult `json:"dns,omitempty"`
	Score       int        `json:"score"`
}
