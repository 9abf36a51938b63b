package validate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"
)

// loadTestLists loads the embedded lists without overrides.
func loadTestLists(t testing.TB) *Lists {
	t.Helper()
	l, err := LoadLists(ListsConfig{})
	if err != nil {
		t.Fatalf("LoadLists(no overrides) error = %v", err)
	}
	return l
}

// writeOverride writes an override file in a per-test directory.
func writeOverride(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

func embeddedLines(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// The embedded domain lists must be in the exact form lookups use, or their
// entries silently never match.
func TestEmbeddedDomainListsWellFormed(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{"disposable.txt": embeddedDisposable, "free.txt": embeddedFree} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lines := strings.Split(string(data), "\n")
			if last := lines[len(lines)-1]; last != "" {
				t.Errorf("%s does not end with a newline (last line %q)", name, last)
			}
			entries := lines[:len(lines)-1]
			if !slices.IsSorted(entries) {
				t.Errorf("%s is not sorted", name)
			}
			if n := len(slices.Compact(slices.Clone(entries))); n != len(entries) {
				t.Errorf("%s has %d duplicate entries", name, len(entries)-n)
			}
			for i, e := range entries {
				d, err := ParseDomain(e)
				if err != nil {
					t.Errorf("%s:%d: %q does not parse: %v", name, i+1, e, err)
					continue
				}
				if d.ASCII != e {
					t.Errorf("%s:%d: %q, want it written as %q", name, i+1, e, d.ASCII)
				}
			}
		})
	}
}

func TestEmbeddedListsDisjointAndSized(t *testing.T) {
	t.Parallel()
	disposable := embeddedLines(embeddedDisposable)
	free := embeddedLines(embeddedFree)
	role := embeddedLines(embeddedRole)
	for _, d := range free {
		if _, found := slices.BinarySearch(disposable, d); found {
			t.Errorf("%q is on both the free and the disposable list, want it only on the disposable one", d)
		}
	}
	// Lower bounds catch a truncated or empty update, not the exact size.
	for _, c := range []struct {
		name string
		got  int
		min  int
	}{
		{"disposable", len(disposable), 5000},
		{"free", len(free), 3000},
		{"role", len(role), 50},
	} {
		if c.got < c.min {
			t.Errorf("%s list has %d entries, want at least %d", c.name, c.got, c.min)
		}
	}
	for _, r := range role {
		if _, err := normalizeRoleEntry(r); err != nil {
			t.Errorf("role.txt entry %q is not valid: %v", r, err)
		}
		if r != strings.ToLower(r) {
			t.Errorf("role.txt entry %q is not lower-case", r)
		}
	}
}

func TestLoadListsCounts(t *testing.T) {
	t.Parallel()
	l := loadTestLists(t)
	disposable, free, role := l.Counts()
	if want := len(embeddedLines(embeddedDisposable)); disposable != want {
		t.Errorf("disposable count = %d, want %d", disposable, want)
	}
	if want := len(embeddedLines(embeddedFree)); free != want {
		t.Errorf("free count = %d, want %d", free, want)
	}
	keys := make(map[string]bool)
	for _, r := range embeddedLines(embeddedRole) {
		keys[roleKey(r)] = true
	}
	if role != len(keys) {
		t.Errorf("role count = %d, want %d distinct folded entries", role, len(keys))
	}
}

func TestIsDisposable(t *testing.T) {
	t.Parallel()
	l := loadTestLists(t)
	tests := []struct {
		domain string
		want   bool
	}{
		{"mailinator.com", true},
		{"MAILINATOR.COM", true},
		{"mailinator.com.", true},
		{" mailinator.com ", true},
		{"x.mailinator.com", true},
		{"a.b.c.mailinator.com", true},
		{"mailinator.net", true},
		{"mailinator.co.uk", true},
		{"x.mailinator.co.uk", true},
		{"guerrillamail.com", true},
		{"sharklasers.com", true},
		{"10minutemail.com", true},
		{"10minutemail.co.uk", true},
		{"yopmail.com", true},
		{"yopmail.fr", true},
		{"temp-mail.org", true},
		{"trashmail.com", true},
		{"tempmail.plus", true},
		{"temp-mail.pp.ua", true},
		{"x.temp-mail.pp.ua", true},
		// Entries under a private public suffix (dynamic DNS) match
		// themselves and their subdomains, never the shared suffix.
		{"0-mailer.dynv6.net", true},
		{"x.0-mailer.dynv6.net", true},
		{"dynv6.net", false},
		{"someone-else.dynv6.net", false},
		{"yopmail.theworkpc.com", true},
		{"theworkpc.com", false},
		// Typo-squatting domains of big providers are on the list.
		{"gmial.com", true},
		{"hotmial.com", true},
		// Not disposable.
		{"gmail.com", false},
		{"yahoo.com", false},
		{"example.com", false},
		{"mail.example.com", false},
		{"mailinator.com-mail.example", false},
		{"amailinator.example", false},
		{"mailinator.com.example.org", false},
		{"mailinator", false},
		{"com", false},
		{"co.uk", false},
		{"pp.ua", false},
		{"", false},
		{".", false},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			if got := l.IsDisposable(tt.domain); got != tt.want {
				t.Errorf("IsDisposable(%q) = %v, want %v", tt.domain, got, tt.want)
			}
		})
	}
}

// Every listed domain and its subdomains are disposable; the parent of an
// entry that sits below its registrable domain is not.
func TestIsDisposableWholeList(t *testing.T) {
	t.Parallel()
	l := loadTestLists(t)
	for _, e := range embeddedLines(embeddedDisposable) {
		if !l.IsDisposable(e) {
			t.Errorf("IsDisposable(%q) = false for a listed domain", e)
		}
		registrable, err := publicsuffix.EffectiveTLDPlusOne(e)
		if err != nil {
			continue // the entry is itself a public suffix: matched exactly only
		}
		if !l.IsDisposable("sub." + e) {
			t.Errorf("IsDisposable(%q) = false under the listed %q", "sub."+e, e)
		}
		if registrable != e {
			_, parentListed := l.disposable[registrable]
			if got := l.IsDisposable(registrable); got != parentListed {
				t.Errorf("IsDisposable(%q) = %v, want %v (only %q is listed)", registrable, got, parentListed, e)
			}
		}
	}
}

func TestIsFree(t *testing.T) {
	t.Parallel()
	l := loadTestLists(t)
	tests := []struct {
		domain string
		want   bool
	}{
		{"gmail.com", true},
		{"GMAIL.COM", true},
		{"gmail.com.", true},
		{"googlemail.com", true},
		{"yahoo.com", true},
		{"yahoo.co.uk", true},
		{"hotmail.com", true},
		{"outlook.com", true},
		{"live.com", true},
		{"icloud.com", true},
		{"me.com", true},
		{"aol.com", true},
		{"proton.me", true},
		{"protonmail.com", true},
		{"gmx.de", true},
		{"web.de", true},
		{"mail.ru", true},
		{"yandex.ru", true},
		{"qq.com", true},
		{"comcast.net", true},
		{"mail.gmail.com", false},
		{"mailinator.com", false}, // disposable, so not on the free list
		{"example.com", false},
		{"google.com", false},
		{"microsoft.com", false},
		{"acme.co.uk", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			if got := l.IsFree(tt.domain); got != tt.want {
				t.Errorf("IsFree(%q) = %v, want %v", tt.domain, got, tt.want)
			}
		})
	}
}

func TestIsRole(t *testing.T) {
	t.Parallel()
	l := loadTestLists(t)
	tests := []struct {
		local string
		want  bool
	}{
		{"info", true},
		{"INFO", true},
		{"Info", true},
		{"info+newsletter", true},
		{"Info+News", true},
		{`"info"`, true},
		{"sales", true},
		{"support", true},
		{"support+ticket-123", true},
		{"admin", true},
		{"administrator", true},
		{"noreply", true},
		{"no-reply", true},
		{"no_reply", true},
		{"no.reply", true},
		{"No.Reply", true},
		{"NO-REPLY+bounce", true},
		{"postmaster", true},
		{"abuse", true},
		{"webmaster", true},
		{"hostmaster", true},
		{"mailer-daemon", true},
		{"MAILER-DAEMON", true},
		{"mailerdaemon", true},
		{"contact", true},
		{"contact-us", true},
		{"contact_us", true},
		{"hello", true},
		{"office", true},
		{"billing", true},
		{"accounts", true},
		{"careers", true},
		{"jobs", true},
		{"hr", true},
		{"h.r", true}, // separators are ignored, even here
		{"marketing", true},
		{"press", true},
		{"team", true},
		{"help", true},
		{"helpdesk", true},
		{"help-desk", true},
		{"enquiries", true},
		{"customer.service", true},
		{"customerservice", true},
		{"jane", false},
		{"jane.doe", false},
		{"j.doe", false},
		{"info2", false},
		{"infos", false},
		{"sales.team", false},
		{"salesperson", false},
		{"hrothgar", false},
		{"teamlead", false},
		{"+info", false},
		{"", false},
		{"+", false},
		{"...", false},
		{`"john doe"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.local, func(t *testing.T) {
			t.Parallel()
			if got := l.IsRole(tt.local); got != tt.want {
				t.Errorf("IsRole(%q) = %v, want %v", tt.local, got, tt.want)
			}
		})
	}
}

func TestLoadListsOverrides(t *testing.T) {
	t.Parallel()
	base := loadTestLists(t)
	baseDisposable, baseFree, baseRole := base.Counts()

	disposable := writeOverride(t, "disposable.txt", "\ufeff# extra throw-away domains\r\n"+
		"burner.example\r\n"+
		"\r\n"+
		"  Bücher-Temp.DE  \r\n"+
		"!mailinator.com\r\n"+
		"added-then-removed.example\n"+
		"!added-then-removed.example\n"+
		"!never-listed.example\n")
	free := writeOverride(t, "free.txt", "corp-webmail.example\n!gmail.com\n")
	role := writeOverride(t, "role.txt", "# our own roles\nprocurement\nSecurity-Team\n!no-reply\n!hello\n")

	l, err := LoadLists(ListsConfig{DisposableFile: disposable, FreeFile: free, RoleFile: role})
	if err != nil {
		t.Fatalf("LoadLists with overrides error = %v", err)
	}

	idnTemp, err := ParseDomain("bücher-temp.de")
	if err != nil {
		t.Fatalf("ParseDomain(bücher-temp.de) error = %v", err)
	}
	checks := []struct {
		name string
		got  bool
		want bool
	}{
		{"IsDisposable(burner.example)", l.IsDisposable("burner.example"), true},
		{"IsDisposable(x.burner.example)", l.IsDisposable("x.burner.example"), true},
		{"IsDisposable(bücher-temp.de in A-label form)", l.IsDisposable(idnTemp.ASCII), true},
		{"IsDisposable(mailinator.com)", l.IsDisposable("mailinator.com"), false},
		{"IsDisposable(x.mailinator.com)", l.IsDisposable("x.mailinator.com"), false},
		{"IsDisposable(mailinator.net)", l.IsDisposable("mailinator.net"), true},
		{"IsDisposable(added-then-removed.example)", l.IsDisposable("added-then-removed.example"), false},
		{"IsFree(corp-webmail.example)", l.IsFree("corp-webmail.example"), true},
		{"IsFree(gmail.com)", l.IsFree("gmail.com"), false},
		{"IsFree(yahoo.com)", l.IsFree("yahoo.com"), true},
		{"IsRole(procurement)", l.IsRole("procurement"), true},
		{"IsRole(security_team+x)", l.IsRole("security_team+x"), true},
		{"IsRole(no-reply)", l.IsRole("no-reply"), false},
		{"IsRole(noreply)", l.IsRole("noreply"), false},
		{"IsRole(hello)", l.IsRole("hello"), false},
		{"IsRole(info)", l.IsRole("info"), true},
		// The embedded lists of other loads are untouched.
		{"base IsDisposable(mailinator.com)", base.IsDisposable("mailinator.com"), true},
		{"base IsFree(gmail.com)", base.IsFree("gmail.com"), true},
		{"base IsRole(noreply)", base.IsRole("noreply"), true},
		{"base IsDisposable(burner.example)", base.IsDisposable("burner.example"), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	gotDisposable, gotFree, gotRole := l.Counts()
	if want := baseDisposable + 2 - 1; gotDisposable != want {
		t.Errorf("disposable count = %d, want %d", gotDisposable, want)
	}
	if want := baseFree + 1 - 1; gotFree != want {
		t.Errorf("free count = %d, want %d", gotFree, want)
	}
	if want := baseRole + 2 - 2; gotRole != want {
		t.Errorf("role count = %d, want %d", gotRole, want)
	}
}

func TestLoadListsOverrideErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.txt")
	tests := []struct {
		name    string
		cfg     func(t *testing.T) ListsConfig
		wantErr []string // substrings of the error
	}{
		{
			name:    "missing disposable file",
			cfg:     func(*testing.T) ListsConfig { return ListsConfig{DisposableFile: missing} },
			wantErr: []string{"disposable", missing},
		},
		{
			name:    "missing free file",
			cfg:     func(*testing.T) ListsConfig { return ListsConfig{FreeFile: missing} },
			wantErr: []string{"free", missing},
		},
		{
			name:    "missing role file",
			cfg:     func(*testing.T) ListsConfig { return ListsConfig{RoleFile: missing} },
			wantErr: []string{"role", missing},
		},
		{
			name: "domain with a space",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{DisposableFile: writeOverride(t, "d.txt", "# ok\nfine.example\nbad domain.example\n")}
			},
			wantErr: []string{"d.txt:3", "bad domain.example", "contains a space"},
		},
		{
			name: "address instead of domain",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{FreeFile: writeOverride(t, "f.txt", "jane@example.com\n")}
			},
			wantErr: []string{"f.txt:1", "jane@example.com"},
		},
		{
			name: "single label",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{FreeFile: writeOverride(t, "f.txt", "\n\nlocalhost\n")}
			},
			wantErr: []string{"f.txt:3", "has no dot"},
		},
		{
			name: "bare exclamation mark",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{DisposableFile: writeOverride(t, "d.txt", "!\n")}
			},
			wantErr: []string{"d.txt:1", "empty entry"},
		},
		{
			name: "ip literal",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{DisposableFile: writeOverride(t, "d.txt", "[192.0.2.1]\n")}
			},
			wantErr: []string{"d.txt:1"},
		},
		{
			name: "role with at sign",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{RoleFile: writeOverride(t, "r.txt", "sales\ninfo@example.com\n")}
			},
			wantErr: []string{"r.txt:2", "without \"@\""},
		},
		{
			name: "role with tag",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{RoleFile: writeOverride(t, "r.txt", "sales+x\n")}
			},
			wantErr: []string{"r.txt:1", "+tag"},
		},
		{
			name: "role with space",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{RoleFile: writeOverride(t, "r.txt", "sales team\n")}
			},
			wantErr: []string{"r.txt:1", "contains a space"},
		},
		{
			name: "role of separators only",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{RoleFile: writeOverride(t, "r.txt", "-\n")}
			},
			wantErr: []string{"r.txt:1", "letter or digit"},
		},
		{
			name: "role with dots at the edge",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{RoleFile: writeOverride(t, "r.txt", "!.sales\n")}
			},
			wantErr: []string{"r.txt:1", "starts with a dot"},
		},
		{
			name: "line too long",
			cfg: func(t *testing.T) ListsConfig {
				return ListsConfig{DisposableFile: writeOverride(t, "d.txt", "ok.example\n"+strings.Repeat("a", 70000)+"\n")}
			},
			wantErr: []string{"d.txt", "line 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := LoadLists(tt.cfg(t))
			if err == nil {
				t.Fatalf("LoadLists() = %v, nil; want an error containing %q", l, tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("LoadLists() error = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestRoleKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"no-reply", "noreply"},
		{"No_Reply+tag", "noreply"},
		{`"Info"`, "info"},
		{"+info", "+info"},
		{"a.b-c_d", "abcd"},
		{"ÉQUIPE", "équipe"},
	}
	for _, tt := range tests {
		if got := roleKey(tt.in); got != tt.want {
			t.Errorf("roleKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkLoadLists(b *testing.B) {
	for b.Loop() {
		if _, err := LoadLists(ListsConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIsDisposable(b *testing.B) {
	l := loadTestLists(b)
	for b.Loop() {
		l.IsDisposable("deep.sub.example.co.uk")
	}
}
