package app

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"

	"github.com/autoremediate/autoremediate/internal/awserr"
)

// The retry budget of every AWS call the pipeline makes (LoadAWSConfig).
// An event is a handful of calls in a row (read, tags, write, verify read,
// state store, metrics, SNS); each call retries with capped exponential
// backoff and full jitter until it succeeds, its error is not retryable
// (AccessDenied, NoSuchBucket, a failed condition: at once), its attempts
// run out or its context's deadline is near. The deadline is the real
// budget: the Lambda context ends at the function's timeout
// (lambda_timeout_seconds, 60 s by default) and remediate invoke gives each
// event 60 s. With half of all calls failing, a call exhausts its 20
// attempts about once in a million calls, and an event ends in seconds
// (app/faults_test.go; with the SDK's defaults, three attempts and the
// quota, about 40% of its events ended failed).
const (
	// RetryMaxAttempts bounds the attempts of one call, for contexts
	// without a deadline (the SDK default is 3).
	RetryMaxAttempts = 20
	// RetryBaseDelay is the first retry's largest backoff after a server
	// error (5xx) or a broken connection; each retry doubles it.
	RetryBaseDelay = 50 * time.Millisecond
	// RetryThrottleBaseDelay is the same after a throttling error: a
	// throttled client waits longer, so that the bucket refills.
	RetryThrottleBaseDelay = 500 * time.Millisecond
	// RetryMaxBackoff caps one backoff (the SDK default is 20 s, too long
	// for a 60 s function).
	RetryMaxBackoff = 2 * time.Second
	// RetryDeadlineReserve is the time before the context's deadline after
	// which a failed call is not retried: the longest backoff plus a
	// second for the attempt. The call then returns its own error (not
	// "context deadline exceeded") and the outcome can still be published.
	RetryDeadlineReserve = RetryMaxBackoff + time.Second
)

// NewRetryer returns the retryer of the pipeline's SDK clients: the SDK's
// standard retry classification (throttling codes, 5xx, connection errors;
// client errors are not retried) plus SNS's Throttled, RetryMaxAttempts
// attempts with full-jitter backoff, no retry after RetryDeadlineReserve
// before the context's deadline, and no client-side retry quota: the SDK's
// default quota (500 tokens, 5 per retry, refunded only when the retry
// succeeds) is shared by every call of a client, and once a burst of
// failures has drained it a single throttled call fails its event at once.
// It is the standard mode, not the adaptive one the pipeline used before:
// once throttled, adaptive mode makes every attempt wait for a send token
// from a client-side rate limiter, with no regard to the deadline; with
// half of all calls failing, the events of app/faults_test.go took about
// four times as long with it, some close to the 60 s deadline.
func NewRetryer() aws.Retryer {
	throttles := throttleClassifier()
	return &deadlineRetryer{Standard: retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = RetryMaxAttempts
		o.MaxBackoff = RetryMaxBackoff
		o.RateLimiter = ratelimit.None
		o.Retryables = append(o.Retryables, retry.RetryableErrorCode{Codes: extraThrottleCodes()})
		o.Throttles = throttles
		o.Backoff = fullJitter{throttles: throttles}
	})}
}

// extraThrottleCodes are throttling codes the SDK's default list lacks. SNS
// answers its modelled ThrottledException with the awsQuery code Throttled
// and HTTP 429, neither of which the standard retryer retries.
func extraThrottleCodes() map[string]struct{} { return map[string]struct{}{"Throttled": {}} }

// throttleClassifier tells throttling errors: the SDK's codes and ours.
func throttleClassifier() retry.IsErrorThrottles {
	return append(append(retry.IsErrorThrottles{}, retry.DefaultThrottles...), retry.ThrottleErrorCode{Codes: extraThrottleCodes()})
}

// fullJitter is capped exponential backoff with full jitter: a uniform
// delay from 0 to min(RetryMaxBackoff, base × 2^(attempt-1)), base being
// RetryThrottleBaseDelay after a throttling error and RetryBaseDelay after
// any other.
type fullJitter struct{ throttles retry.IsErrorThrottles }

// BackoffDelay implements retry.BackoffDelayer; attempt is 1 before the
// first retry.
func (j fullJitter) BackoffDelay(attempt int, err error) (time.Duration, error) {
	ceiling := RetryBaseDelay
	if j.throttles.IsErrorThrottle(err).Bool() {
		ceiling = RetryThrottleBaseDelay
	}
	for i := 1; i < attempt && ceiling < RetryMaxBackoff; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, RetryMaxBackoff)
	return time.Duration(rand.Int64N(int64(ceiling) + 1)), nil
}

// errNoTimeForRetry ends a call's retries near its context's deadline.
var errNoTimeForRetry = errors.New("not retried: the deadline is too close for another attempt")

// deadlineRetryer refuses a retry when the context's deadline is less than
// RetryDeadlineReserve away.
type deadlineRetryer struct{ *retry.Standard }

// GetRetryToken implements aws.Retryer.
func (r *deadlineRetryer) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < RetryDeadlineReserve {
		return nil, errNoTimeForRetry
	}
	return r.Standard.GetRetryToken(ctx, opErr)
}

// retriedWriteCheckID names the middleware of retriedWriteTookEffect.
const retriedWriteCheckID = "RetriedWriteTookEffect"

// addRetriedWriteCheck adds retriedWriteTookEffect around the retry loop of
// every call.
func addRetriedWriteCheck(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get("Retry"); !ok {
		return nil
	}
	return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc(retriedWriteCheckID, retriedWriteTookEffect), "Retry", middleware.Before)
}

// retriedWriteTookEffect turns the error of a retried write that is not
// idempotent into its success when an earlier attempt may have been applied
// (it ended in a server error or a broken connection: AWS may have made the
// change and lost the answer) and the retry's error says the change is
// already there. RevokeSecurityGroupIngress by rule IDs is such a write: a
// retry after a lost answer finds the rules gone, and EC2 answers
// InvalidSecurityGroupRuleId.NotFound (moto: InvalidPermission.NotFound).
// Without this the remediator would report "revoked meanwhile by another
// change" for its own revoke. The idempotent writes (PutPublicAccessBlock,
// PutBucketEncryption, PutBucketPolicy, ModifyInstanceMetadataOptions,
// EnableEbsEncryptionByDefault) simply succeed again.
func retriedWriteTookEffect(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleFinalize(ctx, in)
	if err == nil {
		return out, md, err
	}
	var done any
	switch awsmiddleware.GetServiceID(ctx) + " " + awsmiddleware.GetOperationName(ctx) {
	case "EC2 RevokeSecurityGroupIngress":
		if awserr.Is(err, "InvalidSecurityGroupRuleId.NotFound", "InvalidPermission.NotFound") {
			done = &ec2.RevokeSecurityGroupIngressOutput{Return: aws.Bool(true)}
		}
	}
	if done == nil {
		return out, md, err
	}
	results, _ := retry.GetAttemptResults(md)
	for _, a := range results.Results[:max(len(results.Results)-1, 0)] {
		if mayHaveBeenApplied(a.Err) {
			out.Result = done
			return out, md, nil
		}
	}
	return out, md, err
}

// mayHaveBeenApplied reports whether an attempt's error leaves open that
// AWS made the change: a server error (500, 503 but not a throttle, which
// is refused before any work) or a connection that broke.
func mayHaveBeenApplied(err error) bool {
	if err == nil {
		return false
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode() >= 500 && !throttleClassifier().IsErrorThrottle(err).Bool()
	}
	// A connection that was never made carried no request.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return retry.RetryableConnectionError{}.IsErrorRetryable(err).Bool()
}
