package bulk

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/enrich"
	"github.com/leadcheck/leadcheck/validate"
)

// stdValueEncoder is how rowEncoder encoded the result and the enrichment
// of a row before it used go-json: encoding/json's Encoder with HTML
// escaping off (as newRowEncoder had it), into a scratch buffer, without
// the newline. It is the reference the tests hold rowEncoder.appendValue
// to, and the baseline of BenchmarkAppendNDJSON.
type stdValueEncoder struct {
	scratch bytes.Buffer
	enc     *json.Encoder
}

func newStdValueEncoder() *stdValueEncoder {
	s := &stdValueEncoder{}
	s.enc = json.NewEncoder(&s.scratch)
	s.enc.SetEscapeHTML(false)
	return s
}

func (s *stdValueEncoder) appendValue(dst []byte, v any) ([]byte, error) {
	s.scratch.Reset()
	if err := s.enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(s.scratch.Bytes(), []byte{'\n'})...), nil
}

// ndjsonStrings are the string values the compatibility tests put in every
// string field: what JSON escapes (quotes, backslashes, control
// characters), what encoding/json escapes beyond JSON (U+2028, U+2029,
// invalid UTF-8, which it replaces with \ufffd) or only with HTML escaping
// on (<>&, which must stay as they are), and valid non-ASCII, short and
// long (past the 8- and 16-byte blocks fast encoders scan at once).
var ndjsonStrings = []string{
	"",
	"a",
	"jane.doe@acme.com",
	`say "hi"`,
	`C:\path\to\file`,
	`\"`,
	"\x00",
	"\x01\x02\x1f\x7f",
	"\b\f\n\r\t",
	"tab\there\nnewline\r\n",
	"<script>alert('x')</script>&amp;",
	"\u2028",
	"\u2029",
	"line\u2028separator\u2029paragraph",
	"\xff",
	"\xc3",
	"a\xc3(b",
	"\xed\xa0\x80",     // a UTF-16 surrogate, encoded: invalid UTF-8
	"\xf4\x90\x80\x80", // past U+10FFFF
	"\xc0\xaf",         // overlong '/'
	"\ufffd",
	"é",
	"müller@bücher.de",
	"日本語のテキスト",
	"🎉 party",
	"\u200bzero\u200dwidth\ufeff",
	"abcdefgh<>&\u2028ijklmnop\xffqrstuvwxyz\"\\\x00end",
	strings.Repeat("x", 300) + "\"",
	strings.Repeat("ü\u2029", 40),
}

var allVerdictValues = []validate.Verdict{validate.Valid, validate.Unknown, validate.Risky, validate.Invalid, ""}

// ndjsonResults builds results of every shape a row can have: each verdict,
// each of email, phone and domain present or not, DNS facts absent, empty
// or full, and s in every string field.
func ndjsonResults(s string) []validate.Result {
	dnsVariants := []*validate.DNSResult{
		nil,
		{},
		{Status: validate.DNSNXDomain, MX: []validate.MX{}},
		{Status: validate.DNSError, Error: s, SPF: validate.PolicyRecord{LookupFailed: true}, DMARC: validate.PolicyRecord{LookupFailed: true}},
		{Status: validate.DNSStatus(s), Error: s, MXFound: true, NullMX: true, ImplicitMX: true,
			MX:    []validate.MX{{Host: s, Preference: 0}, {Host: "mx2." + s, Preference: 10}, {Host: "", Preference: math.MaxUint16}},
			SPF:   validate.PolicyRecord{Found: true, Record: s, Policy: s},
			DMARC: validate.PolicyRecord{Found: true, Record: "v=DMARC1; p=reject", Policy: "reject"}},
	}
	var out []validate.Result
	for vi, v := range allVerdictValues {
		for mask := range 8 {
			dns := dnsVariants[(vi+mask)%len(dnsVariants)]
			r := validate.Result{Verdict: v, Score: vi*25 - 1, Cached: mask%2 == 0}
			if mask&1 != 0 {
				r.Email = &validate.EmailResult{Input: s, Normalized: s, Verdict: v, Reason: validate.Reason(s), Message: s,
					DidYouMean: s, Local: s, Domain: s, ASCIIDomain: s, DNS: dns, Score: mask * 10,
					Flags: validate.EmailFlags{Free: mask&2 != 0, Disposable: mask&4 != 0, Role: true, Subaddressed: vi%2 == 0, SMTPUTF8: vi%2 == 1}}
			}
			if mask&2 != 0 {
				r.Phone = &validate.PhoneResult{Input: s, Verdict: v, Reason: validate.ReasonVoIP, Message: s, Valid: true, Possible: mask&4 != 0,
					E164: s, International: s, National: s, Country: s, CountryCode: vi * 11, Type: s, Score: -5}
			}
			if mask&4 != 0 {
				r.Domain = &validate.DomainResult{Input: s, Verdict: v, Reason: validate.ReasonNoSuchDomain, Message: s,
					Domain: s, ASCIIDomain: s, Free: mask&1 != 0, Disposable: true, DNS: dns, Score: 100}
			}
			out = append(out, r)
		}
	}
	// Empty strings everywhere, which omitempty drops.
	out = append(out, validate.Result{Email: &validate.EmailResult{}, Phone: &validate.PhoneResult{}, Domain: &validate.DomainResult{DNS: &validate.DNSResult{}}})
	return out
}

// ndjsonEnrichments builds enrichment values the way bulk rows carry them,
// with s in every string field (map keys included, so their order is
// tested), the parts absent or present, and local times in a few zones and
// precisions.
func ndjsonEnrichments(s string) []*enrich.Enrichment {
	at := time.Date(2026, 3, 1, 9, 5, 7, 0, time.UTC)
	times := []time.Time{
		at,
		at.Add(123 * time.Millisecond).In(time.FixedZone("EST", -5*3600)),
		at.Add(123456789).In(time.FixedZone("IST", 5*3600+30*60)),
		at.Add(1).In(time.FixedZone("NPT", 5*3600+45*60)),
		at.In(time.FixedZone(s, -(3*3600 + 30*60))),
	}
	confidences := []float64{0, 0.25, 0.5, 0.7, 0.85, 1, 1.0 / 3, 2.0 / 3, 1e-6, 1e-7, 123456.789, 1e20, 1e21, math.SmallestNonzeroFloat64}
	var out []*enrich.Enrichment
	for i, lt := range times {
		full := &enrich.Enrichment{
			Mail: &enrich.Mail{Domain: s, Provider: s, ProviderName: s, SecurityGateway: s, SPF: s, DMARC: s,
				Free: i%2 == 0, Disposable: i%3 == 0, Role: i%2 == 1},
			Company: &enrich.Company{Domain: s, URL: s, Name: s, Description: s, Logo: s, Language: s,
				Social: map[string]string{"linkedin": s, "x": "https://x.com/acme", s: "", "facebook" + s: s, "b": s, "a": "z"}},
			Person: &enrich.Person{FirstName: s, LastName: s, FullName: s, Confidence: confidences[i]},
			Phone:  &enrich.Phone{Carrier: s, Region: s, TimeZones: []string{s, "America/New_York", ""}, LocalTime: &lt},
			Missing: []enrich.Gap{
				{Part: enrich.PartCompany, Reason: enrich.GapNoWebsite, Message: s},
				{Part: s, Reason: s, Message: "the domain " + s + " has no web site"},
			},
			Cached: i%2 == 1,
		}
		out = append(out, full)
	}
	for _, c := range confidences {
		out = append(out, &enrich.Enrichment{Person: &enrich.Person{FullName: s, Confidence: c}, Missing: []enrich.Gap{}})
	}
	out = append(out,
		&enrich.Enrichment{},
		&enrich.Enrichment{Missing: []enrich.Gap{}},
		&enrich.Enrichment{Mail: &enrich.Mail{}, Company: &enrich.Company{Social: map[string]string{}}, Person: &enrich.Person{},
			Phone: &enrich.Phone{TimeZones: []string{}}, Missing: []enrich.Gap{{}}},
		&enrich.Enrichment{Company: &enrich.Company{Domain: s, Social: map[string]string{s: s}}, Phone: &enrich.Phone{Carrier: s}},
	)
	return out
}

// checkSameAsStd fails t when e encodes v to other bytes than encoding/json
// does, or fails where it does not.
func checkSameAsStd(t *testing.T, e *rowEncoder, ref *stdValueEncoder, v any) {
	t.Helper()
	want, wantErr := ref.appendValue([]byte("prefix:"), v)
	got, err := e.appendValue([]byte("prefix:"), v)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%#v: error %v, encoding/json's %v", v, err, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%#v:\ngot  %s\nwant %s", v, got, want)
	}
}

// TestNDJSONValueMatchesStdlib: the result and enrichment JSON of an NDJSON
// line are the bytes encoding/json writes (HTML escaping off), so results
// files stay the same as before go-json.
func TestNDJSONValueMatchesStdlib(t *testing.T) {
	t.Parallel()
	e := newRowEncoder([]string{"email"}, true)
	ref := newStdValueEncoder()
	n := 0
	for _, s := range ndjsonStrings {
		for _, r := range ndjsonResults(s) {
			// appendRow passes a pointer; a value must encode the same.
			checkSameAsStd(t, e, ref, &r)
			checkSameAsStd(t, e, ref, r)
			n++
		}
		for _, en := range ndjsonEnrichments(s) {
			checkSameAsStd(t, e, ref, en)
			n++
		}
	}
	checkSameAsStd(t, e, ref, (*enrich.Enrichment)(nil))
	t.Logf("%d values", n)
}

// TestNDJSONValueErrors: what encoding/json refuses to encode, the encoder
// refuses too (the job then fails rather than write a line encoding/json
// would not have).
func TestNDJSONValueErrors(t *testing.T) {
	t.Parallel()
	e := newRowEncoder(nil, true)
	ref := newStdValueEncoder()
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, v := range []*enrich.Enrichment{
		{Person: &enrich.Person{Confidence: math.NaN()}},
		{Person: &enrich.Person{Confidence: math.Inf(1)}},
		{Phone: &enrich.Phone{LocalTime: &far}},
	} {
		if _, err := ref.appendValue(nil, v); err == nil {
			t.Fatalf("encoding/json encodes %#v", v)
		}
		dst := []byte("kept")
		got, err := e.appendValue(dst, v)
		if err == nil || string(got) != "kept" {
			t.Errorf("%#v: got %q, %v; want the line untouched and an error", v, got, err)
		}
	}
}

// FuzzNDJSONValue: for any strings in the fields of a result and an
// enrichment, the encoder writes what encoding/json writes.
func FuzzNDJSONValue(f *testing.F) {
	for i, s := range ndjsonStrings {
		f.Add(s, ndjsonStrings[(i+1)%len(ndjsonStrings)], "<"+s+">", float64(i)/7, i*1000, int64(1_772_355_907_123_456_789))
	}
	f.Fuzz(func(t *testing.T, a, b, c string, confidence float64, n int, unixNano int64) {
		e := newRowEncoder(nil, true)
		ref := newStdValueEncoder()
		dns := &validate.DNSResult{Status: validate.DNSStatus(a), Error: b, MXFound: n%2 == 0,
			MX:  []validate.MX{{Host: c, Preference: uint16(n)}, {Host: a + b}},
			SPF: validate.PolicyRecord{Found: true, Record: a, Policy: b}, DMARC: validate.PolicyRecord{Record: c}}
		r := validate.Result{Verdict: validate.Verdict(a), Score: n, Cached: n%3 == 0,
			Email:  &validate.EmailResult{Input: a, Normalized: b, Verdict: validate.Verdict(c), Reason: validate.Reason(a), Message: b, DidYouMean: c, Local: a, Domain: b, ASCIIDomain: c, DNS: dns, Score: n},
			Phone:  &validate.PhoneResult{Input: c, Verdict: validate.Verdict(b), Reason: validate.Reason(c), Message: a, E164: b, International: c, National: a, Country: b, CountryCode: n, Type: c},
			Domain: &validate.DomainResult{Input: b, Verdict: validate.Verdict(a), Message: c, Domain: a, ASCIIDomain: b, DNS: dns}}
		checkSameAsStd(t, e, ref, &r)
		// Any instant, in a zone whose offset is whole minutes as real ones
		// are (RFC 3339 offsets have no seconds).
		lt := time.Unix(0, unixNano).In(time.FixedZone(c, (n%(24*60))*60))
		en := &enrich.Enrichment{
			Mail:    &enrich.Mail{Domain: a, Provider: b, ProviderName: c, SecurityGateway: a, SPF: b, DMARC: c, Free: n%2 == 0},
			Company: &enrich.Company{Domain: a, URL: b, Name: c, Description: a + b + c, Logo: b, Language: c, Social: map[string]string{a: b, b: c, c: a, "linkedin": a}},
			Person:  &enrich.Person{FirstName: a, LastName: b, FullName: c, Confidence: confidence},
			Phone:   &enrich.Phone{Carrier: a, Region: b, TimeZones: []string{c, a}, LocalTime: &lt},
			Missing: []enrich.Gap{{Part: a, Reason: b, Message: c}},
		}
		checkSameAsStd(t, e, ref, en)
	})
}

// benchOutcomes are rows as a bulk job writes them: an email and a phone
// that validated, with the domain's DNS facts, and the same row with
// enrichment.
func benchOutcomes() (plain, enriched *rowOutcome) {
	dns := &validate.DNSResult{Status: validate.DNSOK, MXFound: true, MX: []validate.MX{{Host: "mx.d1234.bench", Preference: 10}},
		SPF: validate.PolicyRecord{Found: true, Record: "v=spf1 mx -all", Policy: "-all"}}
	res := validate.Result{Verdict: validate.Valid, Score: 95,
		Email: &validate.EmailResult{Input: "lead1234@d1234.bench", Normalized: "lead1234@d1234.bench", Verdict: validate.Valid, Reason: validate.ReasonOK,
			Local: "lead1234", Domain: "d1234.bench", ASCIIDomain: "d1234.bench", DNS: dns, Score: 95},
		Phone: &validate.PhoneResult{Input: "+1 415 555 1234", Verdict: validate.Valid, Reason: validate.ReasonOK, Valid: true, Possible: true,
			E164: "+14155551234", International: "+1 415-555-1234", National: "(415) 555-1234", Country: "US", CountryCode: 1, Type: "fixed_line_or_mobile", Score: 100},
	}
	plain = &rowOutcome{number: 1234, record: ingest.Record{Line: 1235, Fields: []string{"lead1234@d1234.bench", "+1 415 555 1234", "Jane Doe 1234"}}, result: res}
	lt := time.Date(2026, 3, 1, 9, 5, 7, 123456789, time.FixedZone("PST", -8*3600))
	enriched = &rowOutcome{number: plain.number, record: plain.record, result: res, enrichment: &enrich.Enrichment{
		Mail:    &enrich.Mail{Domain: "d1234.bench", Provider: "other", ProviderName: "Other", SPF: "-all", DMARC: "missing"},
		Person:  &enrich.Person{FirstName: "Jane", LastName: "Doe", FullName: "Jane Doe", Confidence: 0.7},
		Phone:   &enrich.Phone{Region: "US", TimeZones: []string{"America/Los_Angeles"}, LocalTime: &lt},
		Missing: []enrich.Gap{{Part: enrich.PartCompany, Reason: enrich.GapNoWebsite, Message: "no web server answered at the domain"}},
	}}
	return plain, enriched
}

// BenchmarkAppendNDJSON compares, per row, encoding the JSON values of an
// NDJSON line (the result, and the enrichment when there is one) with
// encoding/json as rowEncoder did before ("encoding_json": the result
// passed by value, through an Encoder into a scratch buffer) and with
// rowEncoder.appendValue ("go-json"), and times whole lines ("line").
//
//	go test ./bulk/ -run '^$' -bench AppendNDJSON -benchmem -count 6
func BenchmarkAppendNDJSON(b *testing.B) {
	plain, enriched := benchOutcomes()
	for _, row := range []struct {
		name string
		o    *rowOutcome
	}{{"plain", plain}, {"enriched", enriched}} {
		withEnrich := row.o.enrichment != nil
		b.Run(row.name+"/encoding_json", func(b *testing.B) {
			ref := newStdValueEncoder()
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = ref.appendValue(dst[:0], row.o.result); err != nil {
					b.Fatal(err)
				}
				if withEnrich {
					if dst, err = ref.appendValue(dst, row.o.enrichment); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(row.name+"/go-json", func(b *testing.B) {
			e := newRowEncoder([]string{"email", "phone", "name"}, withEnrich)
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = e.appendValue(dst[:0], &row.o.result); err != nil {
					b.Fatal(err)
				}
				if withEnrich {
					if dst, err = e.appendValue(dst, row.o.enrichment); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(row.name+"/line", func(b *testing.B) {
			e := newRowEncoder([]string{"email", "phone", "name"}, withEnrich)
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = e.appendRow(dst[:0], row.o); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(dst)))
		})
	}
}

// TestBenchOutcomesMatchStdlib keeps the benchmark's rows honest: they
// encode as encoding/json encodes them.
func TestBenchOutcomesMatchStdlib(t *testing.T) {
	t.Parallel()
	plain, enriched := benchOutcomes()
	e := newRowEncoder(nil, true)
	ref := newStdValueEncoder()
	for _, o := range []*rowOutcome{plain, enriched} {
		checkSameAsStd(t, e, ref, &o.result)
		if o.enrichment != nil {
			checkSameAsStd(t, e, ref, o.enrichment)
		}
	}
}
