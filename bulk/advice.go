package bulk

import (
	"fmt"

	"github.com/leadcheck/leadcheck/validate"
)

// adviceFor says what a new submission of the job should change, from
// what its rows showed so far; nil when nothing.
func adviceFor(r *record) []Advice {
	if n := r.Counts.CountryNeeded; n > 0 {
		rows := "rows have phone numbers in national form and no country to read them in, so they are"
		if n == 1 {
			rows = "row has a phone number in national form and no country to read it in, so it is"
		}
		return []Advice{{
			Code: "set_default_country",
			Message: fmt.Sprintf("%d %s unknown (country_needed); "+
				"submit the file again with default_country (such as US), add a country column, or write the numbers with their + country code", n, rows),
		}}
	}
	return nil
}

// countryNeeded reports a row whose phone could not be read for want of a
// country.
func (o *rowOutcome) countryNeeded() bool {
	return o.inputErr == nil && o.result.Phone != nil && o.result.Phone.Reason == validate.ReasonCountryNeeded
}
