package faultproxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/encoding/cbor"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/autoremediate/autoremediate/internal/faultproxy"
)

// backend stands in for the emulator: it counts what reaches it and answers
// 200 with an empty body.
type backend struct {
	*httptest.Server
	hits atomic.Int32
	last atomic.Pointer[http.Request]
	body atomic.Pointer[string]
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		s := string(body)
		b.body.Store(&s)
		b.last.Store(r)
		w.Header().Set("X-Backend", "yes")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(b.Close)
	return b
}

func start(t *testing.T, o faultproxy.Options) *faultproxy.Server {
	t.Helper()
	p, err := faultproxy.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// sdkConfig sends every call once (no retry) to the proxy.
func sdkConfig(url string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(url),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// client is one AWS client making one call through the proxy.
type client struct {
	name, service string // the test's name; the SigV4 signing name
	call          func(ctx context.Context, cfg aws.Config) error
}

func clients() []client {
	return []client{
		{"S3 REST-XML", "s3", func(ctx context.Context, cfg aws.Config) error {
			_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).
				GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("bucket")})
			return err
		}},
		{"EC2 query", "ec2", func(ctx context.Context, cfg aws.Config) error {
			_, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
			return err
		}},
		{"SNS awsQuery", "sns", func(ctx context.Context, cfg aws.Config) error {
			_, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:t"), Message: aws.String("m")})
			return err
		}},
		{"STS awsQuery", "sts", func(ctx context.Context, cfg aws.Config) error {
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}},
		{"CloudWatch awsQuery (the pipeline's protocol)", "monitoring", func(ctx context.Context, cfg aws.Config) error {
			_, err := cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
				o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
			}).ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
			return err
		}},
		{"CloudWatch RPC v2 CBOR (the SDK's default)", "monitoring", func(ctx context.Context, cfg aws.Config) error {
			_, err := cloudwatch.NewFromConfig(cfg).ListMetrics(ctx, &cloudwatch.ListMetricsInput{})
			return err
		}},
		{"DynamoDB awsJson 1.0", "dynamodb", func(ctx context.Context, cfg aws.Config) error {
			_, err := dynamodb.NewFromConfig(cfg).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"),
				Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}}})
			return err
		}},
		{"KMS awsJson 1.1", "kms", func(ctx context.Context, cfg aws.Config) error {
			_, err := kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/k")})
			return err
		}},
		{"SQS awsJson 1.0, query-compatible", "sqs", func(ctx context.Context, cfg aws.Config) error {
			_, err := sqs.NewFromConfig(cfg).GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("q")})
			return err
		}},
	}
}

// apiError is what the SDK made of an error answer.
func apiError(t *testing.T, err error) faultproxy.Error {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not an API error with an HTTP response", err, err)
	}
	return faultproxy.Error{Code: ae.ErrorCode(), Status: re.HTTPStatusCode()}
}

// Every client reads the error the proxy says it injected: the code and
// status the proxy counted are the ones the SDK deserialized, so the
// protocol of the answer is the one the client speaks.
func TestClientsReadTheInjectedErrors(t *testing.T) {
	for _, c := range clients() {
		for _, kind := range faultproxy.Kinds() {
			t.Run(c.name+"/"+string(kind), func(t *testing.T) {
				be := newBackend(t)
				p := start(t, faultproxy.Options{Target: be.URL, Seed: 3, Fraction: 1, Kinds: []faultproxy.Kind{kind}})
				seen := map[faultproxy.Error]int{}
				for range 16 { // enough for both variants of a service's error
					err := c.call(context.Background(), sdkConfig(p.URL))
					if err == nil {
						t.Fatal("the call succeeded through a proxy that fails every call")
					}
					got := apiError(t, err)
					got.Service = c.service
					seen[got]++
				}
				if stats := p.Stats(); !mapsEqual(stats.Errors, seen) {
					t.Errorf("the proxy injected %v, the SDK read %v", stats.Errors, seen)
				}
				for e := range seen {
					switch {
					case e.Code == "UnknownError" || e.Code == "":
						t.Errorf("the SDK could not read the error code: %+v", e)
					case kind == faultproxy.Throttle && e.Status >= 500 && c.service != "s3" && c.service != "ec2":
						t.Errorf("throttle %+v has a server status; only S3 (SlowDown) and EC2 (RequestLimitExceeded) throttle with 503", e)
					case kind != faultproxy.Throttle && e.Status < 500:
						t.Errorf("%s %+v is not a 5xx", kind, e)
					}
				}
				wantHits := 0
				if kind == faultproxy.LostResponse {
					wantHits = 16
				}
				if n := int(be.hits.Load()); n != wantHits {
					t.Errorf("%d calls reached the server, want %d (%s)", n, wantHits, kind)
				}
			})
		}
	}
}

func mapsEqual[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The errors services document for throttling reach the client as such.
func TestDocumentedThrottlingCodes(t *testing.T) {
	want := map[string][]faultproxy.Error{
		// S3: "SlowDown", 503 (Amazon S3 error responses).
		"S3 REST-XML": {{Service: "s3", Code: "SlowDown", Status: 503}},
		// EC2: RequestLimitExceeded with 503 (e.g. bosh-aws-cpi-release#61).
		"EC2 query": {{Service: "ec2", Code: "RequestLimitExceeded", Status: 503}},
		// SNS: the common Throttling (400) and the modelled
		// ThrottledException, awsQuery code Throttled, 429.
		"SNS awsQuery": {{Service: "sns", Code: "Throttled", Status: 429}, {Service: "sns", Code: "Throttling", Status: 400}},
		// DynamoDB: ThrottlingException and
		// ProvisionedThroughputExceededException, 400.
		"DynamoDB awsJson 1.0": {{Service: "dynamodb", Code: "ProvisionedThroughputExceededException", Status: 400}, {Service: "dynamodb", Code: "ThrottlingException", Status: 400}},
		// CloudWatch speaks CBOR by default and asks for awsQuery codes.
		"CloudWatch RPC v2 CBOR (the SDK's default)": {{Service: "monitoring", Code: "Throttling", Status: 400}},
		"KMS awsJson 1.1": {{Service: "kms", Code: "ThrottlingException", Status: 400}},
	}
	for _, c := range clients() {
		w, ok := want[c.name]
		if !ok {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			p := start(t, faultproxy.Options{Target: newBackend(t).URL, Seed: 5, Fraction: 1, Kinds: []faultproxy.Kind{faultproxy.Throttle}})
			var got []faultproxy.Error
			for range 16 {
				e := apiError(t, c.call(context.Background(), sdkConfig(p.URL)))
				e.Service = c.service
				if !slices.Contains(got, e) {
					got = append(got, e)
				}
			}
			slices.SortFunc(got, func(a, b faultproxy.Error) int { return strings.Compare(a.Code, b.Code) })
			if !slices.Equal(got, w) {
				t.Errorf("throttles %v, want %v", got, w)
			}
		})
	}
}

// With no faults, the request and the answer pass untouched.
func TestForwardsUntouched(t *testing.T) {
	be := newBackend(t)
	p := start(t, faultproxy.Options{Target: be.URL, Seed: 1, Fraction: 0})
	req, _ := http.NewRequest(http.MethodPut, p.URL+"/bucket?policy", strings.NewReader(`{"Version":"2012-10-17"}`))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc")
	req.Header.Set("Amz-Sdk-Request", "attempt=2; max=20")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := be.last.Load()
	if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "yes" || got == nil {
		t.Fatalf("answer %d %v, backend request %v", resp.StatusCode, resp.Header, got)
	}
	if got.Method != http.MethodPut || got.URL.RequestURI() != "/bucket?policy" || *be.body.Load() != `{"Version":"2012-10-17"}` ||
		got.Header.Get("Authorization") != req.Header.Get("Authorization") || got.Host != strings.TrimPrefix(p.URL, "http://") {
		t.Errorf("backend got %s %s host %s body %q auth %q", got.Method, got.URL.RequestURI(), got.Host, *be.body.Load(), got.Header.Get("Authorization"))
	}
	s := p.Stats()
	if s.Requests != 1 || s.Forwarded["s3"] != 1 || s.Retries["s3"] != 1 || s.TotalFaults("") != 0 {
		t.Errorf("stats %+v", s)
	}
}

// The faults are a function of the seed and of each operation's call
// count: names in the path do not change them, another seed does, and the
// share is near the fraction.
func TestFaultsFollowTheSeed(t *testing.T) {
	be := newBackend(t)
	run := func(seed uint64, bucketPrefix string) []bool {
		p := start(t, faultproxy.Options{Target: be.URL, Seed: seed, Fraction: 0.5})
		var failed []bool
		for i := range 400 {
			req, _ := http.NewRequest(http.MethodGet, p.URL+"/"+bucketPrefix+strings.Repeat("x", i%7)+"?publicAccessBlock", nil)
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			failed = append(failed, resp.StatusCode != 200)
		}
		return failed
	}
	a, b, other := run(42, "one"), run(42, "two"), run(43, "one")
	if !slices.Equal(a, b) {
		t.Error("the same seed failed other calls when the bucket names changed")
	}
	if slices.Equal(a, other) {
		t.Error("seeds 42 and 43 failed the same calls")
	}
	n := 0
	for _, f := range a {
		if f {
			n++
		}
	}
	if n < 160 || n > 240 {
		t.Errorf("%d of 400 calls failed at fraction 0.5", n)
	}
}

// Requests without a SigV4 signature, like moto's own API, pass.
func TestUnsignedRequestsPass(t *testing.T) {
	be := newBackend(t)
	p := start(t, faultproxy.Options{Target: be.URL, Seed: 1, Fraction: 1})
	resp, err := http.Post(p.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := p.Stats(); resp.StatusCode != 200 || be.hits.Load() != 1 || s.Forwarded[""] != 1 || s.TotalFaults("") != 0 {
		t.Errorf("answer %d, %d reached the server, stats %+v", resp.StatusCode, be.hits.Load(), s)
	}
}

// A HEAD answer has no body; S3 clients read the status alone.
func TestHeadHasNoBody(t *testing.T) {
	p := start(t, faultproxy.Options{Target: newBackend(t).URL, Seed: 1, Fraction: 1, Kinds: []faultproxy.Kind{faultproxy.ServerError}})
	_, err := s3.NewFromConfig(sdkConfig(p.URL), func(o *s3.Options) { o.UsePathStyle = true }).
		HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("bucket")})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() < 500 {
		t.Fatalf("HeadBucket: %v, want a 5xx", err)
	}
}

// An RPC v2 CBOR client that does not ask for awsQuery codes reads the
// error type from the CBOR body.
func TestCBORBodyCarriesTheType(t *testing.T) {
	p := start(t, faultproxy.Options{Target: newBackend(t).URL, Seed: 1, Fraction: 1, Kinds: []faultproxy.Kind{faultproxy.Throttle}})
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/service/GraniteServiceVersion20100801/operation/ListMetrics", strings.NewReader("\xa0"))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=abc")
	req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	req.Header.Set("Content-Type", "application/cbor")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, err := cbor.Decode(body)
	m, ok := v.(cbor.Map)
	if err != nil || !ok || resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || resp.Header.Get("X-Amzn-Query-Error") != "" {
		t.Fatalf("answer %d %v, body %v (%v)", resp.StatusCode, resp.Header, v, err)
	}
	if m["__type"] != cbor.String("ThrottlingException") || resp.StatusCode != 400 {
		t.Errorf("answer %d with %v, want 400 and __type ThrottlingException", resp.StatusCode, m)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	for _, o := range []faultproxy.Options{
		{Target: "not a url", Fraction: 0.5},
		{Target: "http://127.0.0.1:1", Fraction: 1.5},
		{Target: "http://127.0.0.1:1", Fraction: 0.5, Kinds: []faultproxy.Kind{"timeout"}},
	} {
		if _, err := faultproxy.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
