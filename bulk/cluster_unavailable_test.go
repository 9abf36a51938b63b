package bulk

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestStoreErrorUnavailable: a database that is not answering (refused,
// restarting, a pooled connection cut by a restart) is a store_unavailable
// error to retry; anything else passes through as ours.
func TestStoreErrorUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection cut mid-read", io.ErrUnexpectedEOF, true},
		{"connection cut between messages", fmt.Errorf("scan: %w", io.EOF), true},
		{"server starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"closed pool", errors.New("closed pool"), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"our bug", errors.New("decode job record: bad"), false},
	}
	for _, tt := range tests {
		err := storeError("read job", tt.err)
		var be *Error
		got := errors.As(err, &be) && be.Kind == KindUnavailable && be.Code == "store_unavailable"
		if got != tt.want {
			t.Errorf("%s: storeError(%v) = %v, want unavailable %v", tt.name, tt.err, err, tt.want)
		}
	}
}
