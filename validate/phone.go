package validate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Phone scores; see ValidatePhone for why they are what they are.
const (
	phoneScoreDirect     = 100 // valid: mobile, fixed_line, fixed_line_or_mobile, personal_number
	phoneScoreService    = 80  // valid: toll_free, pager, uan, voicemail
	phoneScoreSharedCost = 35  // risky: shared_cost
	phoneScoreVoIP       = 30  // risky: voip
	phoneScorePremium    = 15  // risky: premium_rate
	phoneScoreUnknown    = 50  // unknown: country_needed
	phoneScoreInvalid    = 0   // invalid, whatever the reason
)

// phoneTypeName is the API name of a number type; "unknown" for UNKNOWN
// and for any type a later library version adds.
func phoneTypeName(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.FIXED_LINE:
		return "fixed_line"
	case phonenumbers.MOBILE:
		return "mobile"
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return "fixed_line_or_mobile"
	case phonenumbers.TOLL_FREE:
		return "toll_free"
	case phonenumbers.PREMIUM_RATE:
		return "premium_rate"
	case phonenumbers.SHARED_COST:
		return "shared_cost"
	case phonenumbers.VOIP:
		return "voip"
	case phonenumbers.PERSONAL_NUMBER:
		return "personal_number"
	case phonenumbers.PAGER:
		return "pager"
	case phonenumbers.UAN:
		return "uan"
	case phonenumbers.VOICEMAIL:
		return "voicemail"
	default:
		return "unknown"
	}
}

// nonGeoRegion is the library's region code for numbers that belong to no
// country (+800 international freephone, +882 and +883 networks, ...).
const nonGeoRegion = "001"

// KnownRegion reports whether region is a country or territory the phone
// metadata knows, so the API can refuse an unusable default country (such
// as ZZ or UK, which is not ISO 3166-1) with a 400 instead of judging every
// national number invalid. Case and surrounding spaces are ignored.
func KnownRegion(region string) bool {
	region = strings.ToUpper(strings.TrimSpace(region))
	return phonenumbers.GetSupportedRegions()[region]
}

// ValidatePhone checks one phone number. defaultRegion is an ISO 3166-1
// alpha-2 code (upper or lower case) used when the input has no +country
// prefix; "" means the input must be in international form.
//
// The input is parsed the way the phonenumbers library parses it, so what a
// person types on a form works: spaces, dots, dashes, brackets, a leading
// "tel:", an extension ("ext. 12", "x12"), text before the first digit
// ("phone: 020 ..."), and vanity letters ("1-800-FLOWERS" is read as
// 1-800-356-9377). With a default region, that region's international
// prefix is understood ("011 44 ..." for US, "00 49 ..." for GB). Without
// one, a leading "00" is read as "+", because 00 is the international
// prefix of most of the world; other prefixes need the region.
//
// Valid means the number matches a number range in use in its country;
// possible means only that its length fits. Neither says the line is
// connected. Country is empty for numbers that belong to no country
// (+800 and other non-geographic codes) and when the library cannot tell
// which of the countries sharing a calling code an invalid number is for.
// Message is set for every verdict but valid and tells the person what to
// do.
//
// A number in national form with no region to read it in is unknown with
// reason country_needed, never invalid: "(415) 555-0132" is a good number
// in the US and nothing anywhere else, and only the caller knows which
// country the lead is in. That includes short digit strings such as "12",
// which no reading can place without a country.
//
// Score refines the verdict for the lead score, in the same bands as the
// other fields so that scores sort leads in verdict order:
//
//	valid    100  mobile, fixed_line, fixed_line_or_mobile, personal_number
//	valid     80  toll_free, pager, uan, voicemail: reachable, but a service
//	              rather than a person
//	risky     35  shared_cost
//	risky     30  voip: anyone can get one in minutes
//	risky     15  premium_rate: the line earns money from the calls it gets
//	unknown   50  country_needed
//	invalid    0  whatever the reason
func ValidatePhone(input, defaultRegion string) PhoneResult {
	res := PhoneResult{Input: input, Type: phoneTypeName(phonenumbers.UNKNOWN)}
	text := strings.TrimSpace(input)
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if text == "" {
		return invalidPhone(res, ReasonNotANumber, "the phone number is empty; enter it with its country code, such as +44 20 7946 0958")
	}
	if len(input) > maxPhoneInput {
		// The library's own limit, held to the raw input so that padding
		// of Unicode space cannot make the parser read more than it would.
		return invalidPhone(res, ReasonTooLong, fmt.Sprintf("the phone field is longer than %d bytes: too many digits or characters for a phone number; send only the number", maxPhoneInput))
	}
	if region == "" && strings.HasPrefix(text, "00") {
		text = "+" + text[2:]
	}

	compact := compactPhoneText(text)
	num, ok := phoneIndex().parse(compact, region)
	if !ok {
		var err error
		if num, err = phonenumbers.Parse(compact, region); err != nil {
			if countryNeeded(err, text, region) {
				res.Verdict, res.Reason, res.Score = Unknown, ReasonCountryNeeded, phoneScoreUnknown
				res.Message = countryNeededMessage
				return res
			}
			reason, message := parseFailure(err, text, region)
			return invalidPhone(res, reason, message)
		}
	}

	res.CountryCode = int(num.GetCountryCode())
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	numRegion, numType := phoneRegionAndType(num, res.CountryCode, nsn)
	res.Valid = numType != phonenumbers.UNKNOWN
	res.Type = phoneTypeName(numType)
	if numRegion != nonGeoRegion {
		res.Country = numRegion
	}
	// A valid number matches a range of its country, and every range's
	// lengths are among the country's possible lengths, so only an invalid
	// number needs the length check.
	possibility := phonenumbers.IS_POSSIBLE
	if !res.Valid {
		possibility = phonenumbers.IsPossibleNumberWithReason(num)
	}
	res.Possible = possibility == phonenumbers.IS_POSSIBLE || possibility == phonenumbers.IS_POSSIBLE_LOCAL_ONLY
	if res.Valid || res.Possible {
		// E.164 is + country code + national significant number, which is
		// what Format(E164) builds, without its buffers.
		res.E164 = "+" + strconv.Itoa(res.CountryCode) + nsn
		res.National, res.International = phoneForms(num, res.CountryCode, nsn)
	}

	if !res.Valid {
		reason, message := invalidNumberReason(possibility, res.Country, region, res.CountryCode)
		return invalidPhone(res, reason, message)
	}
	res.Verdict, res.Reason, res.Score = Valid, ReasonOK, phoneScoreDirect
	switch numType {
	case phonenumbers.PREMIUM_RATE:
		res.Verdict, res.Reason, res.Score = Risky, ReasonPremiumRate, phoneScorePremium
		res.Message = "this is a premium-rate number that charges callers extra; give a direct number"
	case phonenumbers.VOIP:
		res.Verdict, res.Reason, res.Score = Risky, ReasonVoIP, phoneScoreVoIP
		res.Message = "this is an internet (VoIP) number, which anyone can get and drop in minutes; a mobile or landline number is better"
	case phonenumbers.SHARED_COST:
		res.Verdict, res.Reason, res.Score = Risky, ReasonSharedCost, phoneScoreSharedCost
		res.Message = "this is a shared-cost service number, not a person's line; give a direct number"
	case phonenumbers.TOLL_FREE, phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL:
		res.Score = phoneScoreService
	}
	return res
}

// phoneRegionAndType is GetRegionCodeForNumber and GetNumberType of num,
// answered from the compiled metadata (phonemeta.go) when it can.
func phoneRegionAndType(num *phonenumbers.PhoneNumber, callingCode int, nsn string) (string, phonenumbers.PhoneNumberType) {
	if region, typ, ok := phoneIndex().classify(callingCode, nsn); ok {
		return region, typ
	}
	return phonenumbers.GetRegionCodeForNumber(num), phonenumbers.GetNumberType(num)
}

// phoneForms is Format(NATIONAL) and Format(INTERNATIONAL) of num, answered
// from the compiled metadata (phonemeta.go) when it can: it leaves numbers
// with an extension to the library, which formats the extension too.
func phoneForms(num *phonenumbers.PhoneNumber, callingCode int, nsn string) (national, international string) {
	if num.GetExtension() == "" && num.GetNationalNumber() != 0 {
		if national, international, ok := phoneIndex().forms(callingCode, nsn); ok {
			return national, international
		}
	}
	return phonenumbers.Format(num, phonenumbers.NATIONAL), phonenumbers.Format(num, phonenumbers.INTERNATIONAL)
}

// countryNeededMessage tells the caller what would let the number be read.
const countryNeededMessage = "the number is in national form and no country was given; send the country (such as US) or write the number with its + country code, such as +1 415 555 0132"

// countryNeeded reports a parse failure that only a country would fix: the
// input has no + (nor a 00 prefix, already turned into one) and no region
// was given, so the library could not tell which country's plan to read
// it in. An unknown region (ZZ, UK) is the caller's mistake and stays
// invalid_country_code with a message naming it.
func countryNeeded(err error, text, region string) bool {
	return region == "" && errors.Is(err, phonenumbers.ErrInvalidCountryCode) &&
		!strings.ContainsAny(text, "+\uFF0B")
}

// invalidPhone finishes res as an invalid number.
func invalidPhone(res PhoneResult, reason Reason, message string) PhoneResult {
	res.Verdict, res.Reason, res.Message, res.Score = Invalid, reason, message, phoneScoreInvalid
	return res
}

// parseFailure maps an error of phonenumbers.Parse to a reason and a
// message. text is the trimmed input as given to Parse and region the
// upper-cased default region.
func parseFailure(err error, text, region string) (Reason, string) {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		switch {
		case strings.ContainsAny(text, "+\uFF0B") || KnownRegion(region):
			return ReasonInvalidCountryCode, "no country uses this calling code; check the digits after the + or the international prefix"
		default:
			return ReasonInvalidCountryCode, region + " is not a country we know; give an ISO 3166-1 alpha-2 code such as US or GB, or write the number with its +country code"
		}
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return ReasonTooShort, "the number has too few digits to be a phone number; check that none are missing"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return ReasonTooLong, "the number has too many digits to be a phone number; check for extra digits or two numbers in one field"
	default:
		return ReasonNotANumber, "this is not a phone number; enter digits, with a leading + and the country code when it is not a local number"
	}
}

// invalidNumberReason maps why a parsed number is not valid to a reason and
// a message naming where the number was judged: its country when known,
// else the default region when the calling codes agree, else the calling
// code.
func invalidNumberReason(p phonenumbers.ValidationResult, country, region string, callingCode int) (Reason, string) {
	where := country
	if where == "" {
		if region != "" && phonenumbers.GetCountryCodeForRegion(region) == callingCode {
			where = region
		} else {
			where = "+" + strconv.Itoa(callingCode)
		}
	}
	switch p {
	case phonenumbers.TOO_SHORT:
		return ReasonTooShort, "the number is too short for " + where + "; check that no digit is missing"
	case phonenumbers.TOO_LONG:
		return ReasonTooLong, "the number is too long for " + where + "; check for extra digits"
	case phonenumbers.INVALID_COUNTRY_CODE:
		return ReasonInvalidCountryCode, "no country uses the calling code +" + strconv.Itoa(callingCode) + "; check the digits after the +"
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return ReasonInvalidNumber, "the number has no area code; add the area code used in " + where
	default:
		return ReasonInvalidNumber, "the number does not match any number range in use in " + where + "; check the digits and the country"
	}
}

// maxPhoneInput is the longest input phonenumbers.Parse reads at all; it
// reports longer ones as too long.
const maxPhoneInput = 250

// compactPhoneText drops the separators from text when text is nothing but
// an optional leading + followed by ASCII digits (at least three), spaces,
// dashes, dots and brackets; any other text is returned as it is.
//
// Parse runs several regular expressions over the whole input (viability,
// the search for an extension) before it reduces it to digits, so shorter
// input makes it about a fifth faster on what forms send most. For such
// input the result is the same: Parse discards exactly these separators,
// no extension or vanity letter can hide among them, and with three digits
// the input is viable either way. The tests check Parse agrees on both.
func compactPhoneText(text string) string {
	if len(text) > maxPhoneInput {
		return text
	}
	start := 0
	if strings.HasPrefix(text, "+") {
		start = 1
	}
	digits := 0
	for i := start; i < len(text); i++ {
		switch c := text[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return text
		}
	}
	if digits < 3 || digits == len(text)-start {
		return text
	}
	b := make([]byte, 0, start+digits)
	b = append(b, text[:start]...)
	for i := start; i < len(text); i++ {
		if c := text[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b)
}
