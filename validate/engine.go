// Package validate holds the checks behind every verdict: email syntax and
// normalization, typo suggestions, the disposable/free/role lists, DNS mail
// checks, phone numbers, and the verdict and score of a whole lead. The HTTP
// API and the bulk workers both call Engine.Validate, so a row in a file and
// the same value sent to /v1/validate always get the same verdict.
package validate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/maypok86/otter/v2"
)

// MaxFieldLength bounds any single input field in bytes. Longer values are
// not leads but garbage or attacks, and are refused as bad input rather
// than judged.
const MaxFieldLength = 1024

// DomainChecker gives the DNS mail facts of a domain. The uncached
// implementation is DNSChecker; the cache package wraps it. cached reports
// whether the facts came from a cache.
type DomainChecker interface {
	CheckDomain(ctx context.Context, asciiDomain string) (facts DomainFacts, cached bool)
}

// Request is one lead to validate. At least one of Email, Phone and Domain
// must be set.
type Request struct {
	Email   string
	Phone   string
	Country string // ISO 3166-1 alpha-2; default region for national phone numbers
	Domain  string
	Name    string
	Company string
	// SMTP asks for mailbox verification over SMTP (options.smtp); it
	// needs an engine built WithMailbox.
	SMTP bool
}

// Result is the verdict on a lead. Field names are part of the public API.
type Result struct {
	Verdict Verdict       `json:"verdict"`
	Score   int           `json:"score"`
	Email   *EmailResult  `json:"email,omitempty"`
	Phone   *PhoneResult  `json:"phone,omitempty"`
	Domain  *DomainResult `json:"domain,omitempty"`
	Cached  bool          `json:"cached"`
}

// InputError is a request the engine refuses to judge because the input is
// not a lead at all (missing, absurdly long, control characters). The API
// turns it into a 400 naming Field.
type InputError struct {
	Field   string
	Code    string
	Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

// Engine validates leads. It is safe for concurrent use.
type Engine struct {
	lists   *Lists
	domains DomainChecker
	// suggestions remembers SuggestDomain per domain: leads repeat their
	// domains, and a suggestion costs more than the rest of a cached email
	// check. Bounded, with no expiry: the answer depends on the domain alone.
	suggestions *otter.Cache[string, string]
	// mailbox verifies mailboxes for requests with SMTP; nil: none.
	mailbox MailboxChecker
}

// suggestionsKept bounds the suggestion memo (a few MB at most).
const suggestionsKept = 20_000

// NewEngine returns an Engine that reads the lists and asks domains for DNS
// facts (wrap the checker in the cache package to share facts).
func NewEngine(lists *Lists, domains DomainChecker) *Engine {
	suggestions := otter.Must(&otter.Options[string, string]{
		MaximumSize: suggestionsKept,
		// Upkeep runs on the caller's goroutine: an engine starts none.
		Executor: func(fn func()) { fn() },
	})
	return &Engine{lists: lists, domains: domains, suggestions: suggestions}
}

// suggest is SuggestDomain, remembered.
func (e *Engine) suggest(asciiDomain string) string {
	if s, ok := e.suggestions.GetIfPresent(asciiDomain); ok {
		return s
	}
	s := SuggestDomain(asciiDomain)
	e.suggestions.Set(asciiDomain, s)
	return s
}

// CheckRequest reports the first field that makes r unusable, or nil. It is
// separate from Validate so callers can refuse bad input before doing work.
func CheckRequest(r Request) error {
	if strings.TrimSpace(r.Email) == "" && strings.TrimSpace(r.Phone) == "" && strings.TrimSpace(r.Domain) == "" {
		return &InputError{Field: "email", Code: "missing_field", Message: "give at least one of email, phone or domain"}
	}
	fields := []struct{ name, value string }{
		{"email", r.Email}, {"phone", r.Phone}, {"country", r.Country},
		{"domain", r.Domain}, {"name", r.Name}, {"company", r.Company},
	}
	for _, f := range fields {
		if len(f.value) > MaxFieldLength {
			return &InputError{Field: f.name, Code: "field_too_long",
				Message: fmt.Sprintf("%s is %d bytes; send at most %d", f.name, len(f.value), MaxFieldLength)}
		}
		if !utf8.ValidString(f.value) {
			return &InputError{Field: f.name, Code: "invalid_encoding", Message: f.name + " is not valid UTF-8; send UTF-8 text"}
		}
		if i := strings.IndexFunc(f.value, unicode.IsControl); i >= 0 {
			return &InputError{Field: f.name, Code: "control_character",
				Message: fmt.Sprintf("%s contains a control character at byte %d; remove it", f.name, i)}
		}
	}
	if c := strings.TrimSpace(r.Country); c != "" && !KnownRegion(c) {
		return &InputError{Field: "country", Code: "unknown_country",
			Message: fmt.Sprintf("country %q is not an ISO 3166-1 alpha-2 code we know; send a code such as US, GB or DE", c)}
	}
	return nil
}

// Validate judges a lead. The only error it returns is an *InputError; DNS
// trouble becomes an "unknown" verdict, never an error.
func (e *Engine) Validate(ctx context.Context, r Request) (Result, error) {
	if err := CheckRequest(r); err != nil {
		return Result{}, err
	}
	var res Result
	var verdicts []Verdict
	var scores []int
	dnsFields, cachedFields := 0, 0
	add := func(v Verdict, score int) {
		verdicts = append(verdicts, v)
		scores = append(scores, score)
	}
	if strings.TrimSpace(r.Email) != "" {
		er, cached := e.email(ctx, r.Email, r.SMTP)
		res.Email = &er
		add(er.Verdict, er.Score)
		if er.DNS != nil {
			dnsFields++
			if cached {
				cachedFields++
			}
		}
	}
	if strings.TrimSpace(r.Phone) != "" {
		pr := ValidatePhone(r.Phone, strings.TrimSpace(r.Country))
		res.Phone = &pr
		add(pr.Verdict, pr.Score)
	}
	if strings.TrimSpace(r.Domain) != "" {
		dr, cached := e.domain(ctx, r.Domain)
		res.Domain = &dr
		add(dr.Verdict, dr.Score)
		if dr.DNS != nil {
			dnsFields++
			if cached {
				cachedFields++
			}
		}
	}
	// The lead is as good as its worst field; field scores share one scale
	// (see emailScore), so the minimum keeps score and verdict in step.
	res.Verdict, res.Score = Valid, 100
	for i, v := range verdicts {
		res.Verdict = Worse(res.Verdict, v)
		res.Score = min(res.Score, scores[i])
	}
	// Cached means every DNS answer behind the verdict came from the cache;
	// phone and syntax checks are CPU-only and never cached.
	res.Cached = dnsFields > 0 && cachedFields == dnsFields
	return res, nil
}

// email judges one address: syntax, then lists and DNS facts.
func (e *Engine) email(ctx context.Context, input string, smtp bool) (EmailResult, bool) {
	er := EmailResult{Input: input}
	addr, err := ParseAddress(input)
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			se = &SyntaxError{Reason: ReasonInvalidSyntax, Message: err.Error()}
		}
		er.Verdict, er.Reason, er.Message = Invalid, se.Reason, se.Message
		return er, false
	}
	er.Normalized = addr.Normalized()
	er.Local, er.Domain, er.ASCIIDomain = addr.Local, addr.Domain, addr.ASCIIDomain
	er.Flags = EmailFlags{
		Free:         e.lists.IsFree(addr.ASCIIDomain),
		Disposable:   e.lists.IsDisposable(addr.ASCIIDomain),
		Role:         e.lists.IsRole(addr.Local),
		Subaddressed: addr.Subaddressed,
		SMTPUTF8:     addr.SMTPUTF8,
	}
	if s := e.suggest(addr.ASCIIDomain); s != "" {
		er.DidYouMean = addr.Local + "@" + s
	}
	facts, cached := e.domains.CheckDomain(ctx, addr.ASCIIDomain)
	dns := dnsResult(facts)
	er.DNS = &dns
	er.Verdict, er.Reason, er.Message = mailVerdict(facts)
	// List facts are definite, so they outrank "unknown" but never hide
	// "invalid".
	switch {
	case er.Verdict == Invalid:
	case er.Flags.Disposable:
		er.Verdict, er.Reason, er.Message = Risky, ReasonDisposable, "this is a throwaway address that soon stops working; use a lasting one"
	case addr.Quoted:
		er.Verdict, er.Reason, er.Message = Risky, ReasonQuotedLocalPart, "most mail senders refuse addresses with quotes before the @; use a plain address"
	case er.Flags.Role:
		er.Verdict, er.Reason, er.Message = Risky, ReasonRoleAccount, "the address belongs to a role or team, not a person"
	}
	if smtp {
		e.checkMailbox(ctx, &er, addr, facts)
	}
	er.Score = emailScore(er)
	return er, cached
}

// domain judges a bare domain by whether it can receive mail.
func (e *Engine) domain(ctx context.Context, input string) (DomainResult, bool) {
	dr := DomainResult{Input: input}
	d, err := ParseDomain(input)
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			se = &SyntaxError{Reason: ReasonInvalidDomain, Message: err.Error()}
		}
		dr.Verdict, dr.Reason, dr.Message = Invalid, se.Reason, se.Message
		return dr, false
	}
	dr.Domain, dr.ASCIIDomain = d.Unicode, d.ASCII
	dr.Free = e.lists.IsFree(d.ASCII)
	dr.Disposable = e.lists.IsDisposable(d.ASCII)
	facts, cached := e.domains.CheckDomain(ctx, d.ASCII)
	dns := dnsResult(facts)
	dr.DNS = &dns
	dr.Verdict, dr.Reason, dr.Message = mailVerdict(facts)
	if dr.Verdict != Invalid && dr.Disposable {
		dr.Verdict, dr.Reason, dr.Message = Risky, ReasonDisposable, "the domain hands out throwaway addresses"
	}
	dr.Score = verdictScore(dr.Verdict, dr.Reason)
	return dr, cached
}

// mailVerdict reads DNS facts the way RFC 5321 §5.1 and RFC 7505 say a
// sender would route mail.
func mailVerdict(f DomainFacts) (Verdict, Reason, string) {
	switch {
	case f.Status == DNSNXDomain:
		return Invalid, ReasonNoSuchDomain, "the domain does not exist; check the spelling"
	case f.Status != DNSOK:
		return Unknown, ReasonDNSError, dnsErrorMessage(f.Error)
	case f.NullMX:
		return Invalid, ReasonNullMX, "this domain says it accepts no email; use another address"
	case len(f.MX) > 0, f.HasA || f.HasAAAA:
		return Valid, ReasonOK, ""
	default:
		return Invalid, ReasonNoMailServer, "this domain has no mail server, so it cannot receive email; check the spelling or use another address"
	}
}

func dnsResult(f DomainFacts) DNSResult {
	mx := f.MX
	if mx == nil {
		mx = []MX{}
	}
	return DNSResult{
		Status:     f.Status,
		Error:      f.Error,
		MXFound:    len(f.MX) > 0 && !f.NullMX,
		NullMX:     f.NullMX,
		ImplicitMX: f.Status == DNSOK && len(f.MX) == 0 && (f.HasA || f.HasAAAA),
		MX:         mx,
		SPF:        f.SPF,
		DMARC:      f.DMARC,
	}
}

// verdictScore is the base score of a verdict; see emailScore.
func verdictScore(v Verdict, r Reason) int {
	switch v {
	case Valid:
		return 100
	case Unknown:
		return 50
	case Risky:
		switch r {
		case ReasonDisposable:
			return 10
		case ReasonQuotedLocalPart:
			return 30
		default:
			return 40
		}
	default:
		return 0
	}
}

// emailScore refines the verdict into 0–100. Ranges never overlap, so the
// score sorts leads in verdict order: invalid 0, risky 10–40, unknown 50,
// valid 70–100. A valid address loses points for signs of a weaker lead:
// free provider −10, +tag −5, mail to the implicit MX −5, no SPF −5, no
// DMARC −5.
func emailScore(er EmailResult) int {
	s := verdictScore(er.Verdict, er.Reason)
	if er.Verdict != Valid {
		return s
	}
	if er.Flags.Free {
		s -= 10
	}
	if er.Flags.Subaddressed {
		s -= 5
	}
	if er.DNS != nil {
		if er.DNS.ImplicitMX {
			s -= 5
		}
		if !er.DNS.SPF.Found && !er.DNS.SPF.LookupFailed {
			s -= 5
		}
		if !er.DNS.DMARC.Found && !er.DNS.DMARC.LookupFailed {
			s -= 5
		}
	}
	return s
}
