package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/remediation"
)

// remediate undo end to end on the emulator, as a user runs it: the
// outcomes of `sweep --output json` piped into undo, and the outcome as an
// SQS subscriber of the SNS topic received it.
func TestUndoCommandOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
		env[k] = v
	}
	ctx := context.Background()
	cfg := srv.AWSConfig()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)

	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("outcomes")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("outcomes")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}); err != nil {
		t.Fatal(err)
	}
	env["SNS_TOPIC_ARN"] = aws.ToString(topic.TopicArn)
	env["METRICS_MODE"] = "off"

	bucket := "cli-undo-bucket"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	pab := func() *s3types.PublicAccessBlockConfiguration {
		out, err := s3c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String(bucket)})
		if err != nil {
			return nil
		}
		return out.PublicAccessBlockConfiguration
	}
	sweep := func() string {
		t.Helper()
		c, stdout, stderr := testCLI("", env)
		if code := run(ctx, []string{"sweep", "--output", "json", "--only", "s3-public-access-block"}, c); code != exitOK {
			t.Fatalf("sweep: exit %d\n%s", code, stderr.String())
		}
		if pab() == nil {
			t.Fatal("the sweep did not fix the bucket")
		}
		return stdout.String()
	}
	undo := func(input string, flags ...string) (int, []remediation.Outcome, string) {
		t.Helper()
		c, stdout, stderr := testCLI(input, env)
		code := run(ctx, append([]string{"undo", "--outcome", "-"}, flags...), c)
		var outs []remediation.Outcome
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			var o remediation.Outcome
			if l != "" && json.Unmarshal([]byte(l), &o) == nil {
				outs = append(outs, o)
			}
		}
		return code, outs, stderr.String()
	}

	// The sweep's JSON lines, piped in.
	swept := sweep()
	code, outs, stderr := undo(swept, "--dry-run")
	if code != exitOK || len(outs) != 1 || outs[0].Action != remediation.ActionDryRun || pab() == nil {
		t.Fatalf("undo --dry-run: exit %d, outcomes %+v, bucket %+v\n%s", code, outs, pab(), stderr)
	}
	code, outs, stderr = undo(swept)
	if code != exitOK || len(outs) != 1 || outs[0].Action != remediation.ActionReverted || outs[0].Trigger != remediation.TriggerUndo ||
		!strings.HasPrefix(outs[0].EventID, "undo-") || outs[0].Actor == "" {
		t.Fatalf("undo: exit %d, outcomes %+v\n%s", code, outs, stderr)
	}
	if got := pab(); got != nil {
		t.Fatalf("after undo the bucket has %+v, want no configuration as before", got)
	}
	if !strings.Contains(stderr, "tag it auto-remediation=off") {
		t.Errorf("no note that the pipeline fixes it again: %q", stderr)
	}

	// The fix again, as an SQS subscriber of the topic received it; the
	// bucket changed since: refused (exit 1), then forced.
	drain(t, sqsc, q.QueueUrl)
	sweep()
	msgs := drain(t, sqsc, q.QueueUrl)
	var received []map[string]any
	for _, m := range msgs {
		if strings.Contains(aws.ToString(m.Body), `\"action\":\"remediated\"`) {
			received = append(received, map[string]any{"MessageId": aws.ToString(m.MessageId), "Body": aws.ToString(m.Body)})
		}
	}
	if len(received) != 1 {
		t.Fatalf("%d remediated notifications in the queue, want 1: %+v", len(received), msgs)
	}
	answer, _ := json.Marshal(map[string]any{"Messages": received})
	if _, err := s3c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(bucket),
		PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true),
			BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	code, outs, stderr = undo(string(answer))
	if code != exitFailed || len(outs) != 1 || outs[0].Action != remediation.ActionNeedsManual || pab() == nil || aws.ToBool(pab().RestrictPublicBuckets) {
		t.Fatalf("undo of a changed bucket: exit %d, outcomes %+v, bucket %+v\n%s", code, outs, pab(), stderr)
	}
	code, outs, stderr = undo(string(answer), "--force")
	if code != exitOK || len(outs) != 1 || outs[0].Action != remediation.ActionReverted || pab() != nil {
		t.Fatalf("undo --force: exit %d, outcomes %+v, bucket %+v\n%s", code, outs, pab(), stderr)
	}
	// The undo itself was published like any outcome.
	var published bool
	for _, m := range drain(t, sqsc, q.QueueUrl) {
		published = published || strings.Contains(aws.ToString(m.Body), `\"action\":\"reverted\"`)
	}
	if !published {
		t.Error("no reverted outcome reached the topic's subscriber")
	}
}

// drain receives and deletes every message the queue has now.
func drain(t *testing.T, c *sqs.Client, url *string) []sqstypes.Message {
	t.Helper()
	var all []sqstypes.Message
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 && len(all) > 0 {
			break
		}
		for _, m := range out.Messages {
			all = append(all, m)
			if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		if len(out.Messages) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return all
}
