package enrich

import "time"

// Enrichment is what a lead's email domain and phone tell about it. Field
// names are part of the public API (openapi.yaml, schema Enrichment).
type Enrichment struct {
	Mail    *Mail    `json:"mail,omitempty"`
	Company *Company `json:"company,omitempty"`
	Person  *Person  `json:"person,omitempty"`
	Phone   *Phone   `json:"phone,omitempty"`
	// Missing lists what could not be learnt, and why; never nil.
	Missing []Gap `json:"missing"`
	// Cached is true when the company facts came from the cache.
	Cached bool `json:"cached"`
}

// Mail describes the mail set-up of the email's domain.
type Mail struct {
	Domain          string `json:"domain"`
	Provider        string `json:"provider"`
	ProviderName    string `json:"provider_name"`
	SecurityGateway string `json:"security_gateway,omitempty"`
	SPF             string `json:"spf,omitempty"`
	DMARC           string `json:"dmarc,omitempty"`
	Free            bool   `json:"free"`
	Disposable      bool   `json:"disposable"`
	Role            bool   `json:"role"`
}

// Company holds facts read from the domain's web site.
type Company struct {
	Domain      string            `json:"domain"`
	URL         string            `json:"url,omitempty"`
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Logo        string            `json:"logo,omitempty"`
	Language    string            `json:"language,omitempty"`
	Social      map[string]string `json:"social,omitempty"`
}

// Person is a name guessed from the local part of the address.
type Person struct {
	FirstName  string  `json:"first_name,omitempty"`
	LastName   string  `json:"last_name,omitempty"`
	FullName   string  `json:"full_name,omitempty"`
	Confidence float64 `json:"confidence"`
}

// Phone holds what the numbering plan says about a phone number.
type Phone struct {
	Carrier   string     `json:"carrier,omitempty"`
	Region    string     `json:"region,omitempty"`
	TimeZones []string   `json:"time_zones"`
	LocalTime *time.Time `json:"local_time,omitempty"`
}

// Gap is one thing enrichment could not learn.
type Gap struct {
	Part    string `json:"part"`   // mail, company, person, phone
	Reason  string `json:"reason"` // machine code, e.g. timeout, free_provider
	Message string `json:"message"`
}
