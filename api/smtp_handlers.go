package api

import (
	"net/http"

	"github.com/leadcheck/leadcheck/validate"
)

// errSMTPDisabled answers a request for mailbox verification on a server
// whose operator has not enabled it.
var errSMTPDisabled = &Error{Status: http.StatusBadRequest, Code: "smtp_disabled", Field: "smtp",
	Message: "mailbox verification over SMTP is not enabled on this server; ask without smtp, or ask the operator to set LEADCHECK_SMTP=on"}

// checkSMTP refuses options.smtp (or smtp=true) when the engine cannot
// verify mailboxes.
func (h handlers) checkSMTP(req validate.Request) error {
	if req.SMTP && !h.s.deps.Engine.MailboxEnabled() {
		return errSMTPDisabled
	}
	return nil
}
