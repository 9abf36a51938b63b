package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/bulk"
)

// hostileSettings are the bounds that keep a bulk upload, whatever its
// shape, within a budget of memory, disk, CPU and file handles; settings()
// includes them. Zero values in hostileConfig mean the defaults named here.
func hostileSettings() []setting {
	return []setting{
		{"LEADCHECK_BULK_MAX_COLUMNS", "", "most fields in a bulk file's row, or distinct keys in a JSON file (default 1000)", positiveInt(func(c *config) *int { return &c.Hostile.MaxColumns })},
		{"LEADCHECK_BULK_MAX_HEADER_BYTES", "", "most bytes of a bulk file's column names together (default 65536)", positiveInt(func(c *config) *int { return &c.Hostile.MaxHeaderBytes })},
		{"LEADCHECK_BULK_MAX_CELL_BYTES", "", "longest value in a bulk file, in bytes (default 65536)", positiveInt(func(c *config) *int { return &c.Hostile.MaxCellBytes })},
		{"LEADCHECK_BULK_MAX_RECORD_BYTES", "", "longest row of a bulk file as read, in bytes (default 1048576, or 4 × the cell limit when larger)", positiveInt(func(c *config) *int { return &c.Hostile.MaxRecordBytes })},
		{"LEADCHECK_BULK_MAX_DECOMPRESSED_BYTES", "", "most bytes a bulk file may hold once decompressed and decoded (default 8589934592, 8 GiB)", positiveInt64(func(c *config) *int64 { return &c.Hostile.MaxDecompressedBytes })},
		{"LEADCHECK_BULK_MAX_EXPANSION_RATIO", "", "most decompressed bytes per compressed byte of a gzipped bulk file, checked while reading (default 100)", positiveInt(func(c *config) *int { return &c.Hostile.MaxExpansionRatio })},
		{"LEADCHECK_BULK_MAX_JSON_BYTES", "", "largest JSON body ({\"records\": [...]}) of POST /v1/bulk in bytes; files go as multipart (default 67108864, 64 MiB)", positiveInt64(func(c *config) *int64 { return &c.Hostile.MaxJSONBytes })},
		{"LEADCHECK_BULK_MAX_UPLOADS", "", "bulk uploads received at once in all; more get 503 with Retry-After (default 32)", positiveInt(func(c *config) *int { return &c.Hostile.MaxUploads })},
		{"LEADCHECK_BULK_MAX_UPLOADS_PER_KEY", "", "bulk uploads received at once per API key; more get 429 with Retry-After (default 4)", positiveInt(func(c *config) *int { return &c.Hostile.MaxUploadsPerKey })},
		{"LEADCHECK_BULK_MIN_UPLOAD_RATE", "", "fewest bytes per second an upload must bring over each window, or it is closed with 408 (default 10240)", positiveInt64(func(c *config) *int64 { return &c.Hostile.MinUploadRate })},
		{"LEADCHECK_BULK_UPLOAD_RATE_WINDOW", "", "the window the minimum upload rate is measured over (default 30s)", durationSetter(func(c *config) *time.Duration { return &c.Hostile.UploadRateWindow })},
		{"LEADCHECK_BULK_DOWNLOAD_STALL_TIMEOUT", "", "a results download whose client reads nothing for this long is cut (default 30s)", durationSetter(func(c *config) *time.Duration { return &c.Hostile.DownloadStallTimeout })},
		{"LEADCHECK_BULK_DISK_RESERVE", "", "free bytes kept on the data directory's disk, counting the results accepted jobs will still write; an upload past it gets 507 (default 268435456, 256 MiB)", positiveInt64(func(c *config) *int64 { return &c.Hostile.DiskReserve })},
		{"LEADCHECK_BULK_DISK_PER_KEY", "", "most disk one API key's bulk jobs may take: uploads plus 10 × their uncompressed size for results; past it 507 (default 107374182400, 100 GiB)", positiveInt64(func(c *config) *int64 { return &c.Hostile.DiskPerKey })},
		{"LEADCHECK_BULK_BUSY_SCAN_SHARE", "", "percent of one core that upload scans together may use while /v1/validate has traffic; 100: unpaced (default 25)", func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return fmt.Errorf("%q is not a percentage from 1 to 100", v)
			}
			c.Hostile.BusyScanShare = float64(n) / 100
			return nil
		}},
		{"LEADCHECK_BULK_BUSY_UPLOAD_RATE", "", "bytes per second at which all bulk uploads together are received while /v1/validate has traffic (default 33554432, 32 MiB/s)", positiveInt64(func(c *config) *int64 { return &c.Hostile.BusyUploadRate })},
		{"LEADCHECK_BULK_CPU_SLOTS", "", "bulk work on a CPU at once (upload scans, rows being validated; a row waiting on DNS gives its slot back) (default: cores - 1, at least 1)", positiveInt(func(c *config) *int { return &c.Hostile.CPUSlots })},
	}
}

// hostileConfig holds the hostile-input settings (config.Hostile).
type hostileConfig struct {
	MaxColumns     int
	MaxHeaderBytes int
	MaxCellBytes   int
	MaxRecordBytes int

	MaxDecompressedBytes int64
	MaxExpansionRatio    int
	MaxJSONBytes         int64
	MaxUploads           int
	MaxUploadsPerKey     int
	MinUploadRate        int64
	UploadRateWindow     time.Duration
	DownloadStallTimeout time.Duration
	DiskReserve          int64
	DiskPerKey           int64
	CPUSlots             int
	BusyScanShare        float64
	BusyUploadRate       int64
}

// applyAPI copies the bounds the HTTP layer applies.
func (h hostileConfig) applyAPI(o *api.Options) {
	o.MaxBulkJSONBytes = h.MaxJSONBytes
	o.MaxUploads = h.MaxUploads
	o.MaxUploadsPerKey = h.MaxUploadsPerKey
	o.MinUploadRate = h.MinUploadRate
	o.UploadRateWindow = h.UploadRateWindow
	o.DownloadStallTimeout = h.DownloadStallTimeout
}

// applyBulk copies the bounds into the bulk service's config.
func (h hostileConfig) applyBulk(c *bulk.Config) {
	c.MaxColumns = h.MaxColumns
	c.MaxHeaderBytes = h.MaxHeaderBytes
	c.MaxFieldBytes = h.MaxCellBytes
	c.MaxRecordBytes = h.MaxRecordBytes
	c.MaxDecodedBytes = h.MaxDecompressedBytes
	c.MaxExpansionRatio = h.MaxExpansionRatio
	c.DiskReserve = h.DiskReserve
	c.DiskPerKey = h.DiskPerKey
	c.CPUSlots = h.CPUSlots
	c.BusyScanShare = h.BusyScanShare
	c.BusyUploadRate = h.BusyUploadRate
}

// positiveInt64 sets a positive byte count or number.
func positiveInt64(field func(*config) *int64) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive number", v)
		}
		*field(c) = n
		return nil
	}
}
