package validate

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nyaruka/phonenumbers"
)

// phoneRow is one hand-checked expectation, written positionally so that a
// row fits on one line. Message is checked by the invariants and by
// TestValidatePhoneMessage, not here.
type phoneRow struct {
	input, region   string
	verdict         Verdict
	reason          Reason
	score           int
	typ             string
	valid, possible bool
	e164, intl, nat string
	country         string
	countryCode     int
}

func (r phoneRow) want() PhoneResult {
	return PhoneResult{
		Input: r.input, Verdict: r.verdict, Reason: r.reason, Score: r.score, Type: r.typ,
		Valid: r.valid, Possible: r.possible, E164: r.e164, International: r.intl, National: r.nat,
		Country: r.country, CountryCode: r.countryCode,
	}
}

func TestValidatePhone(t *testing.T) {
	t.Parallel()
	rows := []phoneRow{
		// United States. 555-0100 to 555-0199 are reserved for fiction, but
		// the metadata does not single them out, so they are valid numbers.
		{"(201) 555-0123", "US", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+12015550123", "+1 201-555-0123", "(201) 555-0123", "US", 1},
		{"+1 415 555 0100", "", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+14155550100", "+1 415-555-0100", "(415) 555-0100", "US", 1},
		{"415.555.0199", "us", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+14155550199", "+1 415-555-0199", "(415) 555-0199", "US", 1},
		{"1-800-FLOWERS", "US", Valid, ReasonOK, 80, "toll_free", true, true, "+18003569377", "+1 800-356-9377", "(800) 356-9377", "US", 1},
		{"+1 900 234 5678", "", Risky, ReasonPremiumRate, 15, "premium_rate", true, true, "+19002345678", "+1 900-234-5678", "(900) 234-5678", "US", 1},
		{"+1 500 234 5678", "", Valid, ReasonOK, 100, "personal_number", true, true, "+15002345678", "+1 500-234-5678", "(500) 234-5678", "US", 1},
		{"555 0100", "US", Invalid, ReasonInvalidNumber, 0, "unknown", false, true, "+15550100", "+1 5550100", "555-0100", "", 1},
		{"+1 415 555 010", "", Invalid, ReasonTooShort, 0, "unknown", false, false, "", "", "", "", 1},
		{"+1 415 555 01000", "", Invalid, ReasonTooLong, 0, "unknown", false, false, "", "", "", "", 1},
		{"+1 123 456 7890", "", Invalid, ReasonInvalidNumber, 0, "unknown", false, true, "+11234567890", "+1 1234567890", "1234567890", "", 1},
		{"tel:+1-201-555-0123", "", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+12015550123", "+1 201-555-0123", "(201) 555-0123", "US", 1},
		{"+1 201 555 0123 ext. 45", "", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+12015550123", "+1 201-555-0123 ext. 45", "(201) 555-0123 ext. 45", "US", 1},
		{"201 555 0123 x45", "US", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+12015550123", "+1 201-555-0123 ext. 45", "(201) 555-0123 ext. 45", "US", 1},
		{"011 44 20 7946 0958", "US", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		// National forms without a country cannot be read: unknown, never
		// invalid. Short digit strings are no different.
		{"4155550100", "", Unknown, ReasonCountryNeeded, 50, "unknown", false, false, "", "", "", "", 0},
		{"(415) 555-0132", "", Unknown, ReasonCountryNeeded, 50, "unknown", false, false, "", "", "", "", 0},
		{"  (415) 555-0132 ", " ", Unknown, ReasonCountryNeeded, 50, "unknown", false, false, "", "", "", "", 0},
		{"tel:415-555-0132", "", Unknown, ReasonCountryNeeded, 50, "unknown", false, false, "", "", "", "", 0},
		{"12", "", Unknown, ReasonCountryNeeded, 50, "unknown", false, false, "", "", "", "", 0},
		{"12", "US", Invalid, ReasonTooShort, 0, "unknown", false, false, "", "", "", "", 1},
		// Text before the number is skipped; letters after it are read as
		// vanity letters and make the number too long.
		{"phone: 201-555-0123", "US", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+12015550123", "+1 201-555-0123", "(201) 555-0123", "US", 1},
		{"call 201-555-0123 today", "US", Invalid, ReasonTooLong, 0, "unknown", false, false, "", "", "", "", 1},

		// Canada shares +1 with the US; the number decides the country.
		{"(506) 234-5678", "CA", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+15062345678", "+1 506-234-5678", "(506) 234-5678", "CA", 1},
		{"+1 506 234 5678", "US", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+15062345678", "+1 506-234-5678", "(506) 234-5678", "CA", 1},
		{"506 234 5678", "US", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+15062345678", "+1 506-234-5678", "(506) 234-5678", "CA", 1},
		{"+1 613 555 0123", "", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+16135550123", "+1 613-555-0123", "(613) 555-0123", "CA", 1},
		{"+1 600 201 2345", "", Risky, ReasonVoIP, 30, "voip", true, true, "+16002012345", "+1 600-201-2345", "(600) 201-2345", "CA", 1},

		// United Kingdom. 020 7946 0xxx is a range set aside for drama.
		{"+44 20 7946 0958", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		{"020 7946 0958", "GB", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		{"020 7946 0958", " gb ", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		{"07400 123456", "GB", Valid, ReasonOK, 100, "mobile", true, true, "+447400123456", "+44 7400 123456", "07400 123456", "GB", 44},
		{"+44 (0) 7400 123456", "", Valid, ReasonOK, 100, "mobile", true, true, "+447400123456", "+44 7400 123456", "07400 123456", "GB", 44},
		{"0800 123 4567", "GB", Valid, ReasonOK, 80, "toll_free", true, true, "+448001234567", "+44 800 123 4567", "0800 123 4567", "GB", 44},
		{"0901 234 5678", "GB", Risky, ReasonPremiumRate, 15, "premium_rate", true, true, "+449012345678", "+44 901 234 5678", "0901 234 5678", "GB", 44},
		{"0845 464 0000", "GB", Risky, ReasonPremiumRate, 15, "premium_rate", true, true, "+448454640000", "+44 845 464 0000", "0845 464 0000", "GB", 44},
		{"056 1234 5678", "GB", Risky, ReasonVoIP, 30, "voip", true, true, "+445612345678", "+44 56 1234 5678", "056 1234 5678", "GB", 44},
		{"070 1234 5678", "GB", Valid, ReasonOK, 100, "personal_number", true, true, "+447012345678", "+44 70 1234 5678", "070 1234 5678", "GB", 44},
		{"076 4012 3456", "GB", Valid, ReasonOK, 80, "pager", true, true, "+447640123456", "+44 76 4012 3456", "076 4012 3456", "GB", 44},
		{"055 1234 5678", "GB", Valid, ReasonOK, 80, "uan", true, true, "+445512345678", "+44 55 1234 5678", "055 1234 5678", "GB", 44},
		{"020 7946 095", "GB", Invalid, ReasonInvalidNumber, 0, "unknown", false, true, "+44207946095", "+44 207946095", "207946095", "", 44},
		{"020 7946 09588", "GB", Invalid, ReasonTooLong, 0, "unknown", false, false, "", "", "", "", 44},
		{"+44 20 7946 0958 ext. 123", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958 x123", "020 7946 0958 x123", "GB", 44},
		{"\uff0b\uff14\uff14 \uff12\uff10 \uff17\uff19\uff14\uff16 \uff10\uff19\uff15\uff18", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		// International forms override the default region, "00" works
		// without a region and wherever it is the international prefix.
		{"+44 20 7946 0958", "DE", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		{"0044 20 7946 0958", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		{"0044 20 7946 0958", "DE", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		// Default regions the library does not know, and none at all.
		{"+44 20 7946 0958", "ZZ", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},
		{"020 7946 0958", "ZZ", Invalid, ReasonInvalidCountryCode, 0, "unknown", false, false, "", "", "", "", 0},
		{"020 7946 0958", "UK", Invalid, ReasonInvalidCountryCode, 0, "unknown", false, false, "", "", "", "", 0},
		{"020 7946 0958", "", Unknown, ReasonCountryNeeded, 50, "unknown", false, false, "", "", "", "", 0},

		// Germany.
		{"030 1234567", "DE", Valid, ReasonOK, 100, "fixed_line", true, true, "+49301234567", "+49 30 1234567", "030 1234567", "DE", 49},
		{"+49 30 1234567", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+49301234567", "+49 30 1234567", "030 1234567", "DE", 49},
		{"0049 30 1234567", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+49301234567", "+49 30 1234567", "030 1234567", "DE", 49},
		{"0049 30 1234567", "GB", Valid, ReasonOK, 100, "fixed_line", true, true, "+49301234567", "+49 30 1234567", "030 1234567", "DE", 49},
		// 00 is not the US international prefix (011 is), so this is read
		// as a US national number.
		{"0049 30 1234567", "US", Invalid, ReasonTooLong, 0, "unknown", false, false, "", "", "", "", 1},
		{"01512 3456789", "DE", Valid, ReasonOK, 100, "mobile", true, true, "+4915123456789", "+49 1512 3456789", "01512 3456789", "DE", 49},
		{"0900 1 234567", "DE", Risky, ReasonPremiumRate, 15, "premium_rate", true, true, "+499001234567", "+49 900 1 234567", "0900 1 234567", "DE", 49},
		{"0180 1 2345", "DE", Risky, ReasonSharedCost, 35, "shared_cost", true, true, "+4918012345", "+49 180 1 2345", "0180 1 2345", "DE", 49},
		{"0700 1234 5678", "DE", Valid, ReasonOK, 100, "personal_number", true, true, "+4970012345678", "+49 700 1234 5678", "0700 1234 5678", "DE", 49},
		{"0177 99 1234567", "DE", Valid, ReasonOK, 80, "voicemail", true, true, "+49177991234567", "+49 177 99 1234567", "0177 99 1234567", "DE", 49},
		{"0164 12345", "DE", Valid, ReasonOK, 80, "pager", true, true, "+4916412345", "+49 16412345", "16412345", "DE", 49},
		{"0800 1234567890", "DE", Valid, ReasonOK, 80, "toll_free", true, true, "+498001234567890", "+49 800 1234567890", "0800 1234567890", "DE", 49},

		// France.
		{"01 23 45 67 89", "FR", Valid, ReasonOK, 100, "fixed_line", true, true, "+33123456789", "+33 1 23 45 67 89", "01 23 45 67 89", "FR", 33},
		{"+33 6 12 34 56 78", "", Valid, ReasonOK, 100, "mobile", true, true, "+33612345678", "+33 6 12 34 56 78", "06 12 34 56 78", "FR", 33},
		{"09 12 34 56 78", "FR", Risky, ReasonVoIP, 30, "voip", true, true, "+33912345678", "+33 9 12 34 56 78", "09 12 34 56 78", "FR", 33},
		{"0891 12 34 56", "FR", Risky, ReasonPremiumRate, 15, "premium_rate", true, true, "+33891123456", "+33 891 12 34 56", "0 891 12 34 56", "FR", 33},
		{"0884 01 23 45", "FR", Risky, ReasonSharedCost, 35, "shared_cost", true, true, "+33884012345", "+33 884 01 23 45", "0 884 01 23 45", "FR", 33},
		{"0806 12 34 56", "FR", Valid, ReasonOK, 80, "uan", true, true, "+33806123456", "+33 806 12 34 56", "0 806 12 34 56", "FR", 33},
		{"06 12 34 56", "FR", Invalid, ReasonTooShort, 0, "unknown", false, false, "", "", "", "FR", 33},
		{"+33 6 12 34 56 78 9", "", Invalid, ReasonTooLong, 0, "unknown", false, false, "", "", "", "FR", 33},

		// India.
		{"+91 98765 43210", "", Valid, ReasonOK, 100, "mobile", true, true, "+919876543210", "+91 98765 43210", "098765 43210", "IN", 91},
		{"081234 56789", "IN", Valid, ReasonOK, 100, "mobile", true, true, "+918123456789", "+91 81234 56789", "081234 56789", "IN", 91},
		{"+91 74104 10123", "", Valid, ReasonOK, 100, "fixed_line_or_mobile", true, true, "+917410410123", "+91 74104 10123", "074104 10123", "IN", 91},
		{"1800 12 3456", "IN", Valid, ReasonOK, 80, "toll_free", true, true, "+911800123456", "+91 1800 12 3456", "1800 12 3456", "IN", 91},
		{"1860 345 1234", "IN", Risky, ReasonSharedCost, 35, "shared_cost", true, true, "+9118603451234", "+91 1860 345 1234", "1860 345 1234", "IN", 91},

		// Brazil.
		{"(11) 2345-6789", "BR", Valid, ReasonOK, 100, "fixed_line", true, true, "+551123456789", "+55 11 2345-6789", "(11) 2345-6789", "BR", 55},
		{"+55 11 96123-4567", "", Valid, ReasonOK, 100, "mobile", true, true, "+5511961234567", "+55 11 96123-4567", "(11) 96123-4567", "BR", 55},
		{"0800 12 3456", "BR", Valid, ReasonOK, 80, "toll_free", true, true, "+55800123456", "+55 800 12 3456", "0800 12 3456", "BR", 55},
		{"4004-1234", "BR", Risky, ReasonSharedCost, 35, "shared_cost", true, true, "+5540041234", "+55 4004-1234", "4004-1234", "BR", 55},
		{"+55 11 2345-678", "", Invalid, ReasonInvalidNumber, 0, "unknown", false, true, "+55112345678", "+55 112345678", "112345678", "BR", 55},

		// Australia; 0011 is its international prefix.
		{"(02) 1234 5678", "AU", Valid, ReasonOK, 100, "fixed_line", true, true, "+61212345678", "+61 2 1234 5678", "(02) 1234 5678", "AU", 61},
		{"0412 345 678", "AU", Valid, ReasonOK, 100, "mobile", true, true, "+61412345678", "+61 412 345 678", "0412 345 678", "AU", 61},
		{"+61 412 345 678", "", Valid, ReasonOK, 100, "mobile", true, true, "+61412345678", "+61 412 345 678", "0412 345 678", "AU", 61},
		{"1800 123 456", "AU", Valid, ReasonOK, 80, "toll_free", true, true, "+611800123456", "+61 1800 123 456", "1800 123 456", "AU", 61},
		{"1900 123 456", "AU", Risky, ReasonPremiumRate, 15, "premium_rate", true, true, "+611900123456", "+61 1900 123 456", "1900 123 456", "AU", 61},
		{"1300 123 456", "AU", Risky, ReasonSharedCost, 35, "shared_cost", true, true, "+611300123456", "+61 1300 123 456", "1300 123 456", "AU", 61},
		{"0147 101 234", "AU", Risky, ReasonVoIP, 30, "voip", true, true, "+61147101234", "+61 147 101 234", "0147 101 234", "AU", 61},
		{"0011 44 20 7946 0958", "AU", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},

		// Japan; 010 is its international prefix.
		{"03-1234-5678", "JP", Valid, ReasonOK, 100, "fixed_line", true, true, "+81312345678", "+81 3-1234-5678", "03-1234-5678", "JP", 81},
		{"090-1234-5678", "JP", Valid, ReasonOK, 100, "mobile", true, true, "+819012345678", "+81 90-1234-5678", "090-1234-5678", "JP", 81},
		{"+81 50-1234-5678", "", Risky, ReasonVoIP, 30, "voip", true, true, "+815012345678", "+81 50-1234-5678", "050-1234-5678", "JP", 81},
		{"0120-123-456", "JP", Valid, ReasonOK, 80, "toll_free", true, true, "+81120123456", "+81 120-123-456", "0120-123-456", "JP", 81},
		{"0990-123-456", "JP", Risky, ReasonPremiumRate, 15, "premium_rate", true, true, "+81990123456", "+81 990-123-456", "0990-123-456", "JP", 81},
		{"0570-123-456", "JP", Valid, ReasonOK, 80, "uan", true, true, "+81570123456", "+81 570-123-456", "0570-123-456", "JP", 81},
		{"010 44 20 7946 0958", "JP", Valid, ReasonOK, 100, "fixed_line", true, true, "+442079460958", "+44 20 7946 0958", "020 7946 0958", "GB", 44},

		// Nigeria.
		{"0802 123 4567", "NG", Valid, ReasonOK, 100, "mobile", true, true, "+2348021234567", "+234 802 123 4567", "0802 123 4567", "NG", 234},
		{"+234 802 123 4567", "", Valid, ReasonOK, 100, "mobile", true, true, "+2348021234567", "+234 802 123 4567", "0802 123 4567", "NG", 234},
		{"+234 2033 12 3456", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+2342033123456", "+234 2033 12 3456", "02033 12 3456", "NG", 234},
		{"0700 123 4567", "NG", Valid, ReasonOK, 80, "uan", true, true, "+2347001234567", "+234 700 123 4567", "0700 123 4567", "NG", 234},
		{"+234 800 1759 1759", "", Valid, ReasonOK, 80, "toll_free", true, true, "+23480017591759", "+234 800 1759 1759", "0800 1759 1759", "NG", 234},

		// Elsewhere: Italy keeps its leading zero, Russia and Kazakhstan
		// share +7, Argentina's mobiles carry a 9.
		{"+39 06 1234 5678", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+390612345678", "+39 06 1234 5678", "06 1234 5678", "IT", 39},
		{"06 1234 5678", "IT", Valid, ReasonOK, 100, "fixed_line", true, true, "+390612345678", "+39 06 1234 5678", "06 1234 5678", "IT", 39},
		{"+39 312 345 6789", "", Valid, ReasonOK, 100, "mobile", true, true, "+393123456789", "+39 312 345 6789", "312 345 6789", "IT", 39},
		{"+7 912 345-67-89", "", Valid, ReasonOK, 100, "mobile", true, true, "+79123456789", "+7 912 345-67-89", "8 (912) 345-67-89", "RU", 7},
		{"+7 771 000 9998", "", Valid, ReasonOK, 100, "mobile", true, true, "+77710009998", "+7 771 000 9998", "8 (771) 000 9998", "KZ", 7},
		{"+65 6123 4567", "", Valid, ReasonOK, 100, "fixed_line", true, true, "+6561234567", "+65 6123 4567", "6123 4567", "SG", 65},
		{"+41 21 234 56 78", "CH", Valid, ReasonOK, 100, "fixed_line", true, true, "+41212345678", "+41 21 234 56 78", "021 234 56 78", "CH", 41},
		{"+54 9 11 2345-6789", "", Valid, ReasonOK, 100, "mobile", true, true, "+5491123456789", "+54 9 11 2345-6789", "09 15-2345-6789", "AR", 54},
		{"+86 131 2345 6789", "", Valid, ReasonOK, 100, "mobile", true, true, "+8613123456789", "+86 131 2345 6789", "131 2345 6789", "CN", 86},
		{"+27 71 123 4567", "", Valid, ReasonOK, 100, "mobile", true, true, "+27711234567", "+27 71 123 4567", "071 123 4567", "ZA", 27},

		// Calling codes of no country: valid, with no country.
		{"+800 1234 5678", "", Valid, ReasonOK, 80, "toll_free", true, true, "+80012345678", "+800 1234 5678", "1234 5678", "", 800},
		{"+882 34 21234", "", Valid, ReasonOK, 100, "mobile", true, true, "+8823421234", "+882 34 21234", "34 21234", "", 882},
		{"+979 1 2345 6789", "", Risky, ReasonPremiumRate, 15, "premium_rate", true, true, "+979123456789", "+979 1 2345 6789", "1 2345 6789", "", 979},

		// Not numbers at all.
		{"+999 1234 5678", "", Invalid, ReasonInvalidCountryCode, 0, "unknown", false, false, "", "", "", "", 0},
		{"+999 1234 5678", "GB", Invalid, ReasonInvalidCountryCode, 0, "unknown", false, false, "", "", "", "", 0},
		{"hello", "US", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"", "US", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{" \t\n ", "", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"+", "", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"()- .", "US", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"1", "US", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"12", "US", Invalid, ReasonTooShort, 0, "unknown", false, false, "", "", "", "", 1},
		{strings.Repeat("1", 300), "US", Invalid, ReasonTooLong, 0, "unknown", false, false, "", "", "", "", 0},
		{"+1 234 567 8901 2345 6789 0123", "", Invalid, ReasonTooLong, 0, "unknown", false, false, "", "", "", "", 0},
		{"00", "", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"0044", "", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"abc-def-ghij", "US", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"john@example.com", "US", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
		{"+44 20 7946 0958 / +44 20 7946 0959", "", Invalid, ReasonNotANumber, 0, "unknown", false, false, "", "", "", "", 0},
	}
	if len(rows) < 100 {
		t.Fatalf("got %d hand-written rows, want at least 100", len(rows))
	}
	for _, row := range rows {
		t.Run(row.input+"|"+row.region, func(t *testing.T) {
			t.Parallel()
			got := ValidatePhone(row.input, row.region)
			if diff := cmp.Diff(row.want(), got, cmpopts.IgnoreFields(PhoneResult{}, "Message")); diff != "" {
				t.Errorf("ValidatePhone(%q, %q) mismatch (-want +got):\n%s", row.input, row.region, diff)
			}
			checkPhoneInvariants(t, row.input, got)
		})
	}
}

// TestValidatePhoneExamples checks the example number the metadata gives
// for every region and number type, written three ways: international with
// no default region, national with its own region, and E.164 with a default
// region of another country.
func TestValidatePhoneExamples(t *testing.T) {
	t.Parallel()
	type example struct {
		name   string
		number *phonenumbers.PhoneNumber
		region string // "" for numbers of no country
		types  []phonenumbers.PhoneNumberType
	}
	var examples []example
	seenTypes := map[phonenumbers.PhoneNumberType]bool{}
	for region := range phonenumbers.GetSupportedRegions() {
		for typ := phonenumbers.FIXED_LINE; typ < phonenumbers.UNKNOWN; typ++ {
			num := phonenumbers.GetExampleNumberForType(region, typ)
			if num == nil {
				continue
			}
			seenTypes[typ] = true
			// Where fixed lines and mobiles cannot be told apart the type
			// is FIXED_LINE_OR_MOBILE, and the example of that type is the
			// fixed-line example.
			types := []phonenumbers.PhoneNumberType{typ}
			switch typ {
			case phonenumbers.FIXED_LINE, phonenumbers.MOBILE:
				types = append(types, phonenumbers.FIXED_LINE_OR_MOBILE)
			case phonenumbers.FIXED_LINE_OR_MOBILE:
				types = append(types, phonenumbers.FIXED_LINE)
			}
			examples = append(examples, example{region + "/" + phoneTypeName(typ), num, region, types})
		}
	}
	for code := range phonenumbers.GetSupportedGlobalNetworkCallingCodes() {
		num := phonenumbers.GetExampleNumberForNonGeoEntity(code)
		if num == nil {
			continue
		}
		typ := phonenumbers.GetNumberType(num)
		examples = append(examples, example{"+" + strconv.Itoa(code), num, "", []phonenumbers.PhoneNumberType{typ}})
	}
	for typ := phonenumbers.FIXED_LINE; typ < phonenumbers.UNKNOWN; typ++ {
		if !seenTypes[typ] {
			t.Errorf("no region has an example of type %s, want every type covered", phoneTypeName(typ))
		}
	}
	if len(examples) < 1000 {
		t.Fatalf("got %d example numbers, want the whole metadata (over 1000)", len(examples))
	}

	for _, ex := range examples {
		e164 := phonenumbers.Format(ex.number, phonenumbers.E164)
		intl := phonenumbers.Format(ex.number, phonenumbers.INTERNATIONAL)
		nat := phonenumbers.Format(ex.number, phonenumbers.NATIONAL)
		code := int(ex.number.GetCountryCode())
		other := "JP"
		if code == 81 {
			other = "GB"
		}
		forms := []struct{ name, input, region string }{
			{"international", intl, ""},
			{"e164-other-default", e164, other},
		}
		// The national form of an Argentine mobile ("0AA 15-...") is for
		// dialling, and the library does not read it back as a mobile.
		if ex.region != "" && ex.name != "AR/mobile" {
			forms = append(forms, struct{ name, input, region string }{"national", nat, ex.region})
		}
		for _, form := range forms {
			t.Run(ex.name+"/"+form.name, func(t *testing.T) {
				t.Parallel()
				got := ValidatePhone(form.input, form.region)
				checkPhoneInvariants(t, form.input, got)
				if !got.Valid || !got.Possible {
					t.Fatalf("ValidatePhone(%q, %q): got valid=%v possible=%v (%s: %s), want both true",
						form.input, form.region, got.Valid, got.Possible, got.Reason, got.Message)
				}
				if got.E164 != e164 || got.International != intl || got.National != nat || got.CountryCode != code {
					t.Errorf("ValidatePhone(%q, %q): got %s / %q / %q / +%d, want %s / %q / %q / +%d",
						form.input, form.region, got.E164, got.International, got.National, got.CountryCode, e164, intl, nat, code)
				}
				if !phoneTypeIn(got.Type, ex.types) {
					t.Errorf("ValidatePhone(%q, %q): got type %s, want one of %v", form.input, form.region, got.Type, ex.types)
				}
				// Regions that share a calling code (GB, GG, IM, JE; the
				// NANPA; RU, KZ; ...) share some ranges, and the library
				// names the first region whose ranges match.
				if got.Country != ex.region && !(ex.region != "" && sharesCallingCode(got.Country, code)) {
					t.Errorf("ValidatePhone(%q, %q): got country %q, want %q or a region sharing +%d",
						form.input, form.region, got.Country, ex.region, code)
				}
				if v := phonenumbers.IsValidNumber(ex.number); v != got.Valid {
					t.Errorf("ValidatePhone(%q, %q): got valid=%v, IsValidNumber says %v", form.input, form.region, got.Valid, v)
				}
				// ValidatePhone skips the length check for valid numbers.
				if !phonenumbers.IsPossibleNumber(ex.number) {
					t.Errorf("IsPossibleNumber(%s): got false for a valid number, want true", e164)
				}
			})
		}
	}
}

func phoneTypeIn(name string, types []phonenumbers.PhoneNumberType) bool {
	for _, typ := range types {
		if phoneTypeName(typ) == name {
			return true
		}
	}
	return false
}

func sharesCallingCode(region string, code int) bool {
	for _, r := range phonenumbers.GetRegionCodesForCountryCode(code) {
		if r == region {
			return true
		}
	}
	return false
}

// TestValidatePhoneValidMatchesLibrary pins the shortcut ValidatePhone
// takes (valid is "GetNumberType is not UNKNOWN") to IsValidNumber.
func TestValidatePhoneValidMatchesLibrary(t *testing.T) {
	t.Parallel()
	inputs := []struct{ input, region string }{
		{"+1 201 555 0123", ""}, {"+1 123 456 7890", ""}, {"555 0100", "US"}, {"+1 268 464 1234", ""},
		{"+1 268 999 1234", ""}, {"+44 20 7946 095", ""}, {"+44 1481 256789", ""}, {"+44 7781 123456", ""},
		{"+7 771 000 9998", ""}, {"+7 999 000 9998", ""}, {"+800 1234 5678", ""}, {"+800 123", ""},
		{"+882 34 21234", ""}, {"+882 99 99999", ""}, {"+590 690 00 12 34", ""}, {"+262 269 61 23 45", ""},
		{"06 12 34 56 78", "FR"}, {"06 12 34", "FR"}, {"+39 06 1234 5678", ""}, {"+39 06 1234", ""},
	}
	for _, in := range inputs {
		t.Run(in.input+"|"+in.region, func(t *testing.T) {
			t.Parallel()
			num, err := phonenumbers.Parse(in.input, in.region)
			if err != nil {
				t.Fatalf("Parse(%q, %q): %v", in.input, in.region, err)
			}
			want := phonenumbers.IsValidNumber(num)
			if got := ValidatePhone(in.input, in.region); got.Valid != want {
				t.Errorf("ValidatePhone(%q, %q).Valid: got %v, want %v", in.input, in.region, got.Valid, want)
			}
		})
	}
}

func TestValidatePhoneMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		input, region string
		want          string // a part of the message; "" means no message
	}{
		{"020 7946 0958", "GB", ""},
		{"+1 900 234 5678", "", "premium-rate"},
		{"09 12 34 56 78", "FR", "VoIP"},
		{"0180 1 2345", "DE", "shared-cost"},
		{"06 12 34 56", "FR", "too short for FR"},
		{"+33 6 12 34 56 78 9", "", "too long for FR"},
		{"12", "US", "too short for US"},
		{"+1 415 555 010", "", "too short for +1"},
		{"555 0100", "US", "area code"},
		{"+55 11 2345-678", "", "BR"},
		{"020 7946 0958", "ZZ", "ZZ is not a country we know"},
		{"020 7946 0958", "", "send the country"},
		{"020 7946 0958", "", "+ country code"},
		{"+999 1234 5678", "", "calling code"},
		{"", "US", "empty"},
		{"hello", "US", "not a phone number"},
		{strings.Repeat("1", 300), "US", "too many digits"},
	}
	for _, tt := range tests {
		t.Run(tt.input+"|"+tt.region, func(t *testing.T) {
			t.Parallel()
			got := ValidatePhone(tt.input, tt.region).Message
			if (tt.want == "" && got != "") || !strings.Contains(got, tt.want) {
				t.Errorf("ValidatePhone(%q, %q).Message: got %q, want one containing %q", tt.input, tt.region, got, tt.want)
			}
		})
	}
}

func TestKnownRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		region string
		want   bool
	}{
		{"US", true}, {"us", true}, {" gb ", true}, {"Ng", true}, {"JP", true}, {"XK", true},
		{"ZZ", false}, {"UK", false}, {"", false}, {"001", false}, {"USA", false}, {"U", false}, {"EU", false},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			t.Parallel()
			if got := KnownRegion(tt.region); got != tt.want {
				t.Errorf("KnownRegion(%q): got %v, want %v", tt.region, got, tt.want)
			}
		})
	}
	t.Run("every supported region", func(t *testing.T) {
		t.Parallel()
		for region := range phonenumbers.GetSupportedRegions() {
			if !KnownRegion(region) || !KnownRegion(strings.ToLower(region)) {
				t.Errorf("KnownRegion(%q): got false, want true in either case", region)
			}
		}
	})
}

func FuzzValidatePhone(f *testing.F) {
	seeds := []struct{ input, region string }{
		{"(201) 555-0123", "US"}, {"+44 20 7946 0958", ""}, {"0044 20 7946 0958", ""}, {"1-800-FLOWERS", "us"},
		{"+1 201 555 0123 ext. 45", ""}, {"tel:+1-201-555-0123;phone-context=+1", ""}, {"tel:2015550123;isub=12", "US"},
		{"\uff0b\uff14\uff14 \uff12\uff10 \uff17\uff19\uff14\uff16 \uff10\uff19\uff15\uff18", ""}, {"+999 1234 5678", ""},
		{"020 7946 0958", "ZZ"}, {"0011 44 20 7946 0958", "AU"}, {"+800 1234 5678", ""}, {"", ""}, {"00", ""},
		{"+62 0018 0312 3456 7890 1", ""}, {"+", "GB"}, {"abc-def-ghij", "US"}, {"555 0100", "US"}, {"+1 415 555 01000", ""}, {"\u0661\u0662\u0663", "EG"},
	}
	for _, s := range seeds {
		f.Add(s.input, s.region)
	}
	f.Fuzz(func(t *testing.T, input, region string) {
		checkPhoneInvariants(t, input, ValidatePhone(input, region))
	})
}

func TestCompactPhoneText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"(201) 555-0123", "2015550123"},
		{"+44 20 7946 0958", "+442079460958"},
		{"+44 (0) 7400 123456", "+4407400123456"},
		{"1.800.356.9377", "18003569377"},
		{"2015550123", "2015550123"},
		{"+2015550123", "+2015550123"},
		{"1 2", "1 2"},                     // under three digits: Parse calls it not a number
		{"1-800-FLOWERS", "1-800-FLOWERS"}, // vanity letters
		{"201 555 0123 x45", "201 555 0123 x45"},
		{"tel:+1-201-555-0123", "tel:+1-201-555-0123"},
		{"(+44) 20 7946 0958", "(+44) 20 7946 0958"},
		{"++44 20 7946 0958", "++44 20 7946 0958"},
		{"020\t7946 0958", "020\t7946 0958"},
		{"\uff10\uff12\uff10 7946 0958", "\uff10\uff12\uff10 7946 0958"},
		{"020 7946 0958 / 020 7946 0959", "020 7946 0958 / 020 7946 0959"},
		{strings.Repeat("1 ", 130), strings.Repeat("1 ", 130)}, // longer than Parse reads
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := compactPhoneText(tt.in); got != tt.want {
				t.Errorf("compactPhoneText(%q): got %q, want %q", tt.in, got, tt.want)
			}
			assertParsesAlike(t, tt.in, "US")
		})
	}
}

// FuzzCompactPhoneText checks that Parse reads compactPhoneText's output as
// it reads the input. The fuzzer's bytes are mapped onto the characters
// compactPhoneText removes or keeps, so that most inputs take its fast path.
func FuzzCompactPhoneText(f *testing.F) {
	const alphabet = "0123456789 -.()"
	regions := []string{"", "US", "GB", "DE", "FR", "IT", "JP", "AU", "BR", "IN", "NG", "RU", "AR", "MX", "ZZ"}
	f.Add([]byte("\x00\x01\x02\x0a\x03\x04"), true, uint8(2))
	f.Add([]byte("\x0d\x02\x00\x01\x0e\x0a\x05\x05\x05\x0b\x00\x01\x02\x03"), false, uint8(1))
	f.Add([]byte("\x00\x00\x04\x04\x0a\x02\x00\x0a\x07\x09\x04\x06\x0a\x00\x09\x05\x08"), false, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, plus bool, region uint8) {
		b := make([]byte, 0, len(data)+1)
		if plus {
			b = append(b, '+')
		}
		for _, c := range data {
			b = append(b, alphabet[int(c)%len(alphabet)])
		}
		assertParsesAlike(t, string(b), regions[int(region)%len(regions)])
	})
}

// assertParsesAlike fails when Parse reads text and compactPhoneText(text)
// differently.
func assertParsesAlike(t *testing.T, text, region string) {
	t.Helper()
	compact := compactPhoneText(text)
	want, wantErr := phonenumbers.Parse(text, region)
	got, gotErr := phonenumbers.Parse(compact, region)
	if gotErr != wantErr {
		t.Fatalf("Parse(%q, %q): got error %v, but %v for %q", compact, region, gotErr, wantErr, text)
	}
	if wantErr != nil {
		return
	}
	if got.GetCountryCode() != want.GetCountryCode() || got.GetNationalNumber() != want.GetNationalNumber() ||
		got.GetItalianLeadingZero() != want.GetItalianLeadingZero() ||
		got.GetNumberOfLeadingZeros() != want.GetNumberOfLeadingZeros() || got.GetExtension() != want.GetExtension() {
		t.Errorf("Parse(%q, %q): got %s, want %s as for %q", compact, region,
			phonenumbers.Format(got, phonenumbers.RFC3966), phonenumbers.Format(want, phonenumbers.RFC3966), text)
	}
}

// checkPhoneInvariants checks what must hold for any input: the verdict,
// reason, type and score agree with each other, valid numbers are possible,
// and formats are present exactly for valid or possible numbers.
func checkPhoneInvariants(t *testing.T, input string, got PhoneResult) {
	t.Helper()
	if got.Input != input {
		t.Errorf("Input: got %q, want %q", got.Input, input)
	}
	if got.Valid && !got.Possible {
		t.Errorf("got valid but not possible: %+v", got)
	}
	if (got.Type != "unknown") != got.Valid {
		t.Errorf("got type %q with valid=%v, want a known type exactly for valid numbers", got.Type, got.Valid)
	}
	verdict, reason, score := wantPhoneOutcome(got.Type)
	switch got.Verdict {
	case Valid, Risky:
		if got.Verdict != verdict || got.Reason != reason || got.Score != score {
			t.Errorf("type %s: got %s/%s/%d, want %s/%s/%d", got.Type, got.Verdict, got.Reason, got.Score, verdict, reason, score)
		}
		if got.Verdict == Valid && got.Message != "" {
			t.Errorf("valid number: got message %q, want none", got.Message)
		}
	case Invalid:
		switch got.Reason {
		case ReasonNotANumber, ReasonInvalidCountryCode, ReasonTooShort, ReasonTooLong, ReasonInvalidNumber:
		default:
			t.Errorf("invalid number: got reason %q, want a phone reason for invalid", got.Reason)
		}
		if got.Valid || got.Score != 0 {
			t.Errorf("invalid number: got valid=%v score=%d, want false and 0", got.Valid, got.Score)
		}
	case Unknown:
		if got.Reason != ReasonCountryNeeded || got.Score != 50 || got.Valid {
			t.Errorf("unknown number: got reason %q score %d valid=%v, want country_needed, 50, false", got.Reason, got.Score, got.Valid)
		}
	default:
		t.Errorf("got verdict %q, want valid, risky, unknown or invalid", got.Verdict)
	}
	if got.Verdict != Valid && got.Message == "" {
		t.Errorf("verdict %s: got no message, want one saying what to do", got.Verdict)
	}
	formatted := got.Valid || got.Possible
	if (got.E164 != "") != formatted || (got.International != "") != formatted || (got.National != "") != formatted {
		t.Errorf("valid=%v possible=%v: got e164=%q international=%q national=%q, want all set exactly when valid or possible",
			got.Valid, got.Possible, got.E164, got.International, got.National)
	}
	if got.E164 != "" {
		// "+", the country code, then the national significant number:
		// 2 to 17 digits, leading zeros included. That is the library's
		// bound, wider than E.164's 15 digits in all: Indonesian toll-free
		// numbers are valid at 19 digits with the code, and a possible but
		// invalid Japanese number can keep three leading zeros.
		prefix := "+" + strconv.Itoa(got.CountryCode)
		nsn := strings.TrimPrefix(got.E164, prefix)
		if got.CountryCode <= 0 || !strings.HasPrefix(got.E164, prefix) || !allDigits(got.E164[1:]) || len(nsn) < 2 || len(nsn) > 17 {
			t.Errorf("got e164 %q for country code %d, want + then the code then 2 to 17 digits", got.E164, got.CountryCode)
		}
	}
	if c := got.Country; c != "" && (len(c) != 2 || !KnownRegion(c) || strings.ToUpper(c) != c) {
		t.Errorf("got country %q, want empty or a known upper-case region", c)
	}
	if got.Valid {
		// The E.164 form of a valid number reads back as the same valid,
		// possible number of the same country.
		num, err := phonenumbers.Parse(got.E164, "")
		if err != nil {
			t.Fatalf("Parse(%q) of our E.164: %v", got.E164, err)
		}
		country := phonenumbers.GetRegionCodeForNumber(num)
		if country == nonGeoRegion {
			country = ""
		}
		if !phonenumbers.IsValidNumber(num) || !phonenumbers.IsPossibleNumber(num) || country != got.Country {
			t.Errorf("Parse(%q): got valid=%v possible=%v country=%q, want true, true, %q",
				got.E164, phonenumbers.IsValidNumber(num), phonenumbers.IsPossibleNumber(num), country, got.Country)
		}
	}
}

// wantPhoneOutcome is the verdict, reason and score PRODUCT.md gives a
// valid number of each type; any other type is for invalid numbers.
func wantPhoneOutcome(typ string) (Verdict, Reason, int) {
	switch typ {
	case "mobile", "fixed_line", "fixed_line_or_mobile", "personal_number":
		return Valid, ReasonOK, 100
	case "toll_free", "pager", "uan", "voicemail":
		return Valid, ReasonOK, 80
	case "shared_cost":
		return Risky, ReasonSharedCost, 35
	case "voip":
		return Risky, ReasonVoIP, 30
	case "premium_rate":
		return Risky, ReasonPremiumRate, 15
	default:
		return Invalid, "", 0
	}
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// phoneBenchInputs is a mix of what forms send: mostly valid numbers in
// national and international forms, a few risky and invalid ones.
func phoneBenchInputs() []struct{ input, region string } {
	return []struct{ input, region string }{
		{"(201) 555-0123", "US"}, {"+1 506 234 5678", ""}, {"020 7946 0958", "GB"}, {"+44 7400 123456", ""},
		{"030 1234567", "DE"}, {"+49 1512 3456789", ""}, {"06 12 34 56 78", "FR"}, {"+91 81234 56789", ""},
		{"(11) 96123-4567", "BR"}, {"0412 345 678", "AU"}, {"090-1234-5678", "JP"}, {"0802 123 4567", "NG"},
		{"+1 900 234 5678", ""}, {"0044 20 7946 0958", "DE"}, {"+1 415 555 010", ""}, {"hello", "US"},
	}
}

func BenchmarkValidatePhone(b *testing.B) {
	inputs := phoneBenchInputs()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := inputs[i%len(inputs)]
		i++
		_ = ValidatePhone(in.input, in.region)
	}
}

// BenchmarkPhoneLibraryFloor is the least any phone check costs on the same
// inputs: Parse and IsValidNumber, nothing else.
func BenchmarkPhoneLibraryFloor(b *testing.B) {
	inputs := phoneBenchInputs()
	b.ReportAllocs()
	i := 0
	valid := 0
	for b.Loop() {
		in := inputs[i%len(inputs)]
		i++
		num, err := phonenumbers.Parse(in.input, in.region)
		if err == nil && phonenumbers.IsValidNumber(num) {
			valid++
		}
	}
	if valid == 0 {
		b.Fatalf("got no valid number in %d parses, want most inputs valid", i)
	}
}

// The 250-byte limit is held to the raw input: padding of Unicode space
// around a good number does not get it past the limit.
func TestPhoneLimitOnRawInput(t *testing.T) {
	number := "+44 20 7946 0958"
	padded := strings.Repeat("\u00a0", 120) + number // 240 bytes of no-break space
	if got := ValidatePhone(padded, ""); got.Reason != ReasonTooLong || got.Verdict != Invalid {
		t.Errorf("padded to %d bytes: %s/%s, want invalid/too_long", len(padded), got.Verdict, got.Reason)
	}
	short := strings.Repeat(" ", 250-len(number)) + number
	if got := ValidatePhone(short, ""); got.Verdict != Valid {
		t.Errorf("padded to exactly 250 bytes: %s/%s, want valid", got.Verdict, got.Reason)
	}
}
