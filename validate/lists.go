package validate

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"
)

// The embedded lists. validate/data/SOURCES.md records where each comes from,
// its version and its licence; `go run ./cmd/updatelists` refreshes the first
// two.
var (
	//go:embed data/disposable.txt
	embeddedDisposable []byte
	//go:embed data/free.txt
	embeddedFree []byte
	//go:embed data/role.txt
	embeddedRole []byte
)

// ListsConfig names the operator's override files, one per list. An empty
// name means no override. The service reads them from LEADCHECK_DISPOSABLE_FILE,
// LEADCHECK_FREE_FILE and LEADCHECK_ROLE_FILE.
//
// An override file has one entry a line; blank lines and lines starting with
// "#" are ignored. A plain entry is added to the embedded list; an entry
// written "!entry" removes that entry from it (an allow-list for the false
// positives every public list has). Removals are applied after additions, so
// "!x" wins over "x" in the same file, and removing an entry the list does
// not hold is not an error, so an override keeps working after a list update
// drops the entry. Domain entries may be written in Unicode or A-label form.
// Role entries are matched folded (see Lists.IsRole), so "!no-reply" also
// removes "noreply".
type ListsConfig struct {
	DisposableFile string
	FreeFile       string
	RoleFile       string
}

// Lists answers "is this domain disposable / a free provider, is this local
// part a role account". It is immutable once loaded, so one value is shared
// by every request.
type Lists struct {
	disposable map[string]struct{}
	free       map[string]struct{}
	role       map[string]struct{} // roleKey of each entry
}

// LoadLists builds the lists from the embedded data and the override files
// in cfg. It runs once at start-up and takes a few milliseconds. Errors name
// the file and the line at fault, so a bad override stops the service at
// start rather than being half applied.
func LoadLists(cfg ListsConfig) (*Lists, error) {
	l := &Lists{
		disposable: parseEmbedded(embeddedDisposable),
		free:       parseEmbedded(embeddedFree),
		role:       make(map[string]struct{}),
	}
	for r := range parseEmbedded(embeddedRole) {
		l.role[roleKey(r)] = struct{}{}
	}
	if err := applyOverride(l.disposable, cfg.DisposableFile, normalizeDomainEntry); err != nil {
		return nil, fmt.Errorf("load disposable list: %w", err)
	}
	if err := applyOverride(l.free, cfg.FreeFile, normalizeDomainEntry); err != nil {
		return nil, fmt.Errorf("load free list: %w", err)
	}
	if err := applyOverride(l.role, cfg.RoleFile, normalizeRoleEntry); err != nil {
		return nil, fmt.Errorf("load role list: %w", err)
	}
	return l, nil
}

// IsDisposable reports whether mail at asciiDomain (the A-label form, as in
// Address.ASCIIDomain) goes to a throw-away inbox. The domain matches when it,
// or any parent of it up to and including its registrable domain (public
// suffix plus one label), is listed: disposable services hand out endless
// subdomains (x.mailinator.com), and the lists hold registrable domains.
// Matching stops at the registrable domain so that an entry can never reach
// past it into a public suffix shared by unrelated owners.
func (l *Lists) IsDisposable(asciiDomain string) bool {
	d := normalizeLookupDomain(asciiDomain)
	if d == "" {
		return false
	}
	registrable, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		// d is itself a public suffix (or malformed): only an exact entry
		// can match.
		_, ok := l.disposable[d]
		return ok
	}
	for {
		if _, ok := l.disposable[d]; ok {
			return true
		}
		if d == registrable {
			return false
		}
		_, parent, found := strings.Cut(d, ".")
		if !found {
			return false
		}
		d = parent
	}
}

// IsFree reports whether asciiDomain is a free mailbox provider (gmail.com,
// web.de...), where anyone can sign up, so the address says nothing about an
// employer. Only the exact domain matches: a subdomain of a provider is not
// where its users receive mail.
func (l *Lists) IsFree(asciiDomain string) bool {
	_, ok := l.free[normalizeLookupDomain(asciiDomain)]
	return ok
}

// IsRole reports whether the local part names a function or team (info,
// sales, no-reply) rather than a person; such leads rarely reach a buyer.
// Matching ignores case and a "+tag", and also ignores the separators ".",
// "-" and "_", so "no-reply", "no_reply", "No.Reply" and "noreply+x" all
// match the entry "no-reply": people write the same role many ways, and no
// personal name folds into a role word in practice.
func (l *Lists) IsRole(local string) bool {
	k := roleKey(local)
	if k == "" {
		return false
	}
	_, ok := l.role[k]
	return ok
}

// Counts reports the number of entries in each list after overrides, for
// start-up logs and metrics. Role entries that differ only in case or
// separators ("noreply", "no-reply") count once.
func (l *Lists) Counts() (disposable, free, role int) {
	return len(l.disposable), len(l.free), len(l.role)
}

// roleKey folds a local part for role matching: quotes, a "+tag", case and
// the separators . - _ are dropped.
func roleKey(local string) string {
	local = strings.TrimSuffix(strings.TrimPrefix(local, "\""), "\"")
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	local = strings.ToLower(local)
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' {
			return -1
		}
		return r
	}, local)
}

func normalizeLookupDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// parseEmbedded reads a list shipped with the binary. The embedded files are
// checked by the updater and by the tests, so only blank and comment lines
// are skipped here; start-up stays fast.
func parseEmbedded(data []byte) map[string]struct{} {
	set := make(map[string]struct{}, bytes.Count(data, []byte{'\n'}))
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		set[string(line)] = struct{}{}
	}
	return set
}

// embeddedFreeDomains is the embedded free-provider list, built on first use
// by SuggestDomain. It is never modified after it is built.
var embeddedFreeDomains = sync.OnceValue(func() map[string]struct{} {
	return parseEmbedded(embeddedFree)
})

// applyOverride adds and removes the entries of the override file path (if
// any) in set. normalize turns an entry into its canonical form or explains
// why it is not a valid entry.
func applyOverride(set map[string]struct{}, path string, normalize func(string) (string, error)) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("override file: %w", err)
	}
	defer f.Close()
	add, remove, err := readOverride(f, path, normalize)
	if err != nil {
		return err
	}
	for _, e := range add {
		set[e] = struct{}{}
	}
	for _, e := range remove {
		delete(set, e)
	}
	return nil
}

// readOverride parses an override file; name is used in errors.
func readOverride(r io.Reader, name string, normalize func(string) (string, error)) (add, remove []string, err error) {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		removal := strings.HasPrefix(line, "!")
		entry := strings.TrimSpace(strings.TrimPrefix(line, "!"))
		norm, err := normalize(entry)
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %q: %w", name, n, line, err)
		}
		if removal {
			remove = append(remove, norm)
		} else {
			add = append(add, norm)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: line %d: %w", name, n+1, err)
	}
	return add, remove, nil
}

// normalizeDomainEntry accepts a domain as an operator would write it and
// returns its A-label form, the form lookups use.
func normalizeDomainEntry(entry string) (string, error) {
	if entry == "" {
		return "", errors.New("empty entry")
	}
	d, err := ParseDomain(entry)
	if err != nil {
		return "", fmt.Errorf("not a domain: %w", err)
	}
	return d.ASCII, nil
}

// normalizeRoleEntry accepts an unquoted local part without a "+tag" and
// returns its roleKey, so "!no-reply" also removes "noreply".
func normalizeRoleEntry(entry string) (string, error) {
	switch {
	case entry == "":
		return "", errors.New("empty entry")
	case strings.ContainsAny(entry, "@+"):
		return "", errors.New("a role entry is a local part without \"@\" or \"+tag\", such as sales")
	}
	if serr := checkDotAtom(entry); serr != nil {
		return "", fmt.Errorf("not a local part: %w", serr)
	}
	k := roleKey(entry)
	if k == "" {
		return "", errors.New("a role entry needs a letter or digit")
	}
	return k, nil
}
