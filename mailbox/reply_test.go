package mailbox

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Reply
	}{
		{"single", "250 2.1.5 Ok\r\n", Reply{Code: 250, Enhanced: "2.1.5", Lines: []string{"Ok"}}},
		{"no enhanced code", "220 mx.acme.com ESMTP\r\n", Reply{Code: 220, Lines: []string{"mx.acme.com ESMTP"}}},
		{"code only", "250\r\n", Reply{Code: 250, Lines: []string{""}}},
		{"bare LF", "550 5.1.1 no such user\n", Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{"no such user"}}},
		{"multi-line EHLO", "250-mx.acme.com\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
			Reply{Code: 250, Lines: []string{"mx.acme.com", "PIPELINING", "STARTTLS"}}},
		{"enhanced on every line", "452-4.2.2 mailbox\r\n452 4.2.2 full\r\n",
			Reply{Code: 452, Enhanced: "4.2.2", Lines: []string{"mailbox", "full"}}},
		{"enhanced of another class is text", "550 4.1.1 odd\r\n", Reply{Code: 550, Lines: []string{"4.1.1 odd"}}},
		{"three-digit subject", "550 5.1.10 recipient address has null MX\r\n",
			Reply{Code: 550, Enhanced: "5.1.10", Lines: []string{"recipient address has null MX"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readReply(bufio.NewReader(strings.NewReader(tt.in)))
			if err != nil {
				t.Fatalf("readReply(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("readReply(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestReadReplyRefusesWhatIsNotSMTP(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"HTTP/1.1 400 Bad Request\r\n",
		"25\r\n",
		"999 nope\r\n",
		"250x\r\n",
		"250-one\r\n251 two\r\n",
		strings.Repeat("250-x\r\n", maxReplyLines+1),
		"250 " + strings.Repeat("a", maxReplyLine) + "\r\n",
	} {
		_, err := readReply(bufio.NewReader(strings.NewReader(in)))
		if !errors.Is(err, errMalformed) {
			t.Errorf("readReply(%.40q) = %v, want errMalformed", in, err)
		}
	}
}

// FuzzReadReply holds the parser to its invariants on any bytes: it never
// panics, and what it accepts is a code from 200 to 599 with at least one
// and at most maxReplyLines lines, and an enhanced code of the reply's class.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"250 2.1.5 Ok\r\n", "250-a\r\n250 b\r\n", "550 5.1.1 x\n", "421\r\n", "220 \xff\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := readReply(bufio.NewReaderSize(strings.NewReader(string(b)), 16))
		if err != nil {
			return
		}
		if rep.Code < 200 || rep.Code > 599 {
			t.Fatalf("code %d accepted", rep.Code)
		}
		if len(rep.Lines) == 0 || len(rep.Lines) > maxReplyLines {
			t.Fatalf("%d lines accepted", len(rep.Lines))
		}
		if rep.Enhanced != "" && int(rep.Enhanced[0]-'0') != rep.Class() {
			t.Fatalf("enhanced code %q in a %d reply", rep.Enhanced, rep.Code)
		}
	})
}
