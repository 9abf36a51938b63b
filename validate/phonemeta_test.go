package validate

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

// regionExample is one of the library's example numbers and the region
// it is the example of ("001" for a non-geographic calling code).
type regionExample struct {
	region string
	number *phonenumbers.PhoneNumber
}

// libraryExamples returns the library's example number of every type in
// every region, and of every non-geographic calling code.
func libraryExamples(t *testing.T) []regionExample {
	t.Helper()
	var examples []regionExample
	for region := range phonenumbers.GetSupportedRegions() {
		for typ := phonenumbers.FIXED_LINE; typ < phonenumbers.UNKNOWN; typ++ {
			if n := phonenumbers.GetExampleNumberForType(region, typ); n != nil {
				examples = append(examples, regionExample{region, n})
			}
		}
	}
	for cc := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		if n := phonenumbers.GetExampleNumberForNonGeoEntity(cc); n != nil {
			examples = append(examples, regionExample{phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY, n})
		}
	}
	if len(examples) < 1000 {
		t.Fatalf("got %d example numbers, want the library's 1,000 or more", len(examples))
	}
	return examples
}

// assertMetadataAgrees checks classify and forms against the library
// functions they stand in for, on one parsed number.
func assertMetadataAgrees(t *testing.T, what string, num *phonenumbers.PhoneNumber) {
	t.Helper()
	cc := int(num.GetCountryCode())
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	region, typ, ok := phoneIndex().classify(cc, nsn)
	if !ok {
		t.Errorf("%s (+%d %s): classify left it to the library, want every region compiled", what, cc, nsn)
		return
	}
	if want := phonenumbers.GetRegionCodeForNumber(num); region != want {
		t.Errorf("%s (+%d %s): region %q, library says %q", what, cc, nsn, region, want)
	}
	if want := phonenumbers.GetNumberType(num); typ != want {
		t.Errorf("%s (+%d %s): type %v, library says %v", what, cc, nsn, typ, want)
	}
	if num.GetExtension() != "" || num.GetNationalNumber() == 0 {
		return
	}
	national, international, ok := phoneIndex().forms(cc, nsn)
	if !ok {
		if len(phonenumbers.GetRegionCodesForCountryCode(cc)) > 0 {
			t.Errorf("%s (+%d %s): forms left it to the library, want every region compiled", what, cc, nsn)
		}
		return
	}
	if want := phonenumbers.Format(num, phonenumbers.NATIONAL); national != want {
		t.Errorf("%s (+%d %s): national %q, library says %q", what, cc, nsn, national, want)
	}
	if want := phonenumbers.Format(num, phonenumbers.INTERNATIONAL); international != want {
		t.Errorf("%s (+%d %s): international %q, library says %q", what, cc, nsn, international, want)
	}
}

// TestPhoneMetadataExamples compares the compiled metadata with the library
// on every example number of every region and type, and on numbers near
// each (one digit changed, dropped or added), which are mostly invalid or
// of another type.
func TestPhoneMetadataExamples(t *testing.T) {
	examples := libraryExamples(t)
	checked := 0
	for _, e := range examples {
		cc := int(e.number.GetCountryCode())
		nsn := phonenumbers.GetNationalSignificantNumber(e.number)
		variants := []string{nsn, nsn[:len(nsn)-1], nsn + "5"}
		for i := range nsn {
			d := (nsn[i]-'0'+3)%10 + '0'
			variants = append(variants, nsn[:i]+string(d)+nsn[i+1:])
		}
		for _, v := range variants {
			num, err := phonenumbers.Parse("+"+strconv.Itoa(cc)+v, "")
			if err != nil {
				continue
			}
			assertMetadataAgrees(t, "example variant", num)
			checked++
		}
	}
	t.Logf("%d example numbers, %d numbers compared", len(examples), checked)
}

// TestPhoneMetadataRandomNumbers compares the compiled metadata with the
// library on random digit strings of every plausible length under every
// calling code, and on national numbers parsed with every region as the
// default, so that national-prefix stripping and shared calling codes are
// covered too.
func TestPhoneMetadataRandomNumbers(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	perCode := 60
	if testing.Short() {
		perCode = 10
	}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for range perCode {
			num, err := phonenumbers.Parse("+"+strconv.Itoa(cc)+digits(4+rng.IntN(12)), "")
			if err == nil {
				assertMetadataAgrees(t, "random", num)
			}
		}
	}
	for region := range phonenumbers.GetSupportedRegions() {
		for range perCode / 3 {
			num, err := phonenumbers.Parse("0"+digits(6+rng.IntN(8)), region)
			if err == nil {
				assertMetadataAgrees(t, "random national in "+region, num)
			}
		}
	}
}

// FuzzPhoneMetadata compares the compiled metadata with the library on
// whatever the library parses.
func FuzzPhoneMetadata(f *testing.F) {
	for _, s := range []struct{ text, region string }{
		{"+1 201 555 0123", ""}, {"(201) 555-0123", "US"}, {"+1 506 234 5678", ""}, {"+1 268 464 1234", ""},
		{"020 7946 0958", "GB"}, {"+44 7400 123456", ""}, {"030 1234567", "DE"}, {"06 12 34 56 78", "FR"},
		{"+91 81234 56789", ""}, {"(11) 96123-4567", "BR"}, {"0412 345 678", "AU"}, {"090-1234-5678", "JP"},
		{"+800 1234 5678", ""}, {"+39 06 1234 5678", ""}, {"+7 912 345 6789", ""}, {"011 44 20 7946 0958", "US"},
		{"+1 800 FLOWERS", ""}, {"+44 20 7946 0958 ext. 12", ""},
	} {
		f.Add(s.text, s.region)
	}
	f.Fuzz(func(t *testing.T, text, region string) {
		num, err := phonenumbers.Parse(text, region)
		if err != nil {
			return
		}
		assertMetadataAgrees(t, strconv.Quote(text)+" in "+strconv.Quote(region), num)
	})
}

// assertParsesLikeLibrary checks parse against phonenumbers.Parse on one
// input: the same number when parse answers, and no answer where the
// library refuses the input.
func assertParsesLikeLibrary(t *testing.T, text, region string) (answered bool) {
	t.Helper()
	got, ok := phoneIndex().parse(text, region)
	want, err := phonenumbers.Parse(text, region)
	switch {
	case ok && err != nil:
		t.Errorf("parse(%q, %q) = %v, library refuses it: %v", text, region, got, err)
	case ok && !proto.Equal(got, want):
		t.Errorf("parse(%q, %q) = %v, library says %v", text, region, got, want)
	}
	return ok
}

// TestPhoneParseAgrees compares parse with the library on every example
// number written the ways forms send it (international, national with its
// region, the calling code without a plus, with the US international
// prefix), on their neighbours, and on random digits with every region.
func TestPhoneParseAgrees(t *testing.T) {
	regions := []string{""}
	for r := range phonenumbers.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	compared, answered := 0, 0
	check := func(text, region string) {
		compared++
		if assertParsesLikeLibrary(t, text, region) {
			answered++
		}
	}
	for _, e := range libraryExamples(t) {
		region, ex := e.region, e.number
		cc := strconv.Itoa(int(ex.GetCountryCode()))
		nsn := phonenumbers.GetNationalSignificantNumber(ex)
		national := compactPhoneText(phonenumbers.Format(ex, phonenumbers.NATIONAL))
		ndd := phonenumbers.GetNddPrefixForRegion(region, true)
		for _, text := range []string{"+" + cc + nsn, cc + nsn, "011" + cc + nsn, "00" + cc + nsn, national, nsn, "0" + nsn, ndd + nsn, cc + ndd + nsn, "+" + cc + "0" + nsn, nsn[:len(nsn)-1], nsn + "7"} {
			check(text, region)
			check(text, "")
			check(text, "US")
		}
	}
	rng := rand.New(rand.NewPCG(3, 5))
	for range 20000 {
		b := make([]byte, 3+rng.IntN(16))
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		text := string(b)
		if rng.IntN(3) == 0 {
			text = "+" + text
		}
		check(text, regions[rng.IntN(len(regions))])
	}
	// Anything else is the library's to parse.
	for _, text := range []string{"", "+", "12", "+12", "201-555-0123", "tel:+12015550123", "+1 201 555 0123", "2015550123x12", "1-800-FLOWERS", "٠١٢٣٤٥٦٧", "＋12015550123"} {
		if _, ok := phoneIndex().parse(text, "US"); ok {
			t.Errorf("parse(%q, US) answered, want it left to the library", text)
		}
	}
	if answered < compared/2 {
		t.Errorf("parse answered %d of %d inputs, want most: it is there for speed", answered, compared)
	}
	t.Logf("%d inputs compared, %d answered without the library", compared, answered)
}

// FuzzPhoneParse compares parse with the library on any text and region.
func FuzzPhoneParse(f *testing.F) {
	for _, s := range []struct{ text, region string }{
		{"+12015550123", ""}, {"2015550123", "US"}, {"12015550123", "US"}, {"12015550123", "CA"},
		{"02079460958", "GB"}, {"+4402079460958", ""}, {"447400123456", "GB"}, {"0301234567", "DE"},
		{"0612345678", "FR"}, {"+918123456789", ""}, {"11961234567", "BR"}, {"0412345678", "AU"},
		{"09012345678", "JP"}, {"+80012345678", ""}, {"+390612345678", ""}, {"0612345678", "IT"},
		{"01144207946095", "US"}, {"0091123", "IN"}, {"+0123456", ""}, {"0000000", "IT"}, {"15491234567", "AR"},
		{"0445512345678", "MX"}, {"+5215512345678", ""}, {"+80012345678", "001"}, {"+80012345678", "ZZ"},
	} {
		f.Add(s.text, s.region)
	}
	f.Fuzz(func(t *testing.T, text, region string) {
		assertParsesLikeLibrary(t, text, region)
	})
}
