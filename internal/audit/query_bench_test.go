package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/audit"
)

// benchTrail writes n records shaped like Encrypt records (about 1 KB
// each, as the server writes them) over the last n seconds, one key in
// ten and one account in two.
func benchTrail(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	l, err := audit.Open(audit.Options{Dir: dir, Signer: newSigner(b), MaxFileSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-time.Duration(n) * time.Second)
	// Writers in parallel, so that records share fsyncs.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				if err := l.Write(context.Background(), benchRecord(start, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

func benchRecord(start time.Time, i int) *audit.Record {
	arn := fmt.Sprintf("arn:aws:kms:us-east-1:111122223333:key/%08d-1111-2222-3333-444455556666", i%10)
	r := &audit.Record{EventVersion: audit.EventVersion, EventSource: audit.SourceKMS, EventName: "Encrypt",
		EventTime: audit.EventTime(start.Add(time.Duration(i) * time.Second)), AWSRegion: "us-east-1", SourceIPAddress: "127.0.0.1",
		UserAgent:         "aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26.8 md/GOOS#linux md/GOARCH#amd64 api/kms#1.62.6 m/E,e",
		RequestParameters: json.RawMessage(`{"keyId":"` + arn + `","encryptionAlgorithm":"SYMMETRIC_DEFAULT"}`),
		RequestID:         "e8db8049-14b7-4b7e-abc5-ff4379692bb5", EventID: "64097471-af4d-43c0-ab8e-c2012a3c60a9", ReadOnly: true,
		Resources: []audit.Resource{{AccountID: "111122223333", Type: "AWS::KMS::Key", ARN: arn}}, EventType: "AwsApiCall",
		ManagementEvent: true, RecipientAccountID: "111122223333", EventCategory: "Management",
		UserIdentity: audit.UserIdentity{Type: "Root", PrincipalID: "111122223333", ARN: "arn:aws:iam::111122223333:root",
			AccountID: []string{"111122223333", "444455556666"}[i%2], AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		Trent: audit.Trent{Decision: "Allow", Status: 200, LatencyMS: 0.25, Checks: []audit.Check{{Action: "kms:Encrypt", Resource: arn,
			Decision: "Allow", Source: "resource", Statement: 0, Sid: "Enable IAM User Permissions", Reason: "allowed by the resource-based policy"}}},
	}
	return r
}

// BenchmarkAuditQueries measures the admin queries over a trail of
// 20,000 records: the search of the newest page, searches that must read
// the whole trail (no match: parsed, or refused before parsing by
// account), and the counts of the whole range and of its last hour.
func BenchmarkAuditQueries(b *testing.B) {
	const n = 20000
	dir := benchTrail(b, n)
	b.Run("Latest/newest-page", func(b *testing.B) {
		for b.Loop() {
			if _, err := audit.Latest(context.Background(), dir, &audit.Filter{Account: "111122223333"}, 0, 50); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Latest/whole-trail", func(b *testing.B) {
		for b.Loop() {
			if _, err := audit.Latest(context.Background(), dir, &audit.Filter{Operation: "Decrypt"}, 0, 50); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("Latest/whole-trail-other-account", func(b *testing.B) {
		for b.Loop() {
			if _, err := audit.Latest(context.Background(), dir, &audit.Filter{Account: "777788889999"}, 0, 50); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("CountRequests/last-hour", func(b *testing.B) {
		f := &audit.Filter{Since: time.Now().Add(-time.Hour), Until: time.Now()}
		for b.Loop() {
			if _, err := audit.CountRequests(context.Background(), dir, f, 5*time.Minute); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("CountRequests/whole-trail", func(b *testing.B) {
		f := &audit.Filter{Since: time.Now().Add(-(n + 60) * time.Second), Until: time.Now()}
		for b.Loop() {
			if _, err := audit.CountRequests(context.Background(), dir, f, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
