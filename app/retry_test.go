package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/internal/faultproxy"
)

// noDelay is a retryer that does not wait between attempts, to keep the
// tests fast; everything else is the wrapped retryer's.
type noDelay struct{ aws.RetryerV2 }

func (noDelay) RetryDelay(int, error) (time.Duration, error) { return 0, nil }

func testConfig(endpoint string, retryer func() aws.Retryer) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer:      retryer,
	}
}

// Every error the fault proxy injects, in every service the pipeline
// calls, is retried by the pipeline's retryer, and classified as a throttle
// exactly when it is one (throttles back off longer).
func TestRetryerRetriesEveryInjectedFault(t *testing.T) {
	calls := []struct {
		service string
		call    func(context.Context, aws.Config) error
	}{
		{"s3", func(ctx context.Context, cfg aws.Config) error {
			_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("b")})
			return err
		}},
		{"ec2", func(ctx context.Context, cfg aws.Config) error {
			_, err := ec2.NewFromConfig(cfg).EnableEbsEncryptionByDefault(ctx, &ec2.EnableEbsEncryptionByDefaultInput{})
			return err
		}},
		{"monitoring", func(ctx context.Context, cfg aws.Config) error {
			_, err := cloudwatch.NewFromConfig(cfg, CloudWatchQueryProtocol).PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("n")})
			return err
		}},
		{"sns", func(ctx context.Context, cfg aws.Config) error {
			_, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:t"), Message: aws.String("m")})
			return err
		}},
		{"sts", func(ctx context.Context, cfg aws.Config) error {
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}},
		{"kms", func(ctx context.Context, cfg aws.Config) error {
			_, err := kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/k")})
			return err
		}},
		{"dynamodb", func(ctx context.Context, cfg aws.Config) error {
			_, err := dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"),
				Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}}})
			return err
		}},
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	for _, c := range calls {
		for _, kind := range faultproxy.Kinds() {
			t.Run(c.service+"/"+string(kind), func(t *testing.T) {
				p, err := faultproxy.Start(faultproxy.Options{Target: backend.URL, Seed: 9, Fraction: 1, Kinds: []faultproxy.Kind{kind}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { p.Close() })
				cfg := testConfig(p.URL, func() aws.Retryer {
					return noDelay{retry.AddWithMaxAttempts(NewRetryer(), 2).(aws.RetryerV2)}
				})
				const n = 8 // each service's variants of the error
				for range n {
					err := c.call(context.Background(), cfg)
					var maxErr *retry.MaxAttemptsError
					if !errors.As(err, &maxErr) {
						t.Fatalf("the call ended with %v, not after its 2 attempts", err)
					}
					if got := throttleClassifier().IsErrorThrottle(err).Bool(); got != (kind == faultproxy.Throttle) {
						t.Errorf("%s error %q classified as throttle: %t", kind, awserr.Code(err), got)
					}
				}
				if s := p.Stats(); s.Requests != 2*n || s.Retries[c.service] != n {
					t.Errorf("%d requests with %d retries for %d calls: %v", s.Requests, s.Retries[c.service], n, s)
				}
			})
		}
	}
}

// fakeError answers every request with one AWS error.
func fakeError(t *testing.T, status int, contentType, body string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// Errors that another attempt cannot fix fail at once.
func TestRetryerDoesNotRetryClientErrors(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		status                  int
		call                    func(context.Context, aws.Config) error
	}{
		{"S3 AccessDenied", "application/xml", `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`, 403,
			func(ctx context.Context, cfg aws.Config) error {
				_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("b"),
					PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true)}})
				return err
			}},
		{"S3 NoSuchBucket", "application/xml", `<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>`, 404,
			func(ctx context.Context, cfg aws.Config) error {
				_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("b")})
				return err
			}},
		{"EC2 UnauthorizedOperation", "text/xml", `<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r</RequestID></Response>`, 403,
			func(ctx context.Context, cfg aws.Config) error {
				_, err := ec2.NewFromConfig(cfg).EnableEbsEncryptionByDefault(ctx, &ec2.EnableEbsEncryptionByDefaultInput{})
				return err
			}},
		{"SNS AuthorizationError", "text/xml", `<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>not authorized</Message></Error><RequestId>r</RequestId></ErrorResponse>`, 403,
			func(ctx context.Context, cfg aws.Config) error {
				_, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-east-1:123456789012:t"), Message: aws.String("m")})
				return err
			}},
		{"DynamoDB ConditionalCheckFailedException", "application/x-amz-json-1.0", `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}`, 400,
			func(ctx context.Context, cfg aws.Config) error {
				_, err := dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"),
					Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "k"}}})
				return err
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, hits := fakeError(t, c.status, c.contentType, c.body)
			err := c.call(context.Background(), testConfig(srv.URL, NewRetryer))
			if want := strings.Fields(c.name)[1]; awserr.Code(err) != want {
				t.Fatalf("error %v, want code %s", err, want)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d attempts, want 1", n)
			}
		})
	}
}

// flakyS3 answers each call's first two attempts with 500 InternalError
// and the third with an empty bucket policy.
func flakyS3(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Amz-Sdk-Request"); strings.HasPrefix(a, "attempt=1;") || strings.HasPrefix(a, "attempt=2;") {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`)
			return
		}
		io.WriteString(w, `{"Version":"2012-10-17","Statement":[]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A run of failures does not use up a client-side retry quota. The SDK's
// default (500 tokens; 5 per retry, given back only when the retry
// succeeds) is empty after 100 failed retries, and from then on every call
// fails on its first error.
func TestRetryerHasNoRetryQuota(t *testing.T) {
	const calls = 150 // each fails twice, then succeeds
	failures := func(retryer aws.RetryerV2) int {
		client := s3.NewFromConfig(testConfig(flakyS3(t).URL, func() aws.Retryer { return noDelay{retryer} }),
			func(o *s3.Options) { o.UsePathStyle = true })
		failed := 0
		for i := range calls {
			if _, err := client.GetBucketPolicy(context.Background(), &s3.GetBucketPolicyInput{Bucket: aws.String(fmt.Sprintf("b%d", i))}); err != nil {
				failed++
			}
		}
		return failed
	}
	// The control: the scenario does exhaust the SDK's default quota.
	if n := failures(retry.NewStandard()); n == 0 {
		t.Fatalf("the SDK's standard retryer retried all %d calls: the scenario does not exercise its quota", calls)
	}
	if n := failures(NewRetryer().(aws.RetryerV2)); n != 0 {
		t.Errorf("%d of %d calls failed", n, calls)
	}
}

// Close to the context's deadline a failed call is not retried: it returns
// its own error in time for the outcome to be published.
func TestRetryerStopsNearTheDeadline(t *testing.T) {
	call := func(t *testing.T, endpoint string, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := s3.NewFromConfig(testConfig(endpoint, NewRetryer), func(o *s3.Options) { o.UsePathStyle = true }).
			GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("b")})
		return err
	}
	t.Run("no time left", func(t *testing.T) {
		srv, hits := fakeError(t, 503, "application/xml", `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
		err := call(t, srv.URL, RetryDeadlineReserve-time.Second)
		if awserr.Code(err) != "SlowDown" || !errors.Is(err, errNoTimeForRetry) {
			t.Errorf("error %v, want SlowDown and no retry", err)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
	t.Run("time left", func(t *testing.T) {
		if err := call(t, flakyS3(t).URL, RetryDeadlineReserve+10*time.Second); err != nil {
			t.Errorf("the call was not retried: %v", err)
		}
	})
}

func TestBackoffIsCappedFullJitter(t *testing.T) {
	j := fullJitter{throttles: throttleClassifier()}
	throttled := &retry.MaxAttemptsError{Err: fakeCode("Throttled")}
	broken := fakeCode("InternalError")
	for _, c := range []struct {
		attempt int
		err     error
		ceiling time.Duration
	}{
		{1, broken, RetryBaseDelay},
		{3, broken, 4 * RetryBaseDelay},
		{1, throttled, RetryThrottleBaseDelay},
		{2, throttled, 2 * RetryThrottleBaseDelay},
		{3, throttled, RetryMaxBackoff},
		{60, broken, RetryMaxBackoff},
	} {
		var lo, hi time.Duration = c.ceiling, 0
		for range 500 {
			d, err := j.BackoffDelay(c.attempt, c.err)
			if err != nil || d < 0 || d > c.ceiling {
				t.Fatalf("attempt %d after %v: delay %v (%v), want 0 to %v", c.attempt, c.err, d, err, c.ceiling)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo > c.ceiling/5 || hi < c.ceiling*4/5 {
			t.Errorf("attempt %d after %v: delays from %v to %v, want them spread from 0 to %v", c.attempt, c.err, lo, hi, c.ceiling)
		}
	}
}

type fakeCode string

func (c fakeCode) Error() string     { return string(c) }
func (c fakeCode) ErrorCode() string { return string(c) }

// fakeEC2 holds one security group rule and answers
// RevokeSecurityGroupIngress for it, each attempt as answer says.
type fakeEC2 struct {
	mu       sync.Mutex
	present  bool
	attempts int
	// answer gets the attempt number and whether the rule is there; it
	// returns whether the attempt removes it and the HTTP status and error
	// code to answer (0 for success).
	answer func(attempt int, present bool) (remove bool, status int, code string)
}

func (f *fakeEC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	if form.Get("Action") != "RevokeSecurityGroupIngress" {
		http.Error(w, "unexpected "+form.Get("Action"), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.attempts++
	remove, status, code := f.answer(f.attempts, f.present)
	if remove {
		f.present = false
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if status == 0 {
		io.WriteString(w, `<RevokeSecurityGroupIngressResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><return>true</return></RevokeSecurityGroupIngressResponse>`)
		return
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>`, code)
}

// A revoke whose answer was lost, retried, finds the rule gone: the call
// reports the revoke, through the configuration LoadAWSConfig builds. When
// no earlier attempt can have applied it, "not found" stays an error: the
// rule was revoked by someone else.
func TestRetriedRevokeReportsItsOwnEffect(t *testing.T) {
	for _, c := range []struct {
		name    string
		answer  func(attempt int, present bool) (bool, int, string)
		success bool
	}{
		{"answer lost after the revoke", func(attempt int, present bool) (bool, int, string) {
			if attempt == 1 {
				return true, 503, "Unavailable"
			}
			return false, 400, "InvalidSecurityGroupRuleId.NotFound"
		}, true},
		{"throttled, then revoked by someone else", func(attempt int, present bool) (bool, int, string) {
			if attempt == 1 {
				return true, 503, "RequestLimitExceeded" // the removal stands for the other actor's
			}
			return false, 400, "InvalidSecurityGroupRuleId.NotFound"
		}, false},
		{"not found at once", func(int, bool) (bool, int, string) { return false, 400, "InvalidPermission.NotFound" }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeEC2{present: true, answer: c.answer}
			srv := httptest.NewServer(f)
			t.Cleanup(srv.Close)
			for k, v := range map[string]string{"AWS_ENDPOINT_URL": srv.URL, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID",
				"AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_MAX_ATTEMPTS": "", "AWS_RETRY_MODE": "",
				"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull} {
				t.Setenv(k, v)
			}
			cfg, err := LoadAWSConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n := cfg.Retryer().MaxAttempts(); n != RetryMaxAttempts {
				t.Fatalf("LoadAWSConfig's retryer makes %d attempts, want RetryMaxAttempts", n)
			}
			out, err := ec2.NewFromConfig(cfg).RevokeSecurityGroupIngress(context.Background(),
				&ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String("sg-0123456789abcdef0"), SecurityGroupRuleIds: []string{"sgr-0123456789abcdef0"}})
			if c.success && (err != nil || !aws.ToBool(out.Return)) {
				t.Errorf("revoke: %v, %+v; want it reported done", err, out)
			}
			if !c.success && !awserr.Is(err, "InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound") {
				t.Errorf("revoke: %v, want the not-found error", err)
			}
		})
	}
}
