package enrich

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestGuessName(t *testing.T) {
	t.Parallel()
	lists, err := testLists()
	if err != nil {
		t.Fatal(err)
	}
	two := func(first, last string) *Person { return newPerson(first, last, confidenceTwoNames) }
	tests := []struct {
		local string
		want  *Person // nil: no guess
	}{
		// Two separated names.
		{"jane.doe", two("Jane", "Doe")},
		{"jane_doe", two("Jane", "Doe")},
		{"jane-doe", two("Jane", "Doe")},
		{"Jane.Doe", two("Jane", "Doe")},
		{"JANE.DOE", two("Jane", "Doe")},
		{"jAnE.dOe", two("Jane", "Doe")},
		{"john.smith", two("John", "Smith")},
		{"li.na", two("Li", "Na")},
		{"jane..doe", two("Jane", "Doe")},
		{"jane._doe", two("Jane", "Doe")},
		{".jane.doe.", two("Jane", "Doe")},
		// Tags and digits are dropped first.
		{"jane.doe+news", two("Jane", "Doe")},
		{"jane.doe+", two("Jane", "Doe")},
		{"jane.doe2", two("Jane", "Doe")},
		{"jane.doe1987", two("Jane", "Doe")},
		{"jane2.doe", two("Jane", "Doe")},
		{"jane.doe2+x", two("Jane", "Doe")},
		// Compound and apostrophe names.
		{"jean-luc.picard", two("Jean-Luc", "Picard")},
		{"anne-marie_dupont", two("Anne-Marie", "Dupont")},
		{"mary.smith-jones", two("Mary", "Smith-Jones")},
		{"sean.o'brien", two("Sean", "O'Brien")},
		{"gianni.d'angelo", two("Gianni", "D'Angelo")},
		{"maria.dell'acqua", two("Maria", "Dell'acqua")},
		// Unicode names keep their letters and get proper capitals.
		{"élodie.durand", two("Élodie", "Durand")},
		{"jürgen.müller", two("Jürgen", "Müller")},
		{"søren.kierkegaard", two("Søren", "Kierkegaard")},
		{"łukasz.żak", two("Łukasz", "Żak")},
		{"иван.петров", two("Иван", "Петров")},
		{"γιάννης.παππάς", two("Γιάννης", "Παππάς")},
		{"josé.garcía", two("José", "García")},
		// Three parts.
		{"jane.m.doe", newPerson("Jane", "Doe", confidenceMiddleInitial)},
		{"jane_m_doe", newPerson("Jane", "Doe", confidenceMiddleInitial)},
		{"maria.de.souza", newPerson("Maria", "de Souza", confidenceThreeNames)},
		{"jan.van.dijk", newPerson("Jan", "van Dijk", confidenceThreeNames)},
		{"mary.ann.smith", newPerson("Mary", "Ann Smith", confidenceThreeNames)},
		// An initial is not a first name.
		{"j.doe", &Person{LastName: "Doe", Confidence: confidenceInitialLast}},
		{"j_doe", &Person{LastName: "Doe", Confidence: confidenceInitialLast}},
		{"j-doe", &Person{LastName: "Doe", Confidence: confidenceInitialLast}},
		{"é.durand", &Person{LastName: "Durand", Confidence: confidenceInitialLast}},
		{"j.m.doe", nil},
		{"jane.d", nil},
		{"j.d", nil},
		// One word: never split or guessed.
		{"jdoe", nil},
		{"janedoe", nil},
		{"jane", nil},
		{"doe", nil},
		{"JaneDoe", nil},
		{"jane2doe", nil},
		// Role words and non-names.
		{"info.sales", nil},
		{"sales.team", nil},
		{"jane.support", nil},
		{"hello.world", nil}, // "hello" is a role word
		{"admin_jane", nil},
		{"jane.doe.smith.jones", nil},
		{"a.b.c.d", nil},
		{"12345", nil},
		{"123.456", nil},
		{"jane.d0e", nil},
		{"jane.do$e", nil},
		{"x_y", nil},
		{"__", nil},
		{"", nil},
		{"+tag", nil},
		{`"jane doe"`, nil},
		{"jane.--", nil},
		{strings.Repeat("a", 31) + ".doe", nil},
		{"jane." + strings.Repeat("b", 30), two("Jane", "B"+strings.Repeat("b", 29))},
	}
	if len(tests) < 50 {
		t.Fatalf("the table has %d rows; keep at least 50", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.local, func(t *testing.T) {
			t.Parallel()
			g := guessName(tt.local, lists.IsRole)
			if diff := cmp.Diff(tt.want, g.person); diff != "" {
				t.Errorf("guessName(%q) (-want +got):\n%s", tt.local, diff)
			}
			if g.person == nil && (g.reason != GapNoName || g.why == "") {
				t.Errorf("got no guess with reason %q message %q, want %q and a message", g.reason, g.why, GapNoName)
			}
		})
	}
}

func TestConfirmName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		given string
		want  float64
	}{
		{"Jane Doe", confidenceConfirmed},
		{"  jane   DOE ", confidenceConfirmed},
		{"Jane Smith", confidenceTwoNames},
		{"", confidenceTwoNames},
	}
	for _, tt := range tests {
		p := newPerson("Jane", "Doe", confidenceTwoNames)
		confirmName(p, tt.given)
		if p.Confidence != tt.want {
			t.Errorf("given %q: got confidence %v, want %v", tt.given, p.Confidence, tt.want)
		}
	}
}

// FuzzGuessName checks that any local part gives either no guess or a
// bounded guess whose names come from the input's letters.
func FuzzGuessName(f *testing.F) {
	for _, s := range []string{"jane.doe", "j.doe", "jean-luc.picard", "sean.o'brien", "élodie.durand", "jane.m.doe", "a'''b.c", "x.-.y", "\xff.\xfe", "'.'", "o'.doe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, local string) {
		g := guessName(local, func(w string) bool { return w == "info" })
		if g.person == nil {
			if g.reason == "" || g.why == "" {
				t.Fatalf("guessName(%q): no guess and no reason", local)
			}
			return
		}
		p := g.person
		if p.LastName == "" {
			t.Fatalf("guessName(%q): a guess without a last name: %+v", local, p)
		}
		if p.Confidence <= 0 || p.Confidence > 1 {
			t.Fatalf("guessName(%q): confidence %v out of (0, 1]", local, p.Confidence)
		}
		for _, s := range []string{p.FirstName, p.LastName, p.FullName} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 3*maxNamePart+2 {
				t.Fatalf("guessName(%q): unbounded or invalid name %q", local, s)
			}
			if strings.ContainsAny(s, "0123456789+._@\"") {
				t.Fatalf("guessName(%q): name %q holds non-name characters", local, s)
			}
		}
		if (p.FirstName == "") != (p.FullName == "") {
			t.Fatalf("guessName(%q): full name %q without a first name %q", local, p.FullName, p.FirstName)
		}
	})
}
