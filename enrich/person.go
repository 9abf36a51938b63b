package enrich

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Confidence of a name guess, by the shape of the local part. The numbers
// are ranks, not measured probabilities: they let a CRM decide which
// guesses to show.
const (
	// confidenceTwoNames: first.last, first_last, first-last.
	confidenceTwoNames = 0.9
	// confidenceMiddleInitial: first.m.last; the initial is dropped.
	confidenceMiddleInitial = 0.8
	// confidenceThreeNames: first.middle.last, read as a first name and a
	// two-word last name ("maria.de.souza"), which is only one reading.
	confidenceThreeNames = 0.6
	// confidenceInitialLast: j.doe; only the last name is known.
	confidenceInitialLast = 0.5
	// confidenceConfirmed: the lead's own name field agrees with the guess.
	confidenceConfirmed = 1.0
)

// maxNamePart bounds one part of a name in runes; longer "names" are not
// names.
const maxNamePart = 30

// nameParticles stay lower-case inside a last name ("Maria da Silva",
// "Jan van Dijk").
var nameParticles = map[string]bool{
	"da": true, "das": true, "de": true, "del": true, "della": true, "der": true, "des": true,
	"di": true, "do": true, "dos": true, "du": true, "la": true, "le": true, "van": true,
	"von": true, "ten": true, "ter": true, "den": true, "zu": true,
}

// nameGuess is the result of guessName: a Person, or the reason there is
// none.
type nameGuess struct {
	person *Person
	reason string // a Gap reason when person is nil
	why    string // the Gap message
}

// guessName reads a person's name from an email local part, and never
// invents one: only separated parts that look like names count
// (letters only, at least two of them, at most maxNamePart), a "+tag" and
// trailing digits are dropped first, and
//
//   - jane.doe, jane_doe, jane-doe → Jane Doe (0.9);
//   - jean-luc.picard → Jean-Luc Picard (a hyphen inside a part joins a
//     compound name when "." or "_" separate the parts);
//   - jane.m.doe → Jane Doe (0.8);
//   - maria.de.souza → Maria / de Souza (0.6);
//   - j.doe → last name Doe only (0.5): an initial is not a first name;
//   - jdoe, janedoe, jane → none: one word may be a first name, a last name
//     or both run together, and no name list is consulted to tell;
//   - any part that is a role word (info, sales...) → none.
//
// isRole reports role words; names are title-cased with Unicode rules
// (élodie → Élodie), and O'brien-style apostrophes after one letter get a
// capital after them too (O'Brien, D'Angelo).
func guessName(local string, isRole func(string) bool) nameGuess {
	none := func(why string) nameGuess { return nameGuess{reason: GapNoName, why: why} }
	if strings.HasPrefix(local, `"`) {
		return none("the local part is quoted; names are not read from quoted local parts")
	}
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	local = strings.ToLower(local)
	sep := "._"
	if !strings.ContainsAny(local, sep) {
		sep = "-"
	}
	raw := strings.FieldsFunc(local, func(r rune) bool { return strings.ContainsRune(sep, r) })
	var parts []string
	for _, p := range raw {
		p = strings.TrimRightFunc(p, func(r rune) bool { return r >= '0' && r <= '9' })
		p = strings.Trim(p, "-'")
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) < 2 {
		return none("the local part is one word; it may be a first name, a last name or both run together")
	}
	if len(parts) > 3 {
		return none("the local part has too many parts to read a name from")
	}
	for _, p := range parts {
		if isRole != nil && isRole(p) {
			return none("the local part contains a role word (" + p + "), not a name")
		}
		if !nameLike(p) && !isInitial(p) {
			return none("the local part has parts that are not names (digits or symbols)")
		}
	}
	first, last := parts[0], parts[len(parts)-1]
	if isInitial(last) {
		return none("the last part is an initial; a name is not guessed from initials")
	}
	switch {
	case len(parts) == 2 && isInitial(first):
		return nameGuess{person: &Person{LastName: titleName(last), Confidence: confidenceInitialLast}}
	case len(parts) == 2:
		return nameGuess{person: newPerson(titleName(first), titleName(last), confidenceTwoNames)}
	case isInitial(first):
		return none("the first part is an initial; a name is not guessed from initials")
	case isInitial(parts[1]):
		return nameGuess{person: newPerson(titleName(first), titleName(last), confidenceMiddleInitial)}
	default:
		middle := titleName(parts[1])
		if nameParticles[parts[1]] {
			middle = parts[1]
		}
		return nameGuess{person: newPerson(titleName(first), middle+" "+titleName(last), confidenceThreeNames)}
	}
}

func newPerson(first, last string, confidence float64) *Person {
	return &Person{FirstName: first, LastName: last, FullName: first + " " + last, Confidence: confidence}
}

// nameLike reports whether a part can be a name: letters, with inner
// hyphens and apostrophes, at least two letters and at most maxNamePart
// runes.
func nameLike(p string) bool {
	n := utf8.RuneCountInString(p)
	if n < 2 || n > maxNamePart {
		return false
	}
	letters := 0
	for _, r := range p {
		switch {
		case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r):
			letters++
		case r == '-' || r == '\'':
		default:
			return false
		}
	}
	return letters >= 2 && !strings.Contains(p, "--") && !strings.Contains(p, "''")
}

// isInitial reports a one-letter part.
func isInitial(p string) bool {
	r, size := utf8.DecodeRuneInString(p)
	return size == len(p) && unicode.IsLetter(r)
}

// titleName title-cases a name part, including each side of a hyphen
// (Jean-Luc) and the letter after a one-letter prefix with an apostrophe
// (O'Brien).
func titleName(p string) string {
	c := cases.Title(language.Und)
	segs := strings.Split(p, "'")
	for i, s := range segs {
		if i == 0 || utf8.RuneCountInString(segs[i-1]) == 1 {
			segs[i] = c.String(s)
		}
	}
	return strings.Join(segs, "'")
}

// confirmName raises the confidence of a guess to 1 when the lead's own
// name field says the same, folding case and spaces.
func confirmName(p *Person, given string) {
	if p == nil || p.FullName == "" || strings.TrimSpace(given) == "" {
		return
	}
	fold := func(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }
	if fold(given) == fold(p.FullName) {
		p.Confidence = confidenceConfirmed
	}
}
