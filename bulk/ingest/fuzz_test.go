package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// fuzzOptions turns a byte into options, so the fuzzer also explores
// explicit headers, delimiters and small limits.
func fuzzOptions(mode uint8) Options {
	var o Options
	switch mode & 3 {
	case 1:
		o.HasHeader = boolPtr(true)
	case 2:
		o.HasHeader = boolPtr(false)
	}
	o.Delimiter = [4]rune{0, ',', ';', '\t'}[mode>>2&3]
	if mode&16 != 0 {
		o.MaxFieldBytes, o.MaxRecordBytes = 16, 64
	}
	if mode&32 != 0 {
		o.MaxRows = 3
	}
	if mode&64 != 0 {
		o.EmailColumn = "1"
	}
	return o
}

// FuzzScan checks that no input makes Scan panic, and that whatever Scan
// accepts, NewReader reads back exactly: Stats.Rows records, as many ragged
// as counted, without an error.
func FuzzScan(f *testing.F) {
	for _, name := range []string{"crm-export.csv", "excel-semicolon.csv", "leads.ndjson", "leads.json", "emails.txt"} {
		b := fixture(f, name)
		f.Add(b, uint8(0))
		f.Add(gz(f, b), uint8(0))
		f.Add(utf16Bytes(string(b), binary.LittleEndian, true), uint8(0))
	}
	for _, s := range []string{
		"", "\n", "email\n", "a,b\n1,2\n", "a@b.com\r+1 415 555 0100\r", "\"a\nb\",c@d.com\n",
		"[{\"email\":\"a@b.com\"}]", "[ ]", "{\"a\":{\"b\":[1,{}]}}\n{}\n", "x\"y,z\n", ",,\n,\n",
		"\xEF\xBB\xBFemail;phone\r\na@b.com;+49 30 1234567\r\n", "PK\x03\x04", "\x1f\x8b",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(0x55))
	}
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		opts := fuzzOptions(mode)
		l, st, err := Scan(bytes.NewReader(in), opts)
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("Scan: got %T %v, want *Error for bad input", err, err)
			}
			if ie.Code == "" || ie.Message == "" {
				t.Fatalf("Scan: got *Error %+v without code or message", ie)
			}
			return
		}
		if st.Rows <= 0 {
			t.Fatalf("Scan succeeded with %d rows", st.Rows)
		}
		if l.Columns.Email < 0 && l.Columns.Phone < 0 && l.Columns.Domain < 0 {
			t.Fatalf("Scan succeeded without a lead column: %+v", l.Columns)
		}
		for _, r := range l.Columns.roles() {
			if r.idx >= len(l.Header) {
				t.Fatalf("%s column %d out of the header of %d", r.name, r.idx, len(l.Header))
			}
		}
		r, err := NewReader(bytes.NewReader(in), l)
		if err != nil {
			t.Fatalf("NewReader: %v", err)
		}
		n, ragged := 0, 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next after %d of %d records: %v", n, st.Rows, err)
			}
			if rec.Index != n {
				t.Fatalf("got Index %d, want %d", rec.Index, n)
			}
			if (l.Format == JSON || l.Format == NDJSON) && len(rec.Fields) != len(l.Header) {
				t.Fatalf("got %d fields, want %d", len(rec.Fields), len(l.Header))
			}
			if rec.Ragged {
				ragged++
			}
			n++
		}
		if n != st.Rows || ragged != st.RaggedRows {
			t.Fatalf("read %d records (%d ragged), want %d (%d ragged)", n, ragged, st.Rows, st.RaggedRows)
		}
	})
}

// FuzzBounds checks the bounds of Options on any input: what Scan accepts
// stays within every bound when read back (columns, cell bytes, header
// bytes), and a refusal for a bound names it in Error.Limit.
func FuzzBounds(f *testing.F) {
	for _, s := range []string{
		"email,a,b,c,d\nx@y.com,1,2,3,4\n", "email\n" + "a@b.com\n", "aaaaaaaaaaaaaaaa,email\nq,x@y.com\n",
		"[{\"email\":\"a@b.com\",\"k1\":1,\"k2\":2,\"k3\":3}]", "{\"email\":\"a@b.com\",\"kkkkkkkkkkkkkkkkkkkk\":1}\n",
		"email,note\na@b.com,\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n", "email;x;y\n\"a\nb\";1;2\n",
	} {
		f.Add([]byte(s), uint8(3), uint8(16), uint8(24), uint8(64))
	}
	f.Fuzz(func(t *testing.T, in []byte, cols, cell, header, record uint8) {
		o := Options{
			MaxColumns:     int(cols%8) + 1,
			MaxFieldBytes:  int(cell%64) + 1,
			MaxHeaderBytes: int(header%128) + 1,
			MaxRecordBytes: int(record) + 1,
		}
		l, st, err := Scan(bytes.NewReader(in), o)
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("Scan: got %T %v, want *Error", err, err)
			}
			switch ie.Code {
			case CodeTooManyColumns, CodeHeaderTooLong, CodeFieldTooLong, CodeRecordTooLong, CodeTooManyRows:
				if ie.Limit == "" {
					t.Fatalf("Scan: %s refusal without a Limit: %+v", ie.Code, ie)
				}
			}
			return
		}
		if l.HasHeader && (l.Format == CSV || l.Format == TSV || l.Format == JSON || l.Format == NDJSON) {
			if n := headerBytes(l.Header); n > o.MaxHeaderBytes {
				t.Fatalf("accepted a header of %d bytes, limit %d", n, o.MaxHeaderBytes)
			}
		}
		if len(l.Header) > o.MaxColumns {
			t.Fatalf("accepted %d columns, limit %d", len(l.Header), o.MaxColumns)
		}
		r, err := NewReader(bytes.NewReader(in), l)
		if err != nil {
			t.Fatalf("NewReader: %v", err)
		}
		for n := 0; ; n++ {
			rec, err := r.Next()
			if err == io.EOF {
				if n != st.Rows {
					t.Fatalf("read %d rows, Scan counted %d", n, st.Rows)
				}
				return
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if len(rec.Fields) > o.MaxColumns {
				t.Fatalf("row %d has %d fields, limit %d", n, len(rec.Fields), o.MaxColumns)
			}
			for _, v := range rec.Fields {
				if len(v) > o.MaxFieldBytes {
					t.Fatalf("row %d has a %d-byte value, limit %d", n, len(v), o.MaxFieldBytes)
				}
			}
		}
	})
}
