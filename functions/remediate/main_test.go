package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/app"
)

const (
	fixturePublicRead = "s3-public-read-noncompliant.json"
	fixtureBucket     = "example-public-bucket"
)

// The outcome JSON has exactly these fields (remediation.Outcome).
var outcomeFields = []string{"account", "action", "actor", "after", "before", "completedAt", "detectedAt", "durationMs", "error", "eventId",
	"reason", "region", "remediator", "resourceId", "resourceType", "rule", "trigger"}

func decodeOutcome(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var o map[string]any
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, body)
	}
	var keys []string
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != strings.Join(outcomeFields, ",") {
		t.Errorf("response fields %v, want the outcome's %v", keys, outcomeFields)
	}
	return o
}

func TestBootstrapServesEventsThroughTheRuntimeAPI(t *testing.T) {
	srv := emu(t)
	ns := fmt.Sprintf("BootstrapTest%d", time.Now().UnixNano())
	bucket := publicBucket(t, srv, "bootstrap")
	remediatedBefore := remediatedCount(t, ns)
	f := startFunction(t, "METRICS_MODE=api", "METRICS_NAMESPACE="+ns)
	f.initDone()

	// A non-compliant bucket: the response is the outcome and the emulator
	// has the bucket blocked.
	res := f.invoke(fixture(t, fixturePublicRead, fixtureBucket, bucket))
	if res.Err != nil {
		t.Fatalf("invocation failed: %+v", res.Err)
	}
	o := decodeOutcome(t, res.Body)
	if o["action"] != "remediated" || o["resourceId"] != bucket || o["remediator"] != "s3-public-access-block" {
		t.Fatalf("outcome %v, want s3-public-access-block remediated on %s", o, bucket)
	}
	pab, err := s3Client(srv).GetPublicAccessBlock(context.Background(), &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("reading the public access block back: %v", err)
	}
	if c := pab.PublicAccessBlockConfiguration; !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.IgnorePublicAcls) ||
		!aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.RestrictPublicBuckets) {
		t.Fatalf("public access block read back %+v", c)
	}

	// Not a compliance change event: an invocation error naming the
	// problem, and the process goes on serving.
	res = f.invoke([]byte(`{"version":"0","source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}`))
	if res.Err == nil {
		t.Fatalf("an EC2 state change event succeeded: %s", res.Body)
	}
	if res.Err.Type != "ParseError" || !strings.Contains(res.Err.Message, "aws.ec2") {
		t.Errorf("error %+v, want errorType ParseError naming the source", res.Err)
	}

	// The same event again: read only, compliant.
	res = f.invoke(fixture(t, fixturePublicRead, fixtureBucket, bucket))
	if res.Err != nil {
		t.Fatalf("second invocation failed: %+v", res.Err)
	}
	if o := decodeOutcome(t, res.Body); o["action"] != "compliant" {
		t.Errorf("second delivery: action %v, want compliant", o["action"])
	}

	// One structured outcome line per handled event on stdout.
	if actions := f.outcomeActions(2); strings.Join(actions, ",") != "remediated,compliant" {
		t.Errorf("outcome log lines %v, want remediated,compliant\n%s", actions, f.stdout.String())
	}

	// METRICS_MODE=api: the metrics are in the emulator. (moto ignores the
	// namespace of a query with dimensions: compare before and after.)
	if got := remediatedCount(t, ns) - remediatedBefore; got != 1 {
		t.Errorf("Remediations{s3-public-access-block,remediated} in %s grew by %v, want 1", ns, got)
	}
}

// remediatedCount reads the Remediations metric of remediated
// s3-public-access-block outcomes from the emulator.
func remediatedCount(t *testing.T, ns string) float64 {
	t.Helper()
	cw := cloudwatch.NewFromConfig(emu(t).AWSConfig(), app.CloudWatchQueryProtocol)
	now := time.Now()
	out, err := cw.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(now.Add(time.Hour)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("r"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String("Remediations"), Dimensions: []cwtypes.Dimension{
				{Name: aws.String("Remediator"), Value: aws.String("s3-public-access-block")}, {Name: aws.String("Action"), Value: aws.String("remediated")}}},
			Period: aws.Int32(3600), Stat: aws.String("Sum")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, v := range out.MetricDataResults[0].Values {
		sum += v
	}
	return sum
}

// denyingS3 answers every request as S3 does when the role lacks the
// permission.
func denyingS3(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>TEST</RequestId></Error>`)
	}))
	t.Cleanup(s.Close)
	return s, &calls
}

func TestBootstrapReportsFailedOutcomeAsInvocationError(t *testing.T) {
	deny, calls := denyingS3(t)
	f := startFunction(t, "METRICS_MODE=off", "AWS_ENDPOINT_URL_S3="+deny.URL)
	res := f.invoke(fixture(t, fixturePublicRead, fixtureBucket, "locked-down-bucket"))
	if res.Err == nil {
		t.Fatalf("a failed outcome was reported as success: %s", res.Body)
	}
	if res.Err.Type != "OutcomeError" {
		t.Errorf("errorType %q, want OutcomeError", res.Err.Type)
	}
	for _, want := range []string{"s3-public-access-block", "locked-down-bucket", "AccessDenied"} {
		if !strings.Contains(res.Err.Message, want) {
			t.Errorf("errorMessage %q does not contain %q", res.Err.Message, want)
		}
	}
	if calls.Load() == 0 {
		t.Error("the function never called the S3 endpoint")
	}
	if actions := f.outcomeActions(1); strings.Join(actions, ",") != "failed" {
		t.Errorf("outcome log lines %v, want failed\n%s", actions, f.stdout.String())
	}
}

func TestBootstrapBadConfigurationFailsInit(t *testing.T) {
	f := startFunction(t, "MODE=bogus")
	st, err := f.waitExit(10 * time.Second)
	if err != nil {
		t.Fatalf("with MODE=bogus: %v", err)
	}
	if st.Success() {
		t.Fatal("bootstrap exited 0 with MODE=bogus")
	}
	if !strings.Contains(f.stderr.String(), `MODE: mode "bogus"`) {
		t.Errorf("stderr does not explain the bad MODE:\n%s", f.stderr.String())
	}
	select {
	case e := <-f.rt.InitErrors():
		if e.Type != "InitError" || !strings.Contains(e.Message, "bogus") || e.HeaderType != "InitError" {
			t.Errorf("init error %+v, want InitError naming the bad value", e)
		}
	default:
		t.Error("bootstrap did not report to /runtime/init/error")
	}
	select {
	case <-f.rt.Polls():
		t.Error("bootstrap asked for an event despite the bad configuration")
	default:
	}
}
