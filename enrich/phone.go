package enrich

import (
	"slices"
	"strings"
	"time"

	// The time zone database is compiled in (about 450 KB) so that
	// local_time works in scratch and distroless images, which have no
	// /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/nyaruka/phonenumbers"

	"github.com/leadcheck/leadcheck/validate"
)

// phoneLanguage is the language of carrier names and place descriptions.
const phoneLanguage = "en"

// enrichPhone reads carrier, region and time zones from the numbering plan
// data shipped with nyaruka/phonenumbers (no network). The carrier is the
// one the number range was allocated to: with number portability the line
// may have moved since, so it is a hint, and it is only asked for mobile
// numbers (and "fixed line or mobile" ones, where the plan cannot tell),
// because the data names mobile carriers only. local_time is set when the
// number has exactly one time zone.
func enrichPhone(pr *validate.PhoneResult, now time.Time) (*Phone, []Gap) {
	if !pr.Valid || pr.E164 == "" {
		return nil, []Gap{{Part: PartPhone, Reason: GapInvalidInput, Message: "the phone number is not valid, so its numbering plan tells nothing"}}
	}
	num, err := phonenumbers.Parse(pr.E164, "")
	if err != nil {
		return nil, []Gap{{Part: PartPhone, Reason: GapInvalidInput, Message: "the phone number could not be read again from its E.164 form"}}
	}
	var gaps []Gap
	p := &Phone{TimeZones: []string{}}
	if region, err := phonenumbers.GetGeocodingForNumber(num, phoneLanguage); err == nil {
		p.Region = region
	}
	if zones, err := phonenumbers.GetTimezonesForNumber(num); err == nil {
		for _, z := range zones {
			if z != phonenumbers.UNKNOWN_TIMEZONE && !slices.Contains(p.TimeZones, z) {
				p.TimeZones = append(p.TimeZones, z)
			}
		}
	}
	switch len(p.TimeZones) {
	case 0:
		gaps = append(gaps, Gap{Part: PartPhone, Reason: GapNoData, Message: "the numbering plan has no time zone for this number"})
	case 1:
		if loc, err := time.LoadLocation(p.TimeZones[0]); err == nil {
			t := now.In(loc).Truncate(time.Second)
			p.LocalTime = &t
		}
	default:
		gaps = append(gaps, Gap{Part: PartPhone, Reason: GapNoData, Message: "the number's region spans several time zones, so its local time is not known"})
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
		if c, err := phonenumbers.GetCarrierForNumber(num, phoneLanguage); err == nil && c != "" {
			p.Carrier = c
		} else {
			gaps = append(gaps, Gap{Part: PartPhone, Reason: GapNoData, Message: "the numbering plan names no carrier for this number range"})
		}
	default:
		gaps = append(gaps, Gap{Part: PartPhone, Reason: GapNotMobile, Message: "carriers are only known for mobile numbers; this is a " + strings.ReplaceAll(pr.Type, "_", " ") + " number"})
	}
	if p.Region == "" {
		gaps = append(gaps, Gap{Part: PartPhone, Reason: GapNoData, Message: "the numbering plan has no place for this number"})
	}
	return p, gaps
}
