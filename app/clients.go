// Package app wires the pipeline from settings: it is shared by the Lambda
// functions and the CLI so that both run exactly the same code.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
)

// ErrNoRegion is LoadAWSConfig's error when no region is configured: a bad
// setting, like the pipeline's own (the CLI exits with status 2).
var ErrNoRegion = errors.New("no AWS region set: set AWS_REGION (or a region in the AWS_PROFILE's configuration)")

// LoadAWSConfig loads the SDK configuration from the environment (region,
// credentials, AWS_ENDPOINT_URL) with the pipeline's retry budget
// (NewRetryer: more attempts with full-jitter backoff, bounded by the
// context's deadline, no client-side retry quota; AWS_MAX_ATTEMPTS still
// overrides the attempts) and the check that a retried revoke whose first
// answer was lost reports the revoke (addRetriedWriteCheck). Without a
// region it returns an error wrapping ErrNoRegion.
func LoadAWSConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryer(NewRetryer),
		awsconfig.WithAPIOptions([]func(*middleware.Stack) error{addRetriedWriteCheck}))
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", ErrNoRegion)
	}
	return cfg, nil
}

// Clients builds each SDK client once, on first use: a cold start pays only
// for the services its events need.
type Clients struct {
	cfg aws.Config
	// PathStyleS3 addresses buckets by path (needed by local emulators).
	PathStyleS3 bool
	memo        sync.Map // key -> *onceClient
}

type onceClient struct {
	once sync.Once
	v    any
}

// NewClients returns lazily built clients for cfg. S3 uses path-style
// addressing when an endpoint override is set (AWS_ENDPOINT_URL or
// AWS_ENDPOINT_URL_S3), as emulators need.
func NewClients(cfg aws.Config) *Clients {
	return &Clients{cfg: cfg, PathStyleS3: os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""}
}

// Config returns the SDK configuration the clients are built from.
func (c *Clients) Config() aws.Config { return c.cfg }

// Memo returns the value built by build under key, building it once. Other
// files add clients with it without touching this struct.
func Memo[T any](c *Clients, key string, build func(aws.Config) T) T {
	v, _ := c.memo.LoadOrStore(key, &onceClient{})
	oc := v.(*onceClient)
	oc.once.Do(func() { oc.v = build(c.cfg) })
	return oc.v.(T)
}

// S3 returns the S3 client.
func (c *Clients) S3() *s3.Client {
	return Memo(c, "s3", func(cfg aws.Config) *s3.Client {
		return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = c.PathStyleS3 })
	})
}

// EC2 returns the EC2 client.
func (c *Clients) EC2() *ec2.Client {
	return Memo(c, "ec2", func(cfg aws.Config) *ec2.Client { return ec2.NewFromConfig(cfg) })
}

// CloudWatch returns the CloudWatch client, speaking awsQuery (see
// CloudWatchQueryProtocol).
func (c *Clients) CloudWatch() *cloudwatch.Client {
	return Memo(c, "cloudwatch", func(cfg aws.Config) *cloudwatch.Client {
		return cloudwatch.NewFromConfig(cfg, CloudWatchQueryProtocol)
	})
}

// CloudWatchQueryProtocol makes a CloudWatch client speak the awsQuery
// protocol. The SDK defaults to Smithy RPC v2 CBOR, which moto_server (5.2)
// answers with 404; CloudWatch serves awsQuery for every operation, so
// production and the emulator tests use the same wire protocol.
func CloudWatchQueryProtocol(o *cloudwatch.Options) {
	o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
}

// KMS returns the KMS client.
func (c *Clients) KMS() *kms.Client {
	return Memo(c, "kms", func(cfg aws.Config) *kms.Client { return kms.NewFromConfig(cfg) })
}

// SNS returns the SNS client.
func (c *Clients) SNS() *sns.Client {
	return Memo(c, "sns", func(cfg aws.Config) *sns.Client { return sns.NewFromConfig(cfg) })
}

// Organizations returns the AWS Organizations client.
func (c *Clients) Organizations() *organizations.Client {
	return Memo(c, "organizations", func(cfg aws.Config) *organizations.Client { return organizations.NewFromConfig(cfg) })
}

// STS returns the STS client.
func (c *Clients) STS() *sts.Client {
	return Memo(c, "sts", func(cfg aws.Config) *sts.Client { return sts.NewFromConfig(cfg) })
}

// OwnAccount returns a function that tells the account of the credentials:
// from the invoked function's ARN inside Lambda (no API call), otherwise
// from STS GetCallerIdentity, asked once (a failure is not remembered, so
// the next event asks again).
func OwnAccount(c *Clients) func(ctx context.Context) (string, error) {
	var mu sync.Mutex
	var account string
	return func(ctx context.Context) (string, error) {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			if a, err := arn.Parse(lc.InvokedFunctionArn); err == nil && a.AccountID != "" {
				return a.AccountID, nil
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if account != "" {
			return account, nil
		}
		out, err := c.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", fmt.Errorf("calling STS GetCallerIdentity: %w", err)
		}
		account = aws.ToString(out.Account)
		return account, nil
	}
}
