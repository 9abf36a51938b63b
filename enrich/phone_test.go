package enrich

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadcheck/leadcheck/validate"
)

func TestEnrichPhone(t *testing.T) {
	t.Parallel()
	at := func(zone, clock string) *time.Time {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		v, err := time.ParseInLocation("2006-01-02 15:04", clock, loc)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	tests := []struct {
		name, phone, country string
		want                 *Phone
		gaps                 []string
	}{
		{
			name: "German mobile", phone: "+49 151 23456789",
			want: &Phone{Carrier: "T-Mobile", Region: "Germany", TimeZones: []string{"Europe/Berlin"}, LocalTime: at("Europe/Berlin", "2026-01-15 13:00")},
		},
		{
			name: "French mobile, national form", phone: "06 12 34 56 78", country: "FR",
			want: &Phone{Carrier: "SFR", Region: "France", TimeZones: []string{"Europe/Paris"}, LocalTime: at("Europe/Paris", "2026-01-15 13:00")},
		},
		{
			name: "Japanese mobile", phone: "+81 90 1234 5678",
			want: &Phone{Carrier: "KDDI", Region: "Japan", TimeZones: []string{"Asia/Tokyo"}, LocalTime: at("Asia/Tokyo", "2026-01-15 21:00")},
		},
		{
			name: "Brazilian mobile in summer", phone: "+55 11 98765 4321",
			want: &Phone{Carrier: "TIM", Region: "São Paulo", TimeZones: []string{"America/Sao_Paulo"}, LocalTime: at("America/Sao_Paulo", "2026-01-15 09:00")},
		},
		{
			name: "US number: fixed line or mobile, no carrier data", phone: "+1 650-253-0000",
			want: &Phone{Region: "Mountain View, CA", TimeZones: []string{"America/Los_Angeles"}, LocalTime: at("America/Los_Angeles", "2026-01-15 04:00")},
			gaps: []string{GapNoData},
		},
		{
			name: "London landline", phone: "020 7946 0958", country: "GB",
			want: &Phone{Region: "London", TimeZones: []string{"Europe/London"}, LocalTime: at("Europe/London", "2026-01-15 12:00")},
			gaps: []string{GapNotMobile},
		},
		{
			name: "UK mobile spans several zones", phone: "+44 7400 123456",
			want: &Phone{Carrier: "Three", Region: "United Kingdom", TimeZones: []string{"Europe/Guernsey", "Europe/Isle_of_Man", "Europe/London"}},
			gaps: []string{GapNoData},
		},
		{
			name: "US toll free", phone: "+1 800 555 0199",
			gaps: []string{GapNoData, GapNotMobile},
		},
		{
			name: "invalid number", phone: "+49 123",
			gaps: []string{GapInvalidInput},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pr := validate.ValidatePhone(tt.phone, tt.country)
			got, gs := enrichPhone(&pr, fixedClock())
			var reasons []string
			for _, g := range gs {
				reasons = append(reasons, g.Reason)
				if g.Part != PartPhone || g.Message == "" {
					t.Errorf("gap %+v: want part phone and a message", g)
				}
			}
			if diff := cmp.Diff(tt.gaps, reasons); diff != "" {
				t.Errorf("gaps (-want +got):\n%s", diff)
			}
			if tt.want == nil {
				if tt.gaps[0] == GapInvalidInput && got != nil {
					t.Errorf("got %+v for an invalid number", got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("phone (-want +got):\n%s", diff)
			}
			if got.LocalTime != nil && !got.LocalTime.Equal(fixedClock()) {
				t.Errorf("local time %s is not the injected instant %s", got.LocalTime, fixedClock())
			}
		})
	}
}

// TestPhoneThroughEnrich checks the injected clock reaches the phone facts
// and the time zone list is never null.
func TestPhoneThroughEnrich(t *testing.T) {
	t.Parallel()
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{Now: fixedClock, Resolve: routes(t, nil)}, engine, lists, nil, nil)
	got, err := e.Enrich(context.Background(), validate.Request{Phone: "+61 412 345 678"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Phone == nil || got.Phone.Carrier != "Optus" || got.Phone.LocalTime == nil {
		t.Fatalf("got phone %+v, want Optus with a local time", got.Phone)
	}
	if got, want := got.Phone.LocalTime.Format(time.RFC3339), "2026-01-15T23:00:00+11:00"; got != want {
		t.Errorf("local time: got %s, want %s (Sydney summer time)", got, want)
	}
	if got.Mail != nil || got.Company != nil || got.Person != nil {
		t.Errorf("a phone-only lead got mail, company or person facts: %+v", got)
	}
	if len(got.Missing) != 0 {
		t.Errorf("got gaps %+v, want none", got.Missing)
	}
}
