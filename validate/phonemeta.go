package validate

import (
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// This file answers three questions about a parsed phone number — its
// region, its type and its national and international forms — from the
// phonenumbers library's own metadata, with the library's own rules, but
// with every pattern compiled once.
//
// Why not call GetRegionCodeForNumber, GetNumberType and Format: they
// build each pattern's key ("^(?:" + pattern + ")$") anew on every call,
// hash it into a mutex-guarded map to find the compiled regexp, and match
// every number-type pattern twice; choosing a format searches the
// leading-digits pattern unanchored across the whole number. For a valid
// number that is most of the cost of validating it (see BENCHMARKS.md,
// B3 and B6). Here each region's patterns are compiled on first use and
// held by pointer. The algorithms mirror the library function by
// function (named in each comment), and the tests require the same answer
// as the library for every example number of every region and type, and
// under fuzzing; anything this file does not cover (extensions, unknown
// calling codes) is left to the library.

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
// are compiled when a number of that region is first seen.
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
	r := &phoneRegion{sameMobileAndFixed: m.GetSameMobileAndFixedLinePattern()}
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
	r.general, r.premium, r.tollFree = desc(m.GetGeneralDesc()), desc(m.GetPremiumRate()), desc(m.GetTollFree())
	r.sharedCost, r.voip, r.personal = desc(m.GetSharedCost()), desc(m.GetVoip()), desc(m.GetPersonalNumber())
	r.pager, r.uan, r.voicemail = desc(m.GetPager()), desc(m.GetUan()), desc(m.GetVoicemail())
	r.fixed, r.mobile = desc(m.GetFixedLine()), desc(m.GetMobile())
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
