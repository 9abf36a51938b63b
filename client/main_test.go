package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	leadcheck "github.com/leadcheck/leadcheck"
	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// The examples run in go test against a real server: the API with its bulk
// service, over a DNS server on loopback that answers testenv.MailZone.
// serverURL and apiKey are what a program would read from its settings;
// workDir stands for its working directory.
var serverURL, apiKey, workDir string

func TestMain(m *testing.M) {
	stop, err := startServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client examples:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

func startServer() (stop func(), err error) {
	dns, err := dnstest.New(dnstest.Config{Zone: testenv.MailZone})
	if err != nil {
		return nil, err
	}
	resolver, err := validate.NewDNSResolver([]string{dns.Addr()}, 2*time.Second)
	if err != nil {
		return nil, err
	}
	lists, err := validate.LoadLists(validate.ListsConfig{})
	if err != nil {
		return nil, err
	}
	if workDir, err = os.MkdirTemp("", "leadcheck-client-"); err != nil {
		return nil, err
	}
	checker := validate.DNSChecker{Resolver: resolver}
	svc, err := bulk.Open(bulk.Config{Dir: workDir + "/data", Lists: lists, Domains: checker, CheckpointEvery: 20 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	apiKey = "example-key"
	srv := api.NewServer(api.Options{APIKeys: []string{apiKey}}, api.Deps{
		Engine: validate.NewEngine(lists, checker),
		Bulk:   svc,
		Logger: slog.New(slog.DiscardHandler),
		Spec:   leadcheck.OpenAPISpec,
	})
	hs := httptest.NewServer(srv)
	serverURL = hs.URL
	return func() {
		hs.Close()
		cancel()
		<-ran
		_ = dns.Close()
		_ = os.RemoveAll(workDir)
	}, nil
}
