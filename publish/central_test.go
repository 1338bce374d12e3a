package publish

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// signedRequest is what the recorder keeps of one request: where it went,
// who signed it, and its body.
type signedRequest struct {
	host, authorization string
	body                []byte
}

// recorder is an HTTP client that records every request and answers none
// (the test is about who signs, not about the answer).
type recorder struct {
	mu   sync.Mutex
	reqs []signedRequest
}

var errRecorded = errors.New("recorded, not sent")

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
	}
	// PutMetricData bodies are gzipped (the SDK's request compression).
	if req.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			body, _ = io.ReadAll(zr)
		}
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, signedRequest{req.URL.Host, req.Header.Get("Authorization"), body})
	r.mu.Unlock()
	return nil, errRecorded
}

// TestPublishesOnlyInTheCentralAccount: outcomes about member accounts in
// other regions are put and notified with the publisher's own (central)
// credentials in its own region; the member account is only a dimension
// value and a message field. Custodian #2932 is metrics landing in the
// member account instead.
func TestPublishesOnlyInTheCentralAccount(t *testing.T) {
	const centralKey = "AKIACENTRAL000000001"
	rec := &recorder{}
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(centralKey, "secret", ""),
		HTTPClient:  rec,
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	cw, sn := cloudwatch.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	p := &OutcomePublisher{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), EMF: true, TopicARN: topic,
		Metrics: func() MetricsAPI { return cw },
		SNS:     func() SNSAPI { return sn },
	}
	members := map[string]string{"111111111111": "eu-west-1", "222222222222": "ap-southeast-2"}
	for account, region := range members {
		o := sampleOutcome()
		o.Account, o.Region = account, region
		if err := p.Publish(context.Background(), o); !errors.Is(err, errRecorded) {
			t.Fatalf("publishing for %s: err = %v, want the recorder's", account, err)
		}
	}
	if len(rec.reqs) != 2*len(members) {
		t.Fatalf("%d requests, want a PutMetricData and a Publish per outcome", len(rec.reqs))
	}
	seen := map[string]int{}
	for _, r := range rec.reqs {
		service := strings.SplitN(r.host, ".", 2)[0]
		if r.host != service+".us-east-1.amazonaws.com" || (service != "monitoring" && service != "sns") {
			t.Errorf("request to %s, want CloudWatch or SNS in the central region us-east-1", r.host)
		}
		if !strings.Contains(r.authorization, "Credential="+centralKey+"/") || !strings.Contains(r.authorization, "/us-east-1/"+service+"/aws4_request") {
			t.Errorf("request to %s signed %q, want the central key %s for us-east-1", r.host, r.authorization, centralKey)
		}
		for account := range members {
			if bytes.Contains(r.body, []byte(account)) {
				seen[service+" "+account]++
			}
		}
	}
	for account := range members {
		for _, service := range []string{"monitoring", "sns"} {
			if seen[service+" "+account] != 1 {
				t.Errorf("%s requests carrying account %s: %d, want 1 (its outcome's)", service, account, seen[service+" "+account])
			}
		}
	}
}

// The outcome's account reaches the metric as a dimension value; outcomes
// without one are counted under NoAccount rather than dropped (CloudWatch
// refuses empty dimension values).
func TestAccountDimension(t *testing.T) {
	for account, want := range map[string]string{"210987654321": "210987654321", "": NoAccount} {
		p := newPublisher(slog.LevelInfo)
		o := sampleOutcome()
		o.Account = account
		if err := p.p.Publish(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range p.metrics.inputs[0].MetricData {
			for _, dim := range d.Dimensions {
				if aws.ToString(dim.Name) == DimensionAccount {
					n++
					if aws.ToString(dim.Value) != want {
						t.Errorf("account %q: Account dimension %q, want %q", account, aws.ToString(dim.Value), want)
					}
				}
			}
		}
		if n != 1 {
			t.Errorf("account %q: %d data with an Account dimension, want 1 (Remediations)", account, n)
		}
		if got := p.lines(t)[0][DimensionAccount]; got != want {
			t.Errorf("account %q: EMF Account member %v, want %q", account, got, want)
		}
	}
}
