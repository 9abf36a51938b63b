package ingest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// role is what a column holds for validation.
type role int

const (
	roleNone role = iota
	roleEmail
	rolePhone
	roleCountry
	roleDomain
	roleName
	roleCompany
)

// normalizeName folds a header name for matching: lower case, without
// spaces, '_', '-', '.', '/', '*' and ':', so "E-mail Address", "email_address"
// and "EmailAddress" all read "emailaddress".
func normalizeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-', '.', '/', '*', ':', '\t', '\u00a0', '\ufeff', '"', '\'':
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// knownRole maps a normalized header name to the role it names. First and
// last name columns are deliberately not a "name": the full name is what
// validation and enrichment use, and gluing parts together is the caller's
// choice.
func knownRole(norm string) role {
	switch norm {
	case "email", "mail", "emailaddress", "workemail", "businessemail", "contactemail",
		"courriel", "correo", "correoelectronico", "correoelectrónico", "emailadresse",
		"adresseemail", "adressemail", "primaryemail", "personalemail":
		return roleEmail
	case "phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "cell",
		"cellphone", "workphone", "businessphone", "contactnumber", "téléphone", "telefono",
		"teléfono", "handy", "mobilenumber", "mobilephonenumber", "telephonenumber", "telefon",
		"telefonnummer", "phoneno":
		return rolePhone
	case "country", "countrycode", "nation", "pays", "país", "pais", "land", "isocountry",
		"countryregion", "countryname", "mailingcountry", "billingcountry":
		return roleCountry
	case "domain", "website", "companydomain", "url", "site", "websiteurl", "companywebsite",
		"homepage", "web", "companydomainname", "domainname":
		return roleDomain
	case "name", "fullname", "contactname":
		return roleName
	case "company", "companyname", "organization", "organisation", "account", "accountname",
		"employer", "organizationname", "organisationname", "businessname":
		return roleCompany
	}
	return roleNone
}

// optionField names the option that chooses the column of r, for errors.
func (r role) optionField() string {
	return [...]string{
		roleEmail:   "email_column",
		rolePhone:   "phone_column",
		roleCountry: "country_column",
		roleDomain:  "domain_column",
		roleName:    "name_column",
		roleCompany: "company_column",
	}[r]
}

func (o Options) columnOption(r role) string {
	switch r {
	case roleEmail:
		return o.EmailColumn
	case rolePhone:
		return o.PhoneColumn
	case roleCountry:
		return o.CountryColumn
	case roleDomain:
		return o.DomainColumn
	case roleName:
		return o.NameColumn
	case roleCompany:
		return o.CompanyColumn
	}
	return ""
}

func (c *Columns) at(r role) *int {
	switch r {
	case roleEmail:
		return &c.Email
	case rolePhone:
		return &c.Phone
	case roleCountry:
		return &c.Country
	case roleDomain:
		return &c.Domain
	case roleName:
		return &c.Name
	default:
		return &c.Company
	}
}

// looksLikeHeader decides whether the first row r1 is a header: it names a
// known column or a column the caller asked for, or none of its cells looks
// like a lead value while the second row r2 has one under a non-empty cell.
func looksLikeHeader(r1, r2 []string, o Options) bool {
	var asked []string
	for r := roleEmail; r <= roleCompany; r++ {
		v := strings.TrimSpace(o.columnOption(r))
		if _, err := strconv.Atoi(v); v != "" && err != nil {
			asked = append(asked, normalizeName(v))
		}
	}
	for _, c := range r1 {
		n := normalizeName(c)
		if knownRole(n) != roleNone {
			return true
		}
		for _, a := range asked {
			if a == n && n != "" {
				return true
			}
		}
	}
	if r2 == nil {
		return false
	}
	for _, c := range r1 {
		if leadLike(strings.TrimSpace(c)) {
			return false
		}
	}
	for i, c := range r1 {
		if i < len(r2) && strings.TrimSpace(c) != "" && leadLike(strings.TrimSpace(r2[i])) {
			return true
		}
	}
	return false
}

func leadLike(s string) bool {
	return looksLikeEmail(s) || phoneScore(s) > 0 || looksLikeDomain(s)
}

// resolveColumns finds the columns: the caller's choices first, then known
// header names, then content (for email, phone and domain) in the sample of
// data rows. first is the first row of the file, shown in errors when there
// is no header.
func resolveColumns(header []string, hasHeader bool, first []string, data [][]string, o Options) (Columns, error) {
	c := Columns{Email: -1, Phone: -1, Country: -1, Domain: -1, Name: -1, Company: -1}
	used := make([]bool, len(header))
	for r := roleEmail; r <= roleCompany; r++ {
		v := o.columnOption(r)
		if strings.TrimSpace(v) == "" {
			continue
		}
		i, err := findColumn(header, hasHeader, first, v)
		if err != nil {
			err.Field = r.optionField()
			return c, err
		}
		*c.at(r) = i
		used[i] = true
	}
	if hasHeader {
		for i, h := range header {
			r := knownRole(normalizeName(h))
			if r == roleNone || used[i] || *c.at(r) >= 0 {
				continue
			}
			*c.at(r) = i
			used[i] = true
		}
	}
	skip := func(i int) bool { return hasHeader && notContactColumn(normalizeName(header[i])) }
	if c.Email < 0 {
		c.Email = bestColumn(data, used, nil, func(s string) int { return b2i(looksLikeEmail(s)) })
	}
	if c.Phone < 0 {
		c.Phone = bestColumn(data, used, skip, phoneScore)
	}
	if c.Domain < 0 {
		c.Domain = bestColumn(data, used, skip, func(s string) int { return b2i(looksLikeDomain(s)) })
	}
	if c.Email < 0 && c.Phone < 0 && c.Domain < 0 {
		if hasHeader {
			return c, &Error{Code: CodeNoLeadColumn, Message: fmt.Sprintf(
				"found no email, phone or domain column; the headers are: %s — name one with email_column or phone_column", listNames(header))}
		}
		return c, &Error{Code: CodeNoLeadColumn, Message: fmt.Sprintf(
			"found no email, phone or domain column in a file without a header row; its first row is: %s — name one by number with email_column or phone_column", listNames(first))}
	}
	return c, nil
}

// findColumn resolves a column option: a 1-based index, or a header name
// (exact, then ignoring case, spaces, '_' and '-').
func findColumn(header []string, hasHeader bool, first []string, v string) (int, *Error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > len(header) {
			return -1, &Error{Code: CodeUnknownColumn, Message: fmt.Sprintf(
				"there is no column %d; the file has %d columns: %s", n, len(header), listNames(header))}
		}
		return n - 1, nil
	}
	for i, h := range header {
		if strings.TrimSpace(h) == v {
			return i, nil
		}
	}
	if nv := normalizeName(v); nv != "" {
		for i, h := range header {
			if normalizeName(h) == nv {
				return i, nil
			}
		}
	}
	if !hasHeader {
		return -1, &Error{Code: CodeUnknownColumn, Message: fmt.Sprintf(
			"no column %q: the file has no header row, so name columns by number (1 to %d); its first row is: %s", v, len(header), listNames(first))}
	}
	return -1, &Error{Code: CodeUnknownColumn, Message: fmt.Sprintf(
		"no column %q in the header; the headers are: %s", v, listNames(header))}
}

// notContactColumn reports header names of columns whose digits or dots are
// not phones or domains (ids, dates, postal codes, amounts), so content
// detection does not take them.
func notContactColumn(norm string) bool {
	if strings.HasSuffix(norm, "id") || norm == "ip" || norm == "ipaddress" {
		return true
	}
	for _, w := range []string{"date", "time", "zip", "postal", "postcode", "plz", "created", "updated",
		"amount", "revenue", "price", "employees", "score", "version", "count", "total"} {
		if strings.Contains(norm, w) {
			return true
		}
	}
	return false
}

// bestColumn picks the column whose sampled values score highest, among
// those where most non-empty values and at least a quarter of the rows
// score; -1 when none qualifies.
func bestColumn(data [][]string, used []bool, skip func(int) bool, score func(string) int) int {
	best, bestScore := -1, 0
	for i := range used {
		if used[i] || (skip != nil && skip(i)) {
			continue
		}
		var hits, nonEmpty, total int
		for _, row := range data {
			if i >= len(row) {
				continue
			}
			v := strings.TrimSpace(row[i])
			if v == "" {
				continue
			}
			nonEmpty++
			if s := score(v); s > 0 {
				hits++
				total += s
			}
		}
		if hits == 0 || hits*2 <= nonEmpty || hits*4 < len(data) {
			continue
		}
		if total > bestScore {
			best, bestScore = i, total
		}
	}
	return best
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// looksLikeEmail: an '@' with something on both sides.
func looksLikeEmail(s string) bool {
	i := strings.IndexByte(s, '@')
	return i > 0 && i < len(s)-1
}

// phoneScore is 0 when s does not look like a phone number, 2 when it has
// the marks of one (a leading '+', separators) and 1 for bare digits, which
// could also be an id, so a formatted column wins over an id column.
func phoneScore(s string) int {
	digits, marks, dots := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '+':
			if i != 0 {
				return 0
			}
			marks++
		case c == '.':
			dots++
			marks++
		case c == ' ', c == '(', c == ')', c == '-', c == '/':
			marks++
		case c == 'x', c == 'X', c == '#', c == 'e', c == 'E':
			if digits == 0 || !isExtension(s[i:]) {
				return 0
			}
			i = len(s)
		default:
			return 0
		}
	}
	if digits < 7 || digits > 15 || looksLikeDate(s) || (dots == 1 && marks == 1) {
		return 0
	}
	if marks > 0 {
		return 2
	}
	return 1
}

// isExtension recognises a phone extension suffix: "x12", "ext. 12", "#12".
func isExtension(s string) bool {
	l := strings.ToLower(s)
	for _, p := range []string{"ext.", "ext", "x", "#"} {
		if strings.HasPrefix(l, p) {
			rest := strings.TrimSpace(l[len(p):])
			if rest == "" || len(rest) > 6 {
				return false
			}
			for i := 0; i < len(rest); i++ {
				if rest[i] < '0' || rest[i] > '9' {
					return false
				}
			}
			return true
		}
	}
	return false
}

// looksLikeDate recognises 2024-01-15, 15.01.2024, 1/15/2024 and the like.
func looksLikeDate(s string) bool {
	for _, sep := range []string{"-", "/", "."} {
		parts := strings.Split(s, sep)
		if len(parts) != 3 {
			continue
		}
		ok := true
		for _, p := range parts {
			if p == "" || strings.Trim(p, "0123456789") != "" {
				ok = false
			}
		}
		if !ok {
			continue
		}
		a, b, c := len(parts[0]), len(parts[1]), len(parts[2])
		if (a == 4 && b <= 2 && c <= 2) || (a <= 2 && b <= 2 && c == 4) {
			return true
		}
	}
	return false
}

// looksLikeDomain recognises a host name or a web address: dotted labels
// of letters, digits and hyphens ending in an alphabetic top-level label.
func looksLikeDomain(s string) bool {
	if strings.ContainsAny(s, "@ \t,;") {
		return false
	}
	s = strings.ToLower(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if i := strings.IndexAny(s, "/?#:"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, ".")
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 0x80) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if strings.HasPrefix(tld, "xn--") {
		return true
	}
	if len(tld) < 2 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if tld[i] >= '0' && tld[i] <= '9' || tld[i] == '-' {
			return false
		}
	}
	return true
}
