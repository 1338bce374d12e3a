package dashboard

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go"

	"github.com/autoremediate/autoremediate/terraform"
)

// countingCW answers every call with err, counting the calls.
type countingCW struct {
	err   error
	calls int
}

func (c *countingCW) ListMetrics(context.Context, *cloudwatch.ListMetricsInput, ...func(*cloudwatch.Options)) (*cloudwatch.ListMetricsOutput, error) {
	c.calls++
	return nil, c.err
}

func (c *countingCW) GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	c.calls++
	return nil, c.err
}

// refusedPort returns a loopback address nothing listens on.
func refusedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// An endpoint that does not answer ends the rendering at the first widget
// with one error, instead of one error (after the SDK's retries) per widget.
func TestUnreachableEndpointStopsAtTheFirstWidget(t *testing.T) {
	body, err := terraform.RenderDashboard(Vars{"AutoRemediation", "us-east-1", "fn", "dlq"}.Map())
	if err != nil {
		t.Fatal(err)
	}
	// A real client against a closed port: the error is the SDK's own.
	cw := cloudwatch.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1,
		BaseEndpoint: aws.String("http://" + refusedPort(t))})
	var sdkErr error
	if _, sdkErr = cw.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{}); sdkErr == nil || !unanswered(sdkErr) {
		t.Fatalf("connection refused not recognised as unanswered: %v", sdkErr)
	}
	f := &countingCW{err: sdkErr}
	start := time.Now()
	_, widgets, err := Render(context.Background(), f, body, Options{})
	if err == nil || widgets != nil || !strings.Contains(err.Error(), "CloudWatch did not answer") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("err %v, widgets %d", err, len(widgets))
	}
	if f.calls != 1 {
		t.Errorf("%d calls after the endpoint did not answer, want 1", f.calls)
	}
	t.Logf("gave up in %s", time.Since(start))

	// An error answer (access denied) stays with its widget.
	f = &countingCW{err: &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform cloudwatch:ListMetrics"}}
	_, widgets, err = Render(context.Background(), f, body, Options{})
	if err != nil || unanswered(f.err) {
		t.Fatalf("an error answer ended the rendering: %v", err)
	}
	failed := 0
	for _, w := range widgets {
		if strings.Contains(w.Err, "AccessDenied") {
			failed++
		}
	}
	if failed < 2 {
		t.Errorf("%d widgets carry the AccessDenied error, want every metric widget", failed)
	}
}

// An endpoint that answers, but not as CloudWatch (another HTTP server's
// 404 page), is treated like one that does not answer: one error, not one
// per widget.
func TestNonCloudWatchEndpointStopsAtTheFirstWidget(t *testing.T) {
	body, err := terraform.RenderDashboard(Vars{"AutoRemediation", "us-east-1", "fn", "dlq"}.Map())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	cw := cloudwatch.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1,
		BaseEndpoint: aws.String(srv.URL)}, func(o *cloudwatch.Options) {})
	_, sdkErr := cw.ListMetrics(context.Background(), &cloudwatch.ListMetricsInput{})
	if sdkErr == nil || !unanswered(sdkErr) {
		t.Fatalf("a non-CloudWatch 404 not recognised: %v", sdkErr)
	}
	f := &countingCW{err: sdkErr}
	if _, widgets, err := Render(context.Background(), f, body, Options{}); err == nil || widgets != nil || !strings.Contains(err.Error(), "CloudWatch did not answer") {
		t.Errorf("err %v, widgets %d", err, len(widgets))
	}
	if f.calls != 1 {
		t.Errorf("%d calls, want 1", f.calls)
	}
}
