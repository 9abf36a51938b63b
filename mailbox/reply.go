package mailbox

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Reply limits. RFC 5321 §4.5.3.1.5 bounds a reply line at 512 octets; a
// server may be generous, so twice that is read before the reply is called
// malformed. A multi-line reply (EHLO lists its extensions) of more than
// maxReplyLines lines is not a mail server talking.
const (
	maxReplyLine  = 1024
	maxReplyLines = 64
)

// errMalformed reports a reply that is not SMTP.
var errMalformed = errors.New("malformed SMTP reply")

// Reply is one SMTP reply: the three-digit code, the RFC 3463 enhanced
// status code when the server sent one ("5.1.1"), and the text of each line
// without code or enhanced code.
type Reply struct {
	Code     int
	Enhanced string
	Lines    []string
}

// Text is the reply's text on one line, for error details. It may hold the
// probed address, so it is never logged.
func (r Reply) Text() string { return strings.Join(r.Lines, " ") }

// Class is the first digit of the code: 2 success, 4 temporary, 5 permanent.
func (r Reply) Class() int { return r.Code / 100 }

// readReply reads one reply, single- or multi-line (RFC 5321 §4.2.1: every
// line but the last has a '-' after the code, and all carry the same code).
func readReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	for n := 0; ; n++ {
		if n == maxReplyLines {
			return Reply{}, fmt.Errorf("%w: more than %d lines", errMalformed, maxReplyLines)
		}
		line, err := readLine(r)
		if err != nil {
			return Reply{}, err
		}
		code, more, text, err := parseReplyLine(line)
		if err != nil {
			return Reply{}, err
		}
		if n == 0 {
			rep.Code = code
		} else if code != rep.Code {
			return Reply{}, fmt.Errorf("%w: code %d inside a %d reply", errMalformed, code, rep.Code)
		}
		enhanced, rest := splitEnhanced(text, rep.Class())
		if n == 0 {
			rep.Enhanced = enhanced
		}
		if enhanced != "" && enhanced == rep.Enhanced {
			text = rest
		}
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep, nil
		}
	}
}

// readLine reads one CRLF- (or bare LF-) terminated line of at most
// maxReplyLine bytes, without its terminator.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > maxReplyLine {
			return "", fmt.Errorf("%w: a line longer than %d bytes", errMalformed, maxReplyLine)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// parseReplyLine splits "250-text", "250 text" or "250" into the code,
// whether more lines follow, and the text.
func parseReplyLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", fmt.Errorf("%w: line too short", errMalformed)
	}
	for i := range 3 {
		if line[i] < '0' || line[i] > '9' {
			return 0, false, "", fmt.Errorf("%w: no reply code", errMalformed)
		}
	}
	code, _ = strconv.Atoi(line[:3])
	if code < 200 || code > 599 {
		return 0, false, "", fmt.Errorf("%w: reply code %d out of range", errMalformed, code)
	}
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, "", fmt.Errorf("%w: no separator after the code", errMalformed)
	}
	return code, more, strings.TrimSpace(line[4:]), nil
}

// splitEnhanced takes an RFC 3463 enhanced status code ("5.1.1") off the
// front of text when its class matches the reply's; it returns "" and text
// otherwise.
func splitEnhanced(text string, class int) (enhanced, rest string) {
	word, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(word, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || int(parts[0][0]-'0') != class {
		return "", text
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 {
			return "", text
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return "", text
			}
		}
	}
	return word, strings.TrimSpace(rest)
}
