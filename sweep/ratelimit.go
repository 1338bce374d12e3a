package sweep

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Limit is a token bucket: Burst requests at once, then Rate per second.
type Limit struct {
	Burst int
	Rate  float64
}

// DefaultLimits are the client-side request rates the sweep keeps to, by
// "Service.Operation" (service ID as the SDK names it), with "Service.*" as
// the service default. The EC2 figures are AWS's published request-token
// buckets for an account and region ("Request throttling for the Amazon EC2
// API"): non-mutating actions 100 tokens refilled at 20/s, mutating actions
// 200 at 5/s, ModifyInstanceMetadataOptions 100 at 5/s. They are shared with
// everything else in the account, so the sweep stays under them on its own;
// the SDK's retries still back off if others use the budget up.
// CloudWatch GetMetricData's quota is 50 TPS. S3 has no per-account request
// bucket for these calls (its limits are per prefix, in the thousands per
// second), so S3 is limited only by the sweep's concurrency.
func DefaultLimits() map[string]Limit {
	return map[string]Limit{
		"EC2.*":                             {Burst: 100, Rate: 20},
		"EC2.ModifyInstanceMetadataOptions": {Burst: 100, Rate: 5},
		"EC2.EnableEbsEncryptionByDefault":  {Burst: 200, Rate: 5},
		"EC2.ModifyEbsDefaultKmsKeyId":      {Burst: 200, Rate: 5},
		"CloudWatch.GetMetricData":          {Burst: 50, Rate: 50},
	}
}

// RateLimiter holds one token bucket per API and makes every SDK request
// (each attempt, retries included) take a token before it is sent.
type RateLimiter struct {
	limits  map[string]Limit
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	mu      sync.Mutex
	buckets map[string]*bucket
	calls   map[string]int64
}

// NewRateLimiter returns a limiter for limits (DefaultLimits when nil).
func NewRateLimiter(limits map[string]Limit) *RateLimiter {
	if limits == nil {
		limits = DefaultLimits()
	}
	return &RateLimiter{limits: limits, now: time.Now, sleep: sleepCtx, buckets: map[string]*bucket{}, calls: map[string]int64{}}
}

type bucket struct {
	limit  Limit
	tokens float64
	last   time.Time
}

// Wait takes a token for service.operation, sleeping until one is there.
func (l *RateLimiter) Wait(ctx context.Context, service, operation string) error {
	wait := l.reserve(service, operation)
	if wait == 0 {
		return nil
	}
	return l.sleep(ctx, wait)
}

// reserve takes a token for service.operation and returns how long to wait
// until it is due.
func (l *RateLimiter) reserve(service, operation string) time.Duration {
	key := service + "." + operation
	l.mu.Lock()
	l.calls[key]++
	lim, ok := l.limits[key]
	if !ok {
		lim, ok = l.limits[service+".*"]
	}
	if !ok || lim.Rate <= 0 {
		l.mu.Unlock()
		return 0
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{limit: lim, tokens: float64(lim.Burst), last: l.now()}
		l.buckets[key] = b
	}
	// Reserve a token now (possibly going negative) and sleep off the debt,
	// so that waiters are served in order.
	now := l.now()
	b.tokens = min(float64(b.limit.Burst), b.tokens+now.Sub(b.last).Seconds()*b.limit.Rate)
	b.last = now
	b.tokens--
	var wait time.Duration
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.limit.Rate * float64(time.Second))
	}
	l.mu.Unlock()
	return wait
}

func sleepCtx(ctx context.Context, wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Calls returns how many requests went through the limiter, by
// "Service.Operation".
func (l *RateLimiter) Calls() map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.calls))
	for k, v := range l.calls {
		out[k] = v
	}
	return out
}

// Floor is the least time the requests seen so far need under the limits:
// AWS's rate-limit floor of a sweep that made them. Each API's bucket serves
// its burst at once and the rest at its rate; the slowest bucket sets the
// floor.
func (l *RateLimiter) Floor() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var floor time.Duration
	for key, n := range l.calls {
		service, _, _ := strings.Cut(key, ".")
		lim, ok := l.limits[key]
		if !ok {
			lim, ok = l.limits[service+".*"]
		}
		if !ok || lim.Rate <= 0 || n <= int64(lim.Burst) {
			continue
		}
		floor = max(floor, time.Duration(float64(n-int64(lim.Burst))/lim.Rate*float64(time.Second)))
	}
	return floor
}

// AddTo installs the limiter on every client built from cfg. It sits in the
// finalize step after the retry middleware, so every attempt takes a token.
// A sweep check that has to wait for its token gives up its concurrency
// slot until its request is answered (see slots).
func (l *RateLimiter) AddTo(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("sweepRateLimit",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				if wait := l.reserve(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)); wait > 0 {
					// The slot is taken back after the call, not before it:
					// a request held back past its token's time could meet
					// others in a burst AWS's bucket has not refilled for.
					resume := park(ctx)
					defer resume()
					if err := l.sleep(ctx, wait); err != nil {
						return middleware.FinalizeOutput{}, middleware.Metadata{}, err
					}
				}
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	})
}
