package validate

import "context"

// Reasons of the SMTP mailbox check (opt-in; see the mailbox package).
const (
	ReasonMailboxNotFound Reason = "mailbox_not_found"
	ReasonMailboxFull     Reason = "mailbox_full"
	ReasonCatchAll        Reason = "catch_all"
	ReasonSMTPUnavailable Reason = "smtp_unavailable"
)

// MailboxStatus is what a mail exchanger told about one recipient, read
// the way the verdict needs it.
type MailboxStatus string

// The mailbox statuses. Only NotFound is definite bad news.
const (
	MailboxDeliverable MailboxStatus = "deliverable" // 250/251 to RCPT TO
	MailboxNotFound    MailboxStatus = "not_found"   // 550/551/553, no such user
	MailboxFull        MailboxStatus = "full"        // 552, 452 4.2.2
	// MailboxUnavailable covers greylisting and other 4xx, timeouts,
	// refused connections, blocks of the prober and proxy failures.
	MailboxUnavailable MailboxStatus = "unavailable"
)

// MailboxAnswer is the outcome of asking a domain's mail exchangers about
// one address.
type MailboxAnswer struct {
	Status MailboxStatus `json:"status"`
	// CatchAll is true when the domain accepted a random local part too, so
	// its acceptance of this address proves nothing.
	CatchAll bool   `json:"catch_all,omitempty"`
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	Host     string `json:"host,omitempty"`
	// Detail says why an unavailable answer is not a verdict.
	Detail string `json:"detail,omitempty"`
}

// MailboxChecker asks a domain's mail exchangers (mx, in preference order;
// empty for the implicit MX) whether they would take local@asciiDomain. It
// answers within ctx: what it could not decide in time is
// MailboxUnavailable. The mailbox package implements it.
type MailboxChecker interface {
	CheckMailbox(ctx context.Context, local, asciiDomain string, mx []MX) MailboxAnswer
}

// SMTPResult is email.smtp in the answer, present when the check was asked
// for.
type SMTPResult struct {
	// Checked is true when a mail exchanger was asked; false when the
	// address or its domain was already decided (bad syntax, no such
	// domain, DNS failure) or the address cannot be asked over SMTP.
	Checked bool `json:"checked"`
	// Deliverable is true when the mail exchanger accepted the recipient
	// at a domain that does not accept every address.
	Deliverable bool `json:"deliverable"`
	// CatchAll is true when the domain accepts any local part.
	CatchAll bool `json:"catch_all"`
	// Code and EnhancedCode are the RCPT TO reply ("550", "5.1.1").
	Code         int    `json:"code,omitempty"`
	EnhancedCode string `json:"enhanced_code,omitempty"`
	// Host is the mail exchanger that answered.
	Host string `json:"host,omitempty"`
}

// WithMailbox returns a copy of the engine that verifies mailboxes over
// SMTP for requests that ask (Request.SMTP). Without it such requests are
// refused by the API and get email.smtp.checked false here.
func (e *Engine) WithMailbox(m MailboxChecker) *Engine {
	c := *e
	c.mailbox = m
	return &c
}

// MailboxEnabled reports whether the engine can verify mailboxes.
func (e *Engine) MailboxEnabled() bool { return e.mailbox != nil }

// checkMailbox adds the SMTP check to an email result whose DNS facts say
// the domain takes mail. The answer can only make the verdict worse, never
// better: a list fact (disposable, role) stays risky even when the mailbox
// exists, and an SMTP failure never hides an invalid.
func (e *Engine) checkMailbox(ctx context.Context, er *EmailResult, addr Address, facts DomainFacts) {
	er.SMTP = &SMTPResult{}
	if e.mailbox == nil || er.Verdict == Invalid || facts.Status != DNSOK || addr.SMTPUTF8 || addr.Quoted {
		return
	}
	a := e.mailbox.CheckMailbox(ctx, addr.Local, addr.ASCIIDomain, facts.MX)
	er.SMTP = &SMTPResult{Checked: true, CatchAll: a.CatchAll, Code: a.Code, EnhancedCode: a.Enhanced, Host: a.Host}
	var v Verdict
	var r Reason
	var msg string
	switch {
	case a.Status == MailboxNotFound:
		v, r, msg = Invalid, ReasonMailboxNotFound, "the mail server says this mailbox does not exist"
	case a.Status == MailboxFull:
		v, r, msg = Risky, ReasonMailboxFull, "the mailbox exists but is full; mail to it bounces for now"
	case a.Status == MailboxDeliverable && a.CatchAll:
		v, r, msg = Risky, ReasonCatchAll, "the domain accepts every address, so the mailbox cannot be confirmed"
	case a.Status == MailboxDeliverable:
		er.SMTP.Deliverable = true
		return
	default:
		msg = a.Detail
		if msg == "" {
			msg = "the mail server could not be asked"
		}
		v, r, msg = Unknown, ReasonSMTPUnavailable, msg+"; the address may be fine, try again later"
	}
	if v.severity() > er.Verdict.severity() {
		er.Verdict, er.Reason, er.Message = v, r, msg
	}
}
