package validate

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
)

// This file answers what ValidatePhone asks the phonenumbers library —
// the parse of digits-only input, a number's region, its type, and its
// national and international forms — from the library's own metadata, with
// the library's own rules, but with every pattern compiled once.
//
// Why not call Parse, GetRegionCodeForNumber, GetNumberType and Format:
// they build each pattern's key ("^(?:" + pattern + ")$") anew on every
// call, hash it into a mutex-guarded map to find the compiled regexp, and
// match every number-type pattern twice; choosing a format searches the
// leading-digits pattern unanchored across the whole number; and Parse
// runs a large case-insensitive extension regexp over every input. For a
// valid number that is most of the cost of validating it (see
// BENCHMARKS.md, B3 and B6). Here each region's patterns are compiled on
// first use and held by pointer. The algorithms mirror the library
// function by function (named in each comment), and the tests require the
// same answer as the library for every example number of every region and
// type, for random input, and under fuzzing. What this file does not cover
// (text other than an optional + and digits, extensions, international
// dialling prefixes, anything the library refuses) is left to the library.

// phoneDesc is one number-type description (PhoneNumberDesc): the national
// number lengths it allows and its pattern, anchored at both ends.
type phoneDesc struct {
	lengths []int32
	pattern *regexp.Regexp
}

// matches mirrors isNumberMatchingDesc: a length the description allows
// (any, when it lists none) and a whole-number match of its pattern.
func (d *phoneDesc) matches(nsn string) bool {
	if d.pattern == nil {
		return false
	}
	if len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(nsn))) {
		return false
	}
	return d.pattern.MatchString(nsn)
}

// phoneFormat is one NumberFormat with its patterns compiled.
type phoneFormat struct {
	// leading matches the last (most detailed) leading-digits pattern at
	// the start of the number; nil when the format has none.
	leading *regexp.Regexp
	// whole is the format's pattern anchored at both ends; replace is the
	// same pattern unanchored, as the library applies it.
	whole, replace *regexp.Regexp
	// rule is the format's template; nationalRule is the template of the
	// national form, with the national-prefix rule put in place of the
	// first group.
	rule, nationalRule string
}

// phoneRegion is the compiled metadata of a region, or of a
// non-geographic calling code.
type phoneRegion struct {
	general, premium, tollFree, sharedCost, voip   phoneDesc
	personal, pager, uan, voicemail, fixed, mobile phoneDesc
	// sameMobileAndFixed says the mobile and fixed-line patterns are one.
	sameMobileAndFixed bool
	// leadingDigits tells regions sharing a calling code apart; nil when
	// the region has none and must be told by its number patterns.
	leadingDigits *regexp.Regexp
	national      []phoneFormat
	// international is nil when the region formats international numbers
	// with its national formats.
	international []phoneFormat

	// For parsing.
	callingCode     int
	callingCodeText string
	// generalLengths and localLengths are the possible lengths of the
	// region's numbers, and those dialable only within an area.
	generalLengths, localLengths []int32
	// internationalPrefix matches the region's international dialling
	// prefix at the start of a number.
	internationalPrefix *regexp.Regexp
	// nationalPrefix matches the national prefix (and carrier code) at the
	// start of a number; nil when the region has none. prefixTransform
	// rewrites the number when it does.
	nationalPrefix  *regexp.Regexp
	prefixTransform string
}

// lazyRegion compiles a region's patterns the first time it is asked for.
type lazyRegion struct {
	meta     *phonenumbers.PhoneMetadata
	compiled func() *phoneRegion
}

// phoneMetadata indexes the compiled regions by region code and by calling
// code for the non-geographic ones.
type phoneMetadata struct {
	regions map[string]*lazyRegion
	nonGeo  map[int]*lazyRegion
}

// phoneIndex is built on the first phone validation; the regions' patterns
// are compiled when a number of that region is first seen (0.5-3 ms for a
// region; every region and non-geographic code at once, about 70 ms and
// 15 MB of heap on the machine of BENCHMARKS.md).
var phoneIndex = sync.OnceValue(func() *phoneMetadata {
	ix := &phoneMetadata{regions: map[string]*lazyRegion{}, nonGeo: map[int]*lazyRegion{}}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		// Without metadata the library cannot parse either; every
		// question then falls through to it.
		return ix
	}
	for _, m := range coll.GetMetadata() {
		lr := &lazyRegion{meta: m}
		lr.compiled = sync.OnceValue(func() *phoneRegion { return compileRegion(lr.meta) })
		if m.GetId() == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY {
			ix.nonGeo[int(m.GetCountryCode())] = lr
		} else {
			ix.regions[m.GetId()] = lr
		}
	}
	return ix
})

// compileRegion compiles the patterns of m; nil when one does not compile
// (the library would panic on it), which sends the region's numbers to the
// library.
func compileRegion(m *phonenumbers.PhoneMetadata) *phoneRegion {
	general := m.GetGeneralDesc()
	if general == nil || len(general.GetPossibleLength()) == 0 {
		// The library indexes both unchecked; leave such a region to it.
		return nil
	}
	r := &phoneRegion{
		sameMobileAndFixed: m.GetSameMobileAndFixedLinePattern(),
		callingCode:        int(m.GetCountryCode()),
		callingCodeText:    strconv.Itoa(int(m.GetCountryCode())),
		generalLengths:     general.GetPossibleLength(),
		localLengths:       general.GetPossibleLengthLocalOnly(),
		prefixTransform:    m.GetNationalPrefixTransformRule(),
	}
	ok := true
	compile := func(expr string) *regexp.Regexp {
		re, err := regexp.Compile(expr)
		if err != nil {
			ok = false
		}
		return re
	}
	desc := func(d *phonenumbers.PhoneNumberDesc) phoneDesc {
		if d == nil {
			return phoneDesc{}
		}
		return phoneDesc{lengths: d.GetPossibleLength(), pattern: compile("^(?:" + d.GetNationalNumberPattern() + ")$")}
	}
	r.general, r.premium, r.tollFree = desc(general), desc(m.GetPremiumRate()), desc(m.GetTollFree())
	r.sharedCost, r.voip, r.personal = desc(m.GetSharedCost()), desc(m.GetVoip()), desc(m.GetPersonalNumber())
	r.pager, r.uan, r.voicemail = desc(m.GetPager()), desc(m.GetUan()), desc(m.GetVoicemail())
	r.fixed, r.mobile = desc(m.GetFixedLine()), desc(m.GetMobile())
	r.internationalPrefix = compile("^(?:" + m.GetInternationalPrefix() + ")")
	if npp := m.GetNationalPrefixForParsing(); npp != "" {
		r.nationalPrefix = compile("^(?:" + npp + ")")
	}
	if ld := m.GetLeadingDigits(); ld != "" {
		r.leadingDigits = compile("^(?:" + ld + ")")
	}
	formats := func(list []*phonenumbers.NumberFormat) []phoneFormat {
		out := make([]phoneFormat, 0, len(list))
		for _, f := range list {
			pf := phoneFormat{
				whole:   compile("^(?:" + f.GetPattern() + ")$"),
				replace: compile(f.GetPattern()),
				rule:    f.GetFormat(),
			}
			if lds := f.GetLeadingDigitsPattern(); len(lds) > 0 {
				pf.leading = compile("^(?:" + lds[len(lds)-1] + ")")
			}
			pf.nationalRule = pf.rule
			if npr := f.GetNationalPrefixFormattingRule(); npr != "" {
				pf.nationalRule = replaceFirstGroup(pf.rule, npr)
			}
			out = append(out, pf)
		}
		return out
	}
	r.national = formats(m.GetNumberFormat())
	if intl := m.GetIntlNumberFormat(); len(intl) > 0 {
		r.international = formats(intl)
	}
	if !ok {
		return nil
	}
	return r
}

// replaceFirstGroup puts with in place of the first group reference ($1,
// $2, ...) of rule, taken literally, as formatNsnUsingPatternWithCarrier
// does with the national-prefix formatting rule.
func replaceFirstGroup(rule, with string) string {
	done := false
	return phonenumbers.FIRST_GROUP_PATTERN.ReplaceAllStringFunc(rule, func(s string) string {
		if done {
			return s
		}
		done = true
		return with
	})
}

// numberType mirrors getNumberTypeHelper.
func (r *phoneRegion) numberType(nsn string) phonenumbers.PhoneNumberType {
	switch {
	case !r.general.matches(nsn):
		return phonenumbers.UNKNOWN
	case r.premium.matches(nsn):
		return phonenumbers.PREMIUM_RATE
	case r.tollFree.matches(nsn):
		return phonenumbers.TOLL_FREE
	case r.sharedCost.matches(nsn):
		return phonenumbers.SHARED_COST
	case r.voip.matches(nsn):
		return phonenumbers.VOIP
	case r.personal.matches(nsn):
		return phonenumbers.PERSONAL_NUMBER
	case r.pager.matches(nsn):
		return phonenumbers.PAGER
	case r.uan.matches(nsn):
		return phonenumbers.UAN
	case r.voicemail.matches(nsn):
		return phonenumbers.VOICEMAIL
	case r.fixed.matches(nsn):
		if r.sameMobileAndFixed || r.mobile.matches(nsn) {
			return phonenumbers.FIXED_LINE_OR_MOBILE
		}
		return phonenumbers.FIXED_LINE
	case !r.sameMobileAndFixed && r.mobile.matches(nsn):
		return phonenumbers.MOBILE
	}
	return phonenumbers.UNKNOWN
}

// region returns the compiled metadata of a region code (the non-geographic
// one of callingCode for "001"), or nil when there is none or it did not
// compile.
func (ix *phoneMetadata) region(code string, callingCode int) *phoneRegion {
	lr := ix.regions[code]
	if code == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY {
		lr = ix.nonGeo[callingCode]
	}
	if lr == nil {
		return nil
	}
	return lr.compiled()
}

// classify returns what GetRegionCodeForNumber and GetNumberType return for
// a number with this calling code and national significant number, in one
// pass; ok is false when the answer must come from the library.
func (ix *phoneMetadata) classify(callingCode int, nsn string) (region string, typ phonenumbers.PhoneNumberType, ok bool) {
	codes := phonenumbers.GetRegionCodesForCountryCode(callingCode)
	switch len(codes) {
	case 0:
		return "", phonenumbers.UNKNOWN, true
	case 1:
		r := ix.region(codes[0], callingCode)
		if r == nil {
			return "", 0, false
		}
		return codes[0], r.numberType(nsn), true
	}
	// getRegionCodeForNumberFromRegionList: the first region whose leading
	// digits start the number, or, for a region without them, whose
	// patterns the number matches.
	for _, code := range codes {
		r := ix.region(code, callingCode)
		if r == nil {
			return "", 0, false
		}
		if r.leadingDigits != nil {
			if r.leadingDigits.MatchString(nsn) {
				return code, r.numberType(nsn), true
			}
		} else if t := r.numberType(nsn); t != phonenumbers.UNKNOWN {
			return code, t, true
		}
	}
	return "", phonenumbers.UNKNOWN, true
}

// forms returns what Format gives for NATIONAL and INTERNATIONAL for a
// number without extension; ok is false when the answer must come from the
// library.
func (ix *phoneMetadata) forms(callingCode int, nsn string) (national, international string, ok bool) {
	codes := phonenumbers.GetRegionCodesForCountryCode(callingCode)
	if len(codes) == 0 {
		return "", "", false
	}
	// FormatWithBuf: formatting rules of a shared calling code live in the
	// metadata of its main region, the first listed.
	r := ix.region(codes[0], callingCode)
	if r == nil {
		return "", "", false
	}
	national = nsn
	if f := chooseFormat(r.national, nsn); f != nil {
		national = f.replace.ReplaceAllString(nsn, f.nationalRule)
	}
	intlFormats := r.international
	if intlFormats == nil {
		intlFormats = r.national
	}
	international = nsn
	if f := chooseFormat(intlFormats, nsn); f != nil {
		international = f.replace.ReplaceAllString(nsn, f.rule)
	}
	return national, "+" + strconv.Itoa(callingCode) + " " + international, true
}

// chooseFormat mirrors chooseFormattingPatternForNumber: the first format
// whose leading digits start the number and whose pattern matches all of
// it. (The library searches the leading-digits pattern anywhere and keeps
// a match at position 0; a regexp's leftmost match starts at 0 exactly
// when some match does, so the anchored pattern answers the same.)
func chooseFormat(formats []phoneFormat, nsn string) *phoneFormat {
	for i := range formats {
		f := &formats[i]
		if f.leading != nil && !f.leading.MatchString(nsn) {
			continue
		}
		if f.whole.MatchString(nsn) {
			return f
		}
	}
	return nil
}

// parse is phonenumbers.Parse(text, defaultRegion) for text made of an
// optional "+" and three or more ASCII digits, the form compactPhoneText
// gives most form input. ok is false when the answer must come from the
// library: for other text, for every input the library refuses, and for
// the rarer paths (an international dialling prefix such as 011, a "+0").
//
// Parse spends half its time looking for an extension ("ext. 12", "x12")
// with a large case-insensitive regexp, and more rebuilding pattern keys;
// digits alone cannot hold an extension. The steps below mirror
// parseHelper and the functions it calls, named in the comments.
func (ix *phoneMetadata) parse(text, defaultRegion string) (num *phonenumbers.PhoneNumber, ok bool) {
	digits, plus := strings.CutPrefix(text, "+")
	if len(digits) < 3 || len(text) > maxPhoneInput || strings.TrimLeft(digits, "0123456789") != "" {
		return nil, false
	}
	// checkRegionForParsing: without a usable default region the number
	// must start with a plus.
	var def *phoneRegion
	if phonenumbers.GetSupportedRegions()[defaultRegion] {
		if def = ix.region(defaultRegion, 0); def == nil {
			return nil, false
		}
	} else if !plus {
		return nil, false
	}

	// maybeExtractCountryCode.
	callingCode, national, meta := 0, digits, def
	if plus {
		if digits[0] == '0' {
			return nil, false // extractCountryCode finds none; the library retries
		}
		for i := 1; i <= 3; i++ {
			if cc, _ := strconv.Atoi(digits[:i]); len(phonenumbers.GetRegionCodesForCountryCode(cc)) > 0 {
				callingCode, national = cc, digits[i:]
				break
			}
		}
		if callingCode == 0 {
			return nil, false
		}
	} else {
		if def.internationalPrefix.MatchString(digits) {
			return nil, false
		}
		// A number written with the default region's calling code but no
		// plus loses the code when that makes it fit the region better.
		if rest, found := strings.CutPrefix(digits, def.callingCodeText); found {
			stripped := def.stripNationalPrefix(rest)
			fullValid := def.general.pattern.MatchString(digits)
			strippedValid := def.general.pattern.MatchString(stripped)
			if (!fullValid && strippedValid) || def.lengthCheck(digits) == phonenumbers.TOO_LONG {
				callingCode, national = def.callingCode, stripped
			}
		}
	}
	// parseHelper: a calling code found in the number brings the metadata
	// of its main region; none means the default region's.
	if callingCode != 0 {
		if main := phonenumbers.GetRegionCodeForCountryCode(callingCode); main != defaultRegion {
			if meta = ix.region(main, callingCode); meta == nil {
				return nil, false
			}
		}
	} else {
		callingCode = def.callingCode
	}
	if meta == nil {
		// The default region is the number's own main region but has no
		// metadata of its own ("001" for +800): the library then skips the
		// national-prefix step; leave such input to it.
		return nil, false
	}
	if len(national) < phonenumbers.MIN_LENGTH_FOR_NSN {
		return nil, false
	}
	// The national prefix goes only when what is left has a possible
	// length, since the whole could be a valid short number.
	if stripped := meta.stripNationalPrefix(national); stripped != national {
		switch meta.lengthCheck(stripped) {
		case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
		default:
			national = stripped
		}
	}
	if len(national) < phonenumbers.MIN_LENGTH_FOR_NSN || len(national) > phonenumbers.MAX_LENGTH_FOR_NSN {
		return nil, false
	}
	nationalNumber, err := strconv.ParseUint(national, 10, 64)
	if err != nil {
		return nil, false
	}
	num = &phonenumbers.PhoneNumber{CountryCode: proto.Int32(int32(callingCode)), NationalNumber: proto.Uint64(nationalNumber)}
	// setItalianLeadingZerosForPhoneNumber; an all-zero number keeps its
	// last zero as the number.
	if len(national) > 1 && national[0] == '0' {
		num.ItalianLeadingZero = proto.Bool(true)
		zeros := 1
		for zeros < len(national)-1 && national[zeros] == '0' {
			zeros++
		}
		if zeros != 1 {
			num.NumberOfLeadingZeros = proto.Int32(int32(zeros))
		}
	}
	return num, true
}

// stripNationalPrefix mirrors maybeStripNationalPrefixAndCarrierCode: the
// number without its national prefix (and carrier code), rewritten by the
// region's transform rule when the prefix pattern captured a group, or the
// number as it was when there is no prefix or removing it would turn a
// number matching the region's patterns into one that does not.
func (r *phoneRegion) stripNationalPrefix(number string) string {
	if number == "" || r.nationalPrefix == nil {
		return number
	}
	groups := r.nationalPrefix.FindStringSubmatchIndex(number)
	if groups == nil {
		return number
	}
	viable := r.general.pattern.MatchString(number)
	lastGroup := len(groups)/2 - 1
	result := number[groups[1]:]
	if r.prefixTransform != "" && groups[lastGroup*2] >= 0 {
		result = r.nationalPrefix.ReplaceAllString(number, r.prefixTransform)
	}
	if viable && !r.general.pattern.MatchString(result) {
		return number
	}
	return result
}

// lengthCheck mirrors testNumberLength for UNKNOWN: whether a national
// number of this length is possible in the region.
func (r *phoneRegion) lengthCheck(number string) phonenumbers.ValidationResult {
	lengths := r.generalLengths
	if lengths[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	n := int32(len(number))
	switch {
	case slices.Contains(r.localLengths, n):
		return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
	case lengths[0] == n:
		return phonenumbers.IS_POSSIBLE
	case lengths[0] > n:
		return phonenumbers.TOO_SHORT
	case lengths[len(lengths)-1] < n:
		return phonenumbers.TOO_LONG
	case slices.Contains(lengths[1:], n):
		return phonenumbers.IS_POSSIBLE
	}
	return phonenumbers.INVALID_LENGTH
}
