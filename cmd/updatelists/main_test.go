package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// npmPackage is one version of a package as the fake registry publishes it.
type npmPackage struct {
	name, version, license string
	files                  map[string]string // tarball path → content
	// integrity replaces the sha512 of the tarball in the metadata when set;
	// "-" leaves the metadata with no hash at all.
	integrity string
	// tamper, when set, changes the tarball after its hash was taken, as a
	// broken mirror or an attacker in the middle would.
	tamper func(files map[string]string)
}

// fakeRegistry is an npm registry on loopback: GET /<name>/<version> (or
// /<name>/latest) answers the version's metadata, whose dist.tarball points
// back at the server.
type fakeRegistry struct {
	srv      *httptest.Server
	mu       sync.Mutex
	meta     map[string][]byte // "<name>/<version>" → metadata JSON
	tarballs map[string][]byte // URL path → .tgz
	gets     []string
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	r := &fakeRegistry{meta: map[string][]byte{}, tarballs: map[string][]byte{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *fakeRegistry) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets = append(r.gets, req.URL.Path)
	if tgz, ok := r.tarballs[req.URL.Path]; ok {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(tgz)
		return
	}
	if meta, ok := r.meta[strings.TrimPrefix(req.URL.Path, "/")]; ok {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(meta)
		return
	}
	http.NotFound(w, req)
}

// publish adds p, which becomes the package's latest version.
func (r *fakeRegistry) publish(t *testing.T, p npmPackage) {
	t.Helper()
	tgz := buildTarball(t, p.files)
	sum := sha512.Sum512(tgz)
	integrity := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
	switch p.integrity {
	case "":
	case "-":
		integrity = ""
	default:
		integrity = p.integrity
	}
	if p.tamper != nil {
		files := maps.Clone(p.files)
		p.tamper(files)
		tgz = buildTarball(t, files)
	}
	path := "/" + p.name + "/-/" + p.name + "-" + p.version + ".tgz"
	meta := map[string]any{
		"name":    p.name,
		"version": p.version,
		"license": p.license,
		"dist":    map[string]any{"tarball": r.srv.URL + path, "integrity": integrity},
	}
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tarballs[path] = tgz
	r.meta[p.name+"/"+p.version] = b
	r.meta[p.name+"/latest"] = b
}

// tarballGets counts the tarball downloads so far.
func (r *fakeRegistry) tarballGets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.gets {
		if strings.HasSuffix(p, ".tgz") {
			n++
		}
	}
	return n
}

// buildTarball packs files as npm does: a gzipped tar with everything
// under package/, a directory entry first.
func buildTarball(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "package/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// disposablePackage and freePackage are small stand-ins for the real
// packages: mixed case, blanks around names, a duplicate, and one domain
// (both.example) on both lists.
func disposablePackage(version string) npmPackage {
	return npmPackage{
		name: disposableSource.name, version: version, license: "CC0-1.0",
		files: map[string]string{
			"package/package.json":       `{"name":"disposable-email-domains-js"}`,
			disposableSource.listPath:    `["TempMail.io","mailinator.com"," both.example ","Mailinator.COM","zz-throwaway.net"]`,
			disposableSource.licensePath: "disposable licence text\n",
		},
	}
}

func freePackage(version string) npmPackage {
	return npmPackage{
		name: freeSource.name, version: version, license: "MIT",
		files: map[string]string{
			"package/package.json":    `{"name":"free-email-domains"}`,
			freeSource.listPath:       `["yahoo.com","Gmail.com","both.example","outlook.com","gmail.com"]`,
			freeSource.licensePath:    "free licence text\n",
			"package/other-data.json": `["not.read.example"]`,
		},
	}
}

// newDataDir is a data directory as the repository has it before the first
// update: only the hand-written role.txt.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "role.txt"), []byte("admin\ninfo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readDir returns every file of dir by name.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func runUpdate(t *testing.T, reg *fakeRegistry, dir string, extra ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	args := append([]string{"-registry", reg.srv.URL, "-dir", dir, "-timeout", "30s"}, extra...)
	err := run(context.Background(), args, &out)
	return out.String(), err
}

// stateLines maps each file named in run's report to "updated" or
// "unchanged".
func stateLines(t *testing.T, out string) map[string]string {
	t.Helper()
	states := map[string]string{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("report line %q: want a file name and a state", line)
		}
		states[f[0]] = f[1]
	}
	return states
}

func TestUpdateWritesListsAndSources(t *testing.T) {
	t.Parallel()
	reg := newFakeRegistry(t)
	reg.publish(t, disposablePackage("1.26.0"))
	reg.publish(t, freePackage("1.12.6"))
	dir := newDataDir(t)

	out, err := runUpdate(t, reg, dir)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	got := readDir(t, dir)
	sources := got["SOURCES.md"]
	delete(got, "SOURCES.md")
	want := map[string]string{
		"role.txt":                         "admin\ninfo\n",
		"disposable.txt":                   "both.example\nmailinator.com\ntempmail.io\nzz-throwaway.net\n",
		"free.txt":                         "gmail.com\noutlook.com\nyahoo.com\n",
		"disposable-email-domains.LICENSE": "disposable licence text\n",
		"free-email-domains.LICENSE":       "free licence text\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("data directory (-want +got):\n%s", diff)
	}

	for _, row := range []string{
		"| disposable.txt | 4 | npm package `disposable-email-domains-js` (data from the disposable-email-domains project) | 1.26.0 | CC0-1.0 (disposable-email-domains.LICENSE) |\n",
		"| free.txt | 3 | npm package `free-email-domains`, minus every domain of disposable.txt | 1.12.6 | MIT (free-email-domains.LICENSE) |\n",
		"- " + reg.srv.URL + "/disposable-email-domains-js/-/disposable-email-domains-js-1.26.0.tgz\n",
		"- " + reg.srv.URL + "/free-email-domains/-/free-email-domains-1.12.6.tgz\n",
	} {
		if !strings.Contains(sources, row) {
			t.Errorf("SOURCES.md lacks %q:\n%s", row, sources)
		}
	}
	if n := strings.Count(sources, "`sha512-"); n != 2 {
		t.Errorf("SOURCES.md records %d sha512 integrity strings, want 2:\n%s", n, sources)
	}

	wantStates := map[string]string{
		"disposable.txt": "updated", "free.txt": "updated", "SOURCES.md": "updated",
		"disposable-email-domains.LICENSE": "updated", "free-email-domains.LICENSE": "updated",
	}
	if diff := cmp.Diff(wantStates, stateLines(t, out)); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

// TestSecondRunChangesNothing: the same versions again leave every file
// as it was, not even rewritten.
func TestSecondRunChangesNothing(t *testing.T) {
	t.Parallel()
	reg := newFakeRegistry(t)
	reg.publish(t, disposablePackage("1.26.0"))
	reg.publish(t, freePackage("1.12.6"))
	dir := newDataDir(t)
	if out, err := runUpdate(t, reg, dir); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	before := readDir(t, dir)
	mtimes := modTimes(t, dir)

	out, err := runUpdate(t, reg, dir)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
		t.Errorf("files after the second run (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(mtimes, modTimes(t, dir)); diff != "" {
		t.Errorf("files rewritten by the second run (-first +second):\n%s", diff)
	}
	for name, state := range stateLines(t, out) {
		if state != "unchanged" {
			t.Errorf("second run reports %s %s, want unchanged", name, state)
		}
	}
}

func modTimes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64, len(entries))
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = info.ModTime().UnixNano()
	}
	return out
}

// TestPinnedVersion: -free-version takes that version, not the latest, and
// SOURCES.md records it.
func TestPinnedVersion(t *testing.T) {
	t.Parallel()
	reg := newFakeRegistry(t)
	reg.publish(t, disposablePackage("1.26.0"))
	old := freePackage("1.12.5")
	old.files[freeSource.listPath] = `["aol.com"]`
	reg.publish(t, old)
	reg.publish(t, freePackage("1.12.6"))
	dir := newDataDir(t)

	out, err := runUpdate(t, reg, dir, "-free-version", "1.12.5")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	got := readDir(t, dir)
	if got["free.txt"] != "aol.com\n" {
		t.Errorf("free.txt: got %q, want the pinned version's aol.com", got["free.txt"])
	}
	if !strings.Contains(got["SOURCES.md"], "| 1.12.5 | MIT") || strings.Contains(got["SOURCES.md"], "1.12.6") {
		t.Errorf("SOURCES.md: want version 1.12.5 only:\n%s", got["SOURCES.md"])
	}
}

// TestUnverifiedTarballIsRefused: a tarball that does not match the
// registry's hash, or comes with no hash, fails the update before any file
// is written, whether the directory is fresh or already up to date.
func TestUnverifiedTarballIsRefused(t *testing.T) {
	t.Parallel()
	addEvil := func(files map[string]string) {
		files[disposableSource.listPath] = `["evil.example"]`
		files[freeSource.listPath] = `["evil.example"]`
	}
	tests := []struct {
		name       string
		disposable func(*npmPackage)
		free       func(*npmPackage)
		wantErr    string
	}{
		{"disposable tampered", func(p *npmPackage) { p.tamper = addEvil }, nil, "integrity mismatch"},
		{"free tampered", nil, func(p *npmPackage) { p.tamper = addEvil }, "integrity mismatch"},
		{"wrong hash", func(p *npmPackage) { p.integrity = "sha512-" + base64.StdEncoding.EncodeToString(make([]byte, 64)) }, nil, "integrity mismatch"},
		{"no hash", nil, func(p *npmPackage) { p.integrity = "-" }, "no sha512 integrity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			good := newFakeRegistry(t)
			good.publish(t, disposablePackage("1.26.0"))
			good.publish(t, freePackage("1.12.6"))
			updated := newDataDir(t)
			if out, err := runUpdate(t, good, updated); err != nil {
				t.Fatalf("first run: %v\n%s", err, out)
			}

			bad := newFakeRegistry(t)
			disposable, free := disposablePackage("1.27.0"), freePackage("1.13.0")
			if tt.disposable != nil {
				tt.disposable(&disposable)
			}
			if tt.free != nil {
				tt.free(&free)
			}
			bad.publish(t, disposable)
			bad.publish(t, free)

			for _, dir := range []string{newDataDir(t), updated} {
				before := readDir(t, dir)
				out, err := runUpdate(t, bad, dir)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want one saying %q", err, tt.wantErr)
				}
				if out != "" {
					t.Errorf("report: got %q, want nothing reported", out)
				}
				if diff := cmp.Diff(before, readDir(t, dir)); diff != "" {
					t.Errorf("files after a refused update (-before +after):\n%s", diff)
				}
			}
			if n := bad.tarballGets(); n == 0 {
				t.Error("no tarball was downloaded, want the refusal to come from the check")
			}
		})
	}
}

// TestBadInputIsRefused: run stops early, with a useful error, on what
// would otherwise write a wrong list.
func TestBadInputIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(*npmPackage)
		args    func(dir string) []string
		wantErr string
	}{
		{"entry not a domain", func(p *npmPackage) { p.files[disposableSource.listPath] = `["ok.example","not a domain"]` }, nil, `"not a domain" is not an ASCII domain name`},
		{"empty list", func(p *npmPackage) { p.files[disposableSource.listPath] = `[]` }, nil, "the list is empty"},
		{"list missing from the tarball", func(p *npmPackage) { delete(p.files, disposableSource.listPath) }, nil, "not found"},
		{"unknown version", nil, func(string) []string { return []string{"-disposable-version", "9.9.9"} }, "404"},
		{"not a data directory", nil, func(dir string) []string { return []string{"-dir", filepath.Join(dir, "nowhere")} }, "run from the repository root"},
		{"stray argument", nil, func(string) []string { return []string{"extra"} }, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := newFakeRegistry(t)
			disposable := disposablePackage("1.26.0")
			if tt.change != nil {
				tt.change(&disposable)
			}
			reg.publish(t, disposable)
			reg.publish(t, freePackage("1.12.6"))
			dir := newDataDir(t)
			var extra []string
			if tt.args != nil {
				extra = tt.args(dir)
			}
			_, err := runUpdate(t, reg, dir, extra...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one saying %q", err, tt.wantErr)
			}
			if got := readDir(t, dir); len(got) != 1 {
				t.Errorf("files after a refused update: got %v, want only role.txt", slices.Sorted(maps.Keys(got)))
			}
		})
	}
}

// FuzzNormalizeDomains: whatever the upstream list holds, the result is
// either an error or sorted, unique, lower-case ASCII domains, each from
// the input.
func FuzzNormalizeDomains(f *testing.F) {
	for _, s := range []string{"gmail.com", "Gmail.COM", " a.b ", "a..b", "-a.b", "xn--bcher-kva.de", "bücher.de", "a.b\x00", ""} {
		f.Add(s, "example.com")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		out, err := normalizeDomains([]string{a, b})
		if err != nil {
			return
		}
		if !slices.IsSorted(out) || len(slices.Compact(slices.Clone(out))) != len(out) {
			t.Fatalf("normalizeDomains(%q, %q) = %q, want sorted and unique", a, b, out)
		}
		for _, d := range out {
			if !isASCIIDomain(d) || d != strings.ToLower(d) {
				t.Fatalf("normalizeDomains(%q, %q) holds %q, not a lower-case ASCII domain", a, b, d)
			}
			if d != strings.ToLower(strings.TrimSpace(a)) && d != strings.ToLower(strings.TrimSpace(b)) {
				t.Fatalf("normalizeDomains(%q, %q) holds %q, which is neither input", a, b, d)
			}
		}
	})
}
