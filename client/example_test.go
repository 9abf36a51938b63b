package client_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/leadcheck/leadcheck/client"
)

// withKey sends the API key with every request.
func withKey(key string) client.ClientOption {
	return client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("X-API-Key", key)
		return nil
	})
}

// Validate one lead before pushing it into a CRM. (serverURL and apiKey
// are the server's address and a secret key, e.g. from the environment.)
func Example_validate() {
	ctx := context.Background()
	c, err := client.NewClientWithResponses(serverURL, withKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	email, phone, country := "jane@acme.test", "(415) 555-0132", "US"
	resp, err := c.ValidateLeadWithResponse(ctx, client.ValidateRequest{Email: &email, Phone: &phone, Country: &country})
	if err != nil {
		log.Fatal(err)
	}
	if resp.JSON400 != nil {
		log.Fatalf("%s: %s", resp.JSON400.Error.Code, resp.JSON400.Error.Message)
	}
	lead := resp.JSON200
	switch lead.Verdict {
	case client.VerdictInvalid:
		fmt.Println("reject:", lead.Email.Reason)
	case client.VerdictUnknown:
		fmt.Println("keep, and check again later") // never treat unknown as invalid
	default:
		fmt.Println(lead.Verdict, lead.Score, *lead.Phone.E164)
	}
	// Output: valid 100 +14155550132
}

// A typo of a well-known provider comes with a suggestion.
func Example_didYouMean() {
	c, err := client.NewClientWithResponses(serverURL, withKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	email := "jane@gmial.com"
	resp, err := c.ValidateLeadWithResponse(context.Background(), client.ValidateRequest{Email: &email})
	if err != nil || resp.JSON200 == nil {
		log.Fatal(err, string(resp.Body))
	}
	if e := resp.JSON200.Email; e.DidYouMean != nil {
		fmt.Println("did you mean", *e.DidYouMean+"?")
	}
	// Output: did you mean jane@gmail.com?
}

// Submit a file, poll until the job ends, and download the cleaned CSV.
func Example_bulk() {
	ctx := context.Background()
	c, err := client.NewClientWithResponses(serverURL, withKey(apiKey))
	if err != nil {
		log.Fatal(err)
	}
	leads := filepath.Join(workDir, "leads.csv")
	err = os.WriteFile(leads, []byte("Name;E-Mail;Telefon\nJane;jane@acme.test;(415) 555-0132\nJoe;joe@missing.test;\n"), 0o644)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open(leads)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	// Stream the multipart body: the file is never held in memory.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", "leads.csv")
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.WriteField("default_country", "US")
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	created, err := c.CreateBulkJobWithBodyWithResponse(ctx, mw.FormDataContentType(), pr)
	if err != nil {
		log.Fatal(err)
	}
	if created.JSON202 == nil {
		log.Fatalf("upload refused: %s", created.Body)
	}
	job := *created.JSON202
	for job.Status == client.BulkStatusQueued || job.Status == client.BulkStatusRunning {
		time.Sleep(50 * time.Millisecond)
		polled, err := c.GetBulkJobWithResponse(ctx, job.Id)
		if err != nil || polled.JSON200 == nil {
			log.Fatal("poll: ", err)
		}
		job = *polled.JSON200
	}
	if job.Status != client.BulkStatusCompleted {
		log.Fatalf("job %s", job.Status)
	}
	fmt.Printf("%d rows: %d valid, %d invalid\n", job.ProcessedRows, job.Counts.Valid, job.Counts.Invalid)
	// Stream the download too: the raw client hands over the body.
	format := client.GetBulkResultsParamsFormatCsv
	resp, err := c.ClientInterface.GetBulkResults(ctx, job.Id, &client.GetBulkResultsParams{Format: &format})
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	// The results keep the file's ';' and add the leadcheck_* columns.
	r := csv.NewReader(bufio.NewReader(resp.Body))
	r.Comma = ';'
	rows, err := r.ReadAll()
	if err != nil {
		log.Fatal(err)
	}
	for _, row := range rows[1:] {
		fmt.Println(row[0], row[3], row[4])
	}
	// Output:
	// 2 rows: 1 valid, 1 invalid
	// Jane valid ok
	// Joe invalid no_such_domain
}
