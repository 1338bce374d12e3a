package report

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
)

// hostRecorder answers every request with no findings and records the
// host each request was sent to.
type hostRecorder struct {
	mu    sync.Mutex
	hosts []string
}

func (h *hostRecorder) Do(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.hosts = append(h.hosts, req.URL.Host)
	h.mu.Unlock()
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader([]byte(`{"Findings":[]}`))), Request: req}, nil
}

// A multi-Region report sends each Region's GetFindings to that Region's
// Security Hub, whatever the configuration's own Region.
func TestMultiRegionReportReadsEachRegion(t *testing.T) {
	rec := &hostRecorder{}
	cfg := aws.Config{Region: "us-east-1", HTTPClient: rec,
		Credentials: awscreds.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} }}
	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	g := NewGenerator(Wiring{AWS: cfg, Regions: []string{"eu-west-1", "ap-southeast-2"}, Period: time.Hour, Mapping: m})
	if _, err := g.Generate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Three times each: the failed findings, the other control findings
	// for the compliance scores, then the GuardDuty and Inspector findings.
	want := []string{"securityhub.eu-west-1.amazonaws.com", "securityhub.eu-west-1.amazonaws.com",
		"securityhub.ap-southeast-2.amazonaws.com", "securityhub.ap-southeast-2.amazonaws.com",
		"securityhub.eu-west-1.amazonaws.com", "securityhub.ap-southeast-2.amazonaws.com"}
	if !slices.Equal(rec.hosts, want) {
		t.Errorf("GetFindings sent to %q, want %q", rec.hosts, want)
	}
}

// Without Regions the configuration's Region is read; each Region's
// client is built once.
func TestNewGeneratorDefaults(t *testing.T) {
	g := NewGenerator(Wiring{AWS: aws.Config{Region: "eu-central-1"}})
	if !slices.Equal(g.Regions, []string{"eu-central-1"}) {
		t.Errorf("Regions %q, want the configuration's", g.Regions)
	}
	if g.Findings("eu-central-1") != g.Findings("eu-central-1") {
		t.Error("a Region's client is built again on every call")
	}
	if len(g.Remediators) == 0 {
		t.Error("no remediator activity is read")
	}
}
