package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net/http"
	"os"
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

// Validate one lead before pushing it into a CRM.
func Example_validate() {
	ctx := context.Background()
	c, err := client.NewClientWithResponses("http://localhost:8080", withKey(os.Getenv("LEADCHECK_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	email, phone, country := "jane@acme.com", "(415) 555-0132", "US"
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
		fmt.Println(lead.Verdict, lead.Score)
	}
}

// Submit a file, poll until the job ends, and download the cleaned CSV.
func Example_bulk() {
	ctx := context.Background()
	c, err := client.NewClientWithResponses("http://localhost:8080", withKey(os.Getenv("LEADCHECK_API_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Open("leads.csv")
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
		time.Sleep(time.Second)
		polled, err := c.GetBulkJobWithResponse(ctx, job.Id)
		if err != nil || polled.JSON200 == nil {
			log.Fatal("poll: ", err)
		}
		job = *polled.JSON200
		fmt.Printf("%d rows done\n", job.ProcessedRows)
	}
	if job.Status != client.BulkStatusCompleted {
		log.Fatalf("job %s", job.Status)
	}
	// Stream the download too: the raw client hands over the body.
	format := client.GetBulkResultsParamsFormatCsv
	resp, err := c.ClientInterface.GetBulkResults(ctx, job.Id, &client.GetBulkResultsParams{Format: &format})
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := os.Create("leads.cleaned.csv")
	if err != nil {
		log.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, resp.Body); err != nil {
		log.Fatal(err)
	}
}
