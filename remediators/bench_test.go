package remediators

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
)

// benchS3 is a lean fake for the benchmark: no recording, so that the
// numbers are the handler's, not the fake's. pabOn is the bucket's state;
// the remediated path resets it before each event.
type benchS3 struct{ pabOn bool }

var (
	noPAB   = apiErr("NoSuchPublicAccessBlockConfiguration")
	noTags  = apiErr("NoSuchTagSet")
	noSite  = apiErr("NoSuchWebsiteConfiguration")
	allOnPA = &s3.GetPublicAccessBlockOutput{PublicAccessBlockConfiguration: pab(true, true, true, true)}
)

func (b *benchS3) GetPublicAccessBlock(context.Context, *s3.GetPublicAccessBlockInput, ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error) {
	if !b.pabOn {
		return nil, noPAB
	}
	return allOnPA, nil
}

func (b *benchS3) PutPublicAccessBlock(context.Context, *s3.PutPublicAccessBlockInput, ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error) {
	b.pabOn = true
	return &s3.PutPublicAccessBlockOutput{}, nil
}

func (b *benchS3) GetBucketTagging(context.Context, *s3.GetBucketTaggingInput, ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error) {
	return nil, noTags
}

func (b *benchS3) GetBucketWebsite(context.Context, *s3.GetBucketWebsiteInput, ...func(*s3.Options)) (*s3.GetBucketWebsiteOutput, error) {
	return nil, noSite
}

type benchSNS struct{ n int }

func (s *benchSNS) Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error) {
	s.n++
	return &sns.PublishOutput{MessageId: aws.String("m")}, nil
}

// BenchmarkHandle measures the handler's own cost per event (issue target:
// under 50 µs): parse the raw event, resolve the rule, run the remediator
// against fake S3, and publish (EMF log line to io.Discard, fake SNS).
func BenchmarkHandle(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "events", "testdata", "s3-public-read-noncompliant.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		pabOn bool
		want  remediation.Action
	}{
		{"compliant", true, remediation.ActionCompliant},
		{"remediated", false, remediation.ActionRemediated},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := &benchS3{}
			snsClient := &benchSNS{}
			reg, err := remediation.NewRegistry(NewS3PublicAccessBlock(client, DefaultOptions()))
			if err != nil {
				b.Fatal(err)
			}
			h := &remediation.Handler{
				Registry: reg,
				Rules:    remediation.NewRuleResolver(Catalog(Definitions()), nil),
				Publisher: &publish.OutcomePublisher{
					Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
					EMF:      true,
					SNS:      func() publish.SNSAPI { return snsClient },
					TopicARN: "arn:aws:sns:us-east-1:123456789012:outcomes",
				},
			}
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				client.pabOn = bc.pabOn
				o, err := h.Handle(ctx, raw)
				if err != nil || o.Action != bc.want {
					b.Fatalf("outcome %s, err %v; want %s", o.Action, err, bc.want)
				}
			}
			// CPU time of the process per event (includes the GC's): on a
			// shared machine wall time (ns/op) also counts time spent
			// descheduled.
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			if snsClient.n == 0 {
				b.Fatal("nothing published")
			}
		})
	}
}

// processCPU is the user plus system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
