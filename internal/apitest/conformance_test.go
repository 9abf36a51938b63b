package apitest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// recorder is a Reporter that keeps what it is told.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestTransportCatchesViolations proves the check fails the suite: a server
// that drifts from the contract is reported, a conforming one is not.
func TestTransportCatchesViolations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string // substring of the report; "" = no report
	}{
		{"conforming", 200, `{"status":"ok"}`, ""},
		{"value outside the enum", 200, `{"status":"fine"}`, "response breaks openapi.yaml"},
		{"missing required field", 200, `{}`, "response breaks openapi.yaml"},
		{"undocumented status", 418, `{"status":"ok"}`, "response breaks openapi.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			rec := &recorder{}
			resp, err := (&http.Client{Transport: Transport{Reporter: rec}}).Get(srv.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := strings.Join(rec.errs, "\n")
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("got report %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestTransportChecksRequests(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		w.Write([]byte(`{"error":{"code":"x","message":"y","request_id":"z"}}`))
	}))
	defer srv.Close()
	for _, check := range []bool{false, true} {
		rec := &recorder{}
		c := &http.Client{Transport: Transport{Reporter: rec, CheckRequests: check}}
		resp, err := c.Post(srv.URL+"/v1/validate", "application/json", strings.NewReader(`{"emial":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		reported := strings.Contains(strings.Join(rec.errs, "\n"), "request breaks openapi.yaml")
		if reported != check {
			t.Errorf("CheckRequests=%v: request reported=%v", check, reported)
		}
	}
}
