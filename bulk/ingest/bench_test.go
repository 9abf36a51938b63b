package ingest

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

const benchRows = 100_000

// benchCSV is a CRM-like export: five columns, 100k rows, some quoted.
func benchCSV() []byte {
	var b bytes.Buffer
	b.WriteString("Name,Email,Phone,Company,Country\n")
	for i := range benchRows {
		fmt.Fprintf(&b, "Person %d,person%d@company%d.com,+1 415 555 %04d,\"Company %d, Inc.\",US\n", i, i, i%20000, i%10000, i%20000)
	}
	return b.Bytes()
}

func BenchmarkScanCSV(b *testing.B) {
	in := benchCSV()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		_, st, err := Scan(bytes.NewReader(in), Options{})
		if err != nil || st.Rows != benchRows {
			b.Fatalf("Scan: %d rows, %v", st.Rows, err)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkReadCSV(b *testing.B) {
	in := benchCSV()
	l, _, err := Scan(bytes.NewReader(in), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(in), l)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchRows {
			b.Fatalf("read %d rows, want %d", n, benchRows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
