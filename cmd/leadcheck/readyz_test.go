package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

// readyz reads /readyz through the generated client.
func readyz(t *testing.T, c *client.ClientWithResponses) client.Readiness {
	t.Helper()
	r, err := c.ReadyzWithResponse(t.Context())
	if err != nil || r.JSON200 == nil {
		t.Fatalf("readyz: %v %v", r, err)
	}
	return *r.JSON200
}

func redisDetail(r client.Readiness) string {
	if r.Details == nil {
		return ""
	}
	return (*r.Details)["redis"]
}

// TestReadyzTellsWhy runs a Redis of the test's own that wants a password.
// A wrong password or database is reported by /readyz and the start-up log
// before any request reaches Redis; with the right settings /readyz is ok,
// turns degraded with its cause when Redis dies (with no traffic at all),
// and ok again when it is back.
func TestReadyzTellsWhy(t *testing.T) {
	const password = "pw-Zq81xK"
	port := testenv.FreePort(t)
	stopRedis := testenv.RedisServer(t, port, "--requirepass", password)
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone})
	url := func(pass, db string) string {
		return "redis://:" + pass + "@127.0.0.1:" + strconv.Itoa(port) + "/" + db
	}

	for _, tc := range []struct {
		name, url, cause string
	}{
		{"wrong password", url("not-"+password, "0"), "authentication failed"},
		{"no password", "redis://127.0.0.1:" + strconv.Itoa(port) + "/0", "wants a password"},
		{"no such database", url(password, "99"), "no such database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveInProcess(t, map[string]string{"LEADCHECK_DNS": dnsSrv.Addr(), "LEADCHECK_REDIS_URL": tc.url})
			r := readyz(t, keyedClient(t, srv.base, ""))
			if r.Status != client.ReadinessStatusDegraded || r.Checks["redis"] != "degraded" || !strings.Contains(redisDetail(r), tc.cause) {
				t.Errorf("readyz: got %+v detail %q, want degraded saying %q", r, redisDetail(r), tc.cause)
			}
			logs := srv.logs.text()
			if !strings.Contains(logs, "readiness: redis is degraded") || !strings.Contains(logs, tc.cause) {
				t.Errorf("start-up logs do not say why Redis is degraded:\n%s", logs)
			}
			if strings.Contains(logs, password) {
				t.Errorf("logs show the password:\n%s", logs)
			}
		})
	}

	srv := serveInProcess(t, map[string]string{
		"LEADCHECK_DNS":               dnsSrv.Addr(),
		"LEADCHECK_REDIS_URL":         url(password, "0"),
		"LEADCHECK_READY_CHECK_EVERY": "50ms",
	})
	c := keyedClient(t, srv.base, "")
	if r := readyz(t, c); r.Status != client.ReadinessStatusReady || r.Checks["redis"] != "ok" || r.Details != nil {
		t.Fatalf("readyz with the right password: got %+v", r)
	}
	if !strings.Contains(srv.logs.text(), "readiness: redis answers") {
		t.Errorf("start-up logs do not say Redis answers:\n%s", srv.logs.text())
	}
	waitReady := func(state, cause string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := readyz(t, c)
			if r.Checks["redis"] == state && strings.Contains(redisDetail(r), cause) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz: got %+v detail %q, want redis %s saying %q", r, redisDetail(r), state, cause)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stopRedis()
	waitReady("degraded", "connection refused")
	testenv.RedisServer(t, port, "--requirepass", password)
	waitReady("ok", "")
	if !strings.Contains(srv.logs.text(), "readiness: redis answers again") {
		t.Errorf("logs do not say Redis answers again:\n%s", srv.logs.text())
	}
}
