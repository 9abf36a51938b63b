package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/leadcheck/leadcheck/internal/keys"
)

const keysUsage = `Usage:
  leadcheck keys new [--kind secret|publishable] [--origin URL]... [--name NAME]

Prints a fresh random key (sk_... or pk_...) and the entry to paste into
the keys file (LEADCHECK_KEYS_FILE). The entry holds only the key's SHA-256,
so the file never holds the key itself; keep the key where its user can
read it (a server's secret store, or the page that embeds a publishable
key).
`

// keysCommand runs "leadcheck keys new".
func keysCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprint(stdout, keysUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errors.New("keys: the only subcommand is new")
	}
	fs := flag.NewFlagSet("keys new", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() { fmt.Fprint(stdout, keysUsage); fs.PrintDefaults() }
	kind := fs.String("kind", "secret", "secret (every route, for servers) or publishable (validate only, for web pages)")
	name := fs.String("name", "", "the key's name in logs and usage (default: the kind and a short random suffix)")
	var origins []string
	fs.Func("origin", "an origin a publishable key answers, e.g. https://www.acme.com (repeat for several)", func(v string) error {
		o, err := keys.ParseOrigin(v)
		if err != nil {
			return err
		}
		origins = append(origins, o)
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys new: unexpected argument %q; see leadcheck keys new -h", fs.Arg(0))
	}
	k := keys.Kind(*kind)
	switch {
	case k != keys.Secret && k != keys.Publishable:
		return fmt.Errorf("keys new: --kind %q is unknown; use secret or publishable", *kind)
	case k == keys.Publishable && len(origins) == 0:
		return errors.New("keys new: a publishable key needs --origin, the site that embeds it (e.g. --origin https://www.acme.com)")
	case k == keys.Secret && len(origins) > 0:
		return errors.New("keys new: --origin is for publishable keys; a secret key stays on servers")
	}
	key, digest, err := keys.New(k)
	if err != nil {
		return err
	}
	if *name == "" {
		// A random suffix, not a piece of the digest: names are shown in
		// logs and usage, and must tell nothing about the key.
		var b [4]byte
		_, _ = rand.Read(b[:])
		*name = string(k) + "-" + hex.EncodeToString(b[:])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "key: %s\n\n# paste under keys: in the keys file\n", key)
	fmt.Fprintf(&b, "  - name: %s\n    key_sha256: %s\n    kind: %s\n", *name, digest, k)
	if k == keys.Publishable {
		fmt.Fprintf(&b, "    origins: [%s]\n    rate: 30/m\n    burst: 10\n    daily_quota: 50000\n", strings.Join(origins, ", "))
	} else {
		b.WriteString("    rate: 100/s\n")
	}
	// The entry is checked as the server would check it, so what is
	// printed always loads.
	if _, err := keys.Parse([]byte("keys:\n"+b.String()[strings.Index(b.String(), "  - name"):]), "the new entry", keys.DefaultLimits()); err != nil {
		return fmt.Errorf("keys new: %w", err)
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}
