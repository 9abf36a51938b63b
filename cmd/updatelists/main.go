// Command updatelists refreshes the disposable and free-provider domain lists
// that package validate embeds, from the npm packages that publish them.
//
// The lists change every few weeks upstream; embedding them keeps the service
// free of start-up downloads, and this command makes refreshing them one
// reviewable commit:
//
//	go run ./cmd/updatelists                  # latest versions
//	go run ./cmd/updatelists -disposable-version 1.26.0 -free-version 1.12.6
//
// It fetches each package's metadata from the npm registry, downloads the
// tarball named there, checks it against the registry's integrity hash,
// extracts the JSON list and rewrites validate/data/disposable.txt, free.txt,
// the licence files and SOURCES.md. The output is deterministic: running it
// again with the same versions changes no file. role.txt is written by hand and
// left alone. Only the standard library is used, so the command builds
// anywhere the module does.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "updatelists:", err)
		os.Exit(1)
	}
}

// Size limits for what the registry sends. The real files are a few hundred
// kilobytes; the limits only stop a broken or hostile response from filling
// memory.
const (
	maxMetadataBytes = 8 << 20
	maxTarballBytes  = 32 << 20
	maxFileBytes     = 16 << 20
)

// npmSource describes one npm package and the files taken from its tarball.
type npmSource struct {
	name        string // npm package name
	listPath    string // path of the JSON array of domains inside the tarball
	licensePath string // path of the licence text inside the tarball
	licenseOut  string // file name of the licence copy in the data directory
}

var (
	disposableSource = npmSource{
		name:        "disposable-email-domains-js",
		listPath:    "package/dist/dict/disposable_email_blocklist.json",
		licensePath: "package/LICENSE",
		licenseOut:  "disposable-email-domains.LICENSE",
	}
	freeSource = npmSource{
		name:        "free-email-domains",
		listPath:    "package/domains.json",
		licensePath: "package/LICENSE.md",
		licenseOut:  "free-email-domains.LICENSE",
	}
)

// fetched is one downloaded package: what SOURCES.md records and the files.
type fetched struct {
	Name      string
	Version   string
	License   string
	Tarball   string
	Integrity string
	domains   []string
	license   []byte
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("updatelists", flag.ContinueOnError)
	fs.SetOutput(stdout)
	dir := fs.String("dir", filepath.Join("validate", "data"), "directory holding the embedded list files")
	registry := fs.String("registry", "https://registry.npmjs.org", "npm registry base URL")
	disposableVersion := fs.String("disposable-version", "latest", "version of "+disposableSource.name+" to use")
	freeVersion := fs.String("free-version", "latest", "version of "+freeSource.name+" to use")
	timeout := fs.Duration("timeout", 2*time.Minute, "deadline for all downloads")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if _, err := os.Stat(filepath.Join(*dir, "role.txt")); err != nil {
		return fmt.Errorf("data directory %s: %w (run from the repository root or pass -dir)", *dir, err)
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := &http.Client{Timeout: *timeout}

	disposable, err := fetchList(ctx, client, *registry, disposableSource, *disposableVersion)
	if err != nil {
		return err
	}
	free, err := fetchList(ctx, client, *registry, freeSource, *freeVersion)
	if err != nil {
		return err
	}
	// A domain that is both is reported as disposable; keeping it out of the
	// free list makes the two flags mutually exclusive.
	free.domains = subtract(free.domains, disposable.domains)

	var sources bytes.Buffer
	if err := sourcesTemplate.Execute(&sources, map[string]any{
		"Disposable":      disposable,
		"Free":            free,
		"DisposableCount": len(disposable.domains),
		"FreeCount":       len(free.domains),
	}); err != nil {
		return fmt.Errorf("render SOURCES.md: %w", err)
	}

	files := []struct {
		name string
		data []byte
		note string
	}{
		{"disposable.txt", joinLines(disposable.domains), fmt.Sprintf("%d domains from %s %s", len(disposable.domains), disposable.Name, disposable.Version)},
		{"free.txt", joinLines(free.domains), fmt.Sprintf("%d domains from %s %s, disposable ones removed", len(free.domains), free.Name, free.Version)},
		{disposableSource.licenseOut, disposable.license, "licence of " + disposable.Name},
		{freeSource.licenseOut, free.license, "licence of " + free.Name},
		{"SOURCES.md", sources.Bytes(), "versions and hashes"},
	}
	for _, f := range files {
		changed, err := writeIfChanged(filepath.Join(*dir, f.name), f.data)
		if err != nil {
			return err
		}
		state := "unchanged"
		if changed {
			state = "updated"
		}
		fmt.Fprintf(stdout, "%-34s %-9s %s\n", f.name, state, f.note)
	}
	return nil
}

// versionMeta is the part of the registry's per-version document we use.
type versionMeta struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	License any    `json:"license"`
	Dist    struct {
		Tarball   string `json:"tarball"`
		Integrity string `json:"integrity"`
		Shasum    string `json:"shasum"`
	} `json:"dist"`
}

// fetchList resolves version ("latest" or an exact version) of src, downloads
// and verifies its tarball and returns the normalised domain list.
func fetchList(ctx context.Context, client *http.Client, registry string, src npmSource, version string) (fetched, error) {
	metaURL := strings.TrimRight(registry, "/") + "/" + url.PathEscape(src.name) + "/" + url.PathEscape(version)
	body, err := get(ctx, client, metaURL, maxMetadataBytes)
	if err != nil {
		return fetched{}, fmt.Errorf("%s metadata: %w", src.name, err)
	}
	var meta versionMeta
	if err := json.Unmarshal(body, &meta); err != nil {
		return fetched{}, fmt.Errorf("%s metadata: decode: %w", src.name, err)
	}
	if meta.Name != src.name || meta.Version == "" || meta.Dist.Tarball == "" {
		return fetched{}, fmt.Errorf("%s metadata: unexpected document for %q (name %q, version %q)", src.name, version, meta.Name, meta.Version)
	}

	tarball, err := get(ctx, client, meta.Dist.Tarball, maxTarballBytes)
	if err != nil {
		return fetched{}, fmt.Errorf("%s %s tarball: %w", src.name, meta.Version, err)
	}
	integrity, err := verify(tarball, meta.Dist.Integrity, meta.Dist.Shasum)
	if err != nil {
		return fetched{}, fmt.Errorf("%s %s tarball: %w", src.name, meta.Version, err)
	}
	contents, err := extract(tarball, src.listPath, src.licensePath)
	if err != nil {
		return fetched{}, fmt.Errorf("%s %s tarball: %w", src.name, meta.Version, err)
	}
	var raw []string
	if err := json.Unmarshal(contents[src.listPath], &raw); err != nil {
		return fetched{}, fmt.Errorf("%s %s: decode %s: %w", src.name, meta.Version, src.listPath, err)
	}
	domains, err := normalizeDomains(raw)
	if err != nil {
		return fetched{}, fmt.Errorf("%s %s: %w", src.name, meta.Version, err)
	}
	license, _ := meta.License.(string)
	return fetched{
		Name:      src.name,
		Version:   meta.Version,
		License:   license,
		Tarball:   meta.Dist.Tarball,
		Integrity: integrity,
		domains:   domains,
		license:   contents[src.licensePath],
	}, nil
}

// get fetches u and returns at most limit bytes of a 200 answer.
func get(ctx context.Context, client *http.Client, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Accept", "application/json, application/octet-stream")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: status %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("read %s: larger than %d bytes", u, limit)
	}
	return body, nil
}

// verify checks data against the registry's Subresource Integrity string
// (sha512) or, for old packages without one, its sha1 shasum, and returns the
// integrity string to record.
func verify(data []byte, integrity, shasum string) (string, error) {
	for _, entry := range strings.Fields(integrity) {
		algo, want, ok := strings.Cut(entry, "-")
		if !ok || algo != "sha512" {
			continue
		}
		sum := sha512.Sum512(data)
		got := base64.StdEncoding.EncodeToString(sum[:])
		if got != want {
			return "", fmt.Errorf("integrity mismatch: got sha512-%s, want %s", got, entry)
		}
		return entry, nil
	}
	if shasum != "" {
		sum := sha1.Sum(data)
		if got := hex.EncodeToString(sum[:]); got != strings.ToLower(shasum) {
			return "", fmt.Errorf("shasum mismatch: got %s, want %s", got, shasum)
		}
		return "sha1-" + strings.ToLower(shasum), nil
	}
	return "", errors.New("registry gave no sha512 integrity or shasum to check the download against")
}

// extract returns the named regular files of a gzipped tarball; every one
// must be present.
func extract(tgz []byte, names ...string) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	out := make(map[string][]byte, len(names))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("untar: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || !slices.Contains(names, hdr.Name) {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxFileBytes+1))
		if err != nil {
			return nil, fmt.Errorf("untar %s: %w", hdr.Name, err)
		}
		if len(data) > maxFileBytes {
			return nil, fmt.Errorf("untar %s: larger than %d bytes", hdr.Name, maxFileBytes)
		}
		out[hdr.Name] = data
	}
	for _, name := range names {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("file %s not found", name)
		}
	}
	return out, nil
}

// normalizeDomains lower-cases, checks, sorts and de-duplicates a list. An
// entry that is not a plain ASCII domain name fails the whole update: the
// lists are matched byte for byte, so a malformed entry would silently never
// match, and a wildly malformed one means the upstream format changed.
func normalizeDomains(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	for _, d := range raw {
		d = strings.ToLower(strings.TrimSpace(d))
		if !isASCIIDomain(d) {
			return nil, fmt.Errorf("entry %q is not an ASCII domain name", d)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errors.New("the list is empty")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// isASCIIDomain reports whether d is at least two non-empty labels of
// letters, digits and hyphens.
func isASCIIDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(d) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// subtract returns the sorted a without the entries of sorted b.
func subtract(a, b []string) []string {
	out := make([]string, 0, len(a))
	for _, d := range a {
		if _, found := slices.BinarySearch(b, d); !found {
			out = append(out, d)
		}
	}
	return out
}

func joinLines(lines []string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeIfChanged writes data to path unless the file already holds exactly
// data, so an update with unchanged versions leaves the tree untouched.
func writeIfChanged(path string, data []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("rename %s: %w", tmp, err)
	}
	return true, nil
}

// sourcesTemplate renders validate/data/SOURCES.md. It holds no date, so the
// file changes only when a version or a list changes.
var sourcesTemplate = template.Must(template.New("SOURCES.md").Parse(`# Sources of the embedded lists

This file is written by ` + "`go run ./cmd/updatelists`" + `; change the template in
cmd/updatelists/main.go rather than this file.

| file | entries | source | version | licence |
|---|---|---|---|---|
| disposable.txt | {{.DisposableCount}} | npm package ` + "`{{.Disposable.Name}}`" + ` (data from the disposable-email-domains project) | {{.Disposable.Version}} | {{.Disposable.License}} (disposable-email-domains.LICENSE) |
| free.txt | {{.FreeCount}} | npm package ` + "`{{.Free.Name}}`" + `, minus every domain of disposable.txt | {{.Free.Version}} | {{.Free.License}} (free-email-domains.LICENSE) |
| role.txt | see file | written for leadcheck by hand; the updater leaves it alone | — | part of leadcheck |

Downloads, checked against the registry's integrity hash:

- {{.Disposable.Tarball}}
  ` + "`{{.Disposable.Integrity}}`" + `
- {{.Free.Tarball}}
  ` + "`{{.Free.Integrity}}`" + `

disposable.txt is the package's dist/dict/disposable_email_blocklist.json and
free.txt its domains.json, one lower-case ASCII domain a line, sorted. A domain
on both upstream lists is kept only in disposable.txt, so an address is never
flagged both free and disposable.

Operators extend or trim the lists without rebuilding through override files
named by LEADCHECK_DISPOSABLE_FILE, LEADCHECK_FREE_FILE and LEADCHECK_ROLE_FILE
(see validate/lists.go).
`))
