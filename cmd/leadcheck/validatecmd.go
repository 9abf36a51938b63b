package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/validate"
)

// validateCommand checks values given on the command line, in-process (no
// server needed) or through a server with --server. Values are sorted by
// shape: with '@' an email, mostly digits a phone, else a domain. When each
// kind appears at most once they form one lead, printed as indented JSON;
// otherwise each value is checked alone and printed as NDJSON, one compact
// JSON object per line. It ends with errSomeInvalid when a lead's verdict
// is invalid (exit status 2).
func validateCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: leadcheck validate [flags] VALUE...

Example: leadcheck validate jane@acme.com +14155550100 --country US

One lead prints as indented JSON; several values of one kind print as
NDJSON, one line each. Exit status: 0 nothing invalid, 2 something
invalid, 1 error.

Flags:
`)
		printFlags(fs, fs.Output())
	}
	server := fs.String("server", "", "validate through a leadcheck server at this URL instead of in-process")
	apiKey := fs.String("api-key", "", "API key for --server (default: LEADCHECK_API_KEY)")
	country := fs.String("country", "", "region of national phone numbers, e.g. US")
	cfg, values, err := loadCommandConfig(fs, args, getenv, stdout)
	if err != nil {
		return flagError(err)
	}
	if *apiKey == "" {
		*apiKey = cfg.APIKey
	}
	if len(values) == 0 {
		return errors.New("no value given; pass an email, a phone number or a domain (see leadcheck validate --help)")
	}
	leads := groupLeads(values, *country)

	var check func(ctx context.Context, r validate.Request) (any, string, error)
	if *server != "" {
		c, err := newAPIClient(*server, *apiKey)
		if err != nil {
			return err
		}
		check = func(ctx context.Context, r validate.Request) (any, string, error) {
			res, err := validateRemote(ctx, c, r)
			if err != nil {
				return nil, "", err
			}
			return res, string(res.Verdict), nil
		}
	} else {
		cfg.RedisURL = "" // a one-shot command has no use for a shared cache
		p := &parts{cfg: cfg}
		if err := p.newEngine(); err != nil {
			return err
		}
		defer p.close()
		engine := p.engine
		check = func(ctx context.Context, r validate.Request) (any, string, error) {
			ctx, cancel := context.WithTimeout(ctx, cfg.ValidateTimeout)
			defer cancel()
			res, err := engine.Validate(ctx, r)
			if err != nil {
				return nil, "", err
			}
			return res, string(res.Verdict), nil
		}
	}

	enc := json.NewEncoder(stdout)
	if len(leads) == 1 {
		enc.SetIndent("", "  ")
	}
	invalid := false
	for _, lead := range leads {
		res, verdict, err := check(ctx, lead)
		if err != nil {
			return err
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
		invalid = invalid || verdict == string(validate.Invalid)
	}
	if invalid {
		return errSomeInvalid
	}
	return nil
}

// groupLeads turns command-line values into leads (see validateCommand).
func groupLeads(values []string, country string) []validate.Request {
	one := validate.Request{Country: country}
	var each []validate.Request
	together := true
	for _, v := range values {
		r := validate.Request{Country: country}
		var slot *string
		switch {
		case strings.Contains(v, "@"):
			r.Email, slot = v, &one.Email
		case looksLikePhone(v):
			r.Phone, slot = v, &one.Phone
		default:
			r.Domain, slot = v, &one.Domain
		}
		if *slot != "" {
			together = false
		}
		*slot = v
		each = append(each, r)
	}
	if together {
		return []validate.Request{one}
	}
	return each
}

func looksLikePhone(v string) bool {
	digits := 0
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("+-(). /", r):
		default:
			return false
		}
	}
	return digits >= 3
}

func newAPIClient(server, apiKey string) (*client.ClientWithResponses, error) {
	c, err := client.NewClientWithResponses(server, client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		if apiKey != "" {
			req.Header.Set("X-API-Key", apiKey)
		}
		return nil
	}))
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", server, err)
	}
	return c, nil
}

func validateRemote(ctx context.Context, c *client.ClientWithResponses, r validate.Request) (*client.ValidateResponse, error) {
	body := client.ValidateRequest{}
	for _, f := range []struct {
		v   string
		dst **string
	}{{r.Email, &body.Email}, {r.Phone, &body.Phone}, {r.Country, &body.Country}, {r.Domain, &body.Domain}} {
		if f.v != "" {
			v := f.v
			*f.dst = &v
		}
	}
	resp, err := c.ValidateLeadWithResponse(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("call the server: %w", err)
	}
	if resp.JSON200 != nil {
		return resp.JSON200, nil
	}
	var e client.ErrorResponse
	if json.Unmarshal(resp.Body, &e) == nil && e.Error.Code != "" {
		return nil, fmt.Errorf("server said %d %s: %s (request id %s)", resp.StatusCode(), e.Error.Code, e.Error.Message, e.Error.RequestId)
	}
	return nil, fmt.Errorf("server answered %s", resp.Status())
}
