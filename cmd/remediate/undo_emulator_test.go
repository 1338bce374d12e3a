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
	// The bucket was exempted before the revert's write, so the
	// pipeline leaves it as restored: the CloudTrail record of that write
	// (DeleteBucketPublicAccessBlock, by the undo's caller) and the sweep
	// both find it exempt.
	tags := bucketTags(t, s3c, bucket)
	if tags["auto-remediation"] != "off" || tags["autoremediate:reverted-at"] == "" {
		t.Fatalf("after undo the bucket's tags are %v, want auto-remediation=off and autoremediate:reverted-at", tags)
	}
	if et, _ := outs[0].After[remediation.ExemptTagsKey].(map[string]any); et["auto-remediation"] != "off" ||
		!strings.Contains(outs[0].Reason, `tagged bucket "`+bucket+`" auto-remediation=off`) {
		t.Errorf("the outcome does not say the bucket was tagged: after %v, reason %q", outs[0].After, outs[0].Reason)
	}
	if !strings.Contains(stderr, "1 reverted resource(s) tagged auto-remediation=off") || !strings.Contains(stderr, "remove the tag to hand one back") {
		t.Errorf("no note that the bucket was tagged: %q", stderr)
	}
	invoke := func(event string) remediation.Outcome {
		t.Helper()
		c, stdout, stderr := testCLI(event, env)
		if code := run(ctx, []string{"invoke", "--event", "-"}, c); code != exitOK {
			t.Fatalf("invoke: exit %d\n%s", code, stderr.String())
		}
		var o remediation.Outcome
		if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
			t.Fatalf("invoke stdout %q: %v", stdout.String(), err)
		}
		return o
	}
	if o := invoke(deletePublicAccessBlockEvent(bucket, outs[0].Actor)); o.Action != remediation.ActionExempt || o.Trigger != remediation.TriggerCloudTrail {
		t.Errorf("the CloudTrail record of the undo's write: %s (%s) %q, want exempt", o.Action, o.Trigger, o.Reason)
	}
	c, stdout, sweepErr := testCLI("", env)
	if code := run(ctx, []string{"sweep", "--output", "json", "--only", "s3-public-access-block"}, c); code != exitOK ||
		!strings.Contains(stdout.String(), `"action":"exempt"`) || pab() != nil {
		t.Fatalf("sweep after undo: exit %d, bucket %+v, outcomes %s\n%s", code, pab(), stdout.String(), sweepErr.String())
	}
	// Handing it back: without the tag the pipeline fixes it again.
	if _, err := s3c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
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
	if _, ok := bucketTags(t, s3c, bucket)["auto-remediation"]; ok {
		t.Error("a refused undo tagged the bucket")
	}
	code, outs, stderr = undo(string(answer), "--force", "--no-exempt")
	if code != exitOK || len(outs) != 1 || outs[0].Action != remediation.ActionReverted || pab() != nil {
		t.Fatalf("undo --force --no-exempt: exit %d, outcomes %+v, bucket %+v\n%s", code, outs, pab(), stderr)
	}
	if _, ok := bucketTags(t, s3c, bucket)["auto-remediation"]; ok || outs[0].After[remediation.ExemptTagsKey] != nil {
		t.Errorf("--no-exempt tagged the bucket: %v", outs[0].After)
	}
	if !strings.Contains(stderr, "not tagged (--no-exempt): the pipeline fixes them again") {
		t.Errorf("no note that the pipeline fixes it again: %q", stderr)
	}
	if o := invoke(deletePublicAccessBlockEvent(bucket, outs[0].Actor)); o.Action != remediation.ActionRemediated || pab() == nil {
		t.Errorf("after undo --no-exempt the CloudTrail record gives %s %q, want remediated", o.Action, o.Reason)
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

// bucketTags reads a bucket's tags; none when it has no tag set.
func bucketTags(t *testing.T, c *s3.Client, bucket string) map[string]string {
	t.Helper()
	out, err := c.GetBucketTagging(context.Background(), &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	tags := map[string]string{}
	if err != nil {
		if strings.Contains(err.Error(), "NoSuchTagSet") {
			return tags
		}
		t.Fatalf("reading tags of %s: %v", bucket, err)
	}
	for _, tg := range out.TagSet {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return tags
}

// deletePublicAccessBlockEvent is the EventBridge event of CloudTrail's
// record of DeletePublicAccessBlock on bucket by actor: what the undo's own
// write sends the pipeline.
func deletePublicAccessBlockEvent(bucket, actor string) string {
	ev := map[string]any{
		"version": "0", "id": "ct-undo-1", "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3",
		"account": "123456789012", "time": time.Now().UTC().Format(time.RFC3339), "region": "us-east-1", "resources": []any{},
		"detail": map[string]any{
			"eventVersion": "1.09", "eventSource": "s3.amazonaws.com", "eventName": "DeleteBucketPublicAccessBlock", "awsRegion": "us-east-1",
			"userIdentity":      map[string]any{"type": "IAMUser", "arn": actor, "accountId": "123456789012"},
			"eventTime":         time.Now().UTC().Format(time.RFC3339),
			"requestParameters": map[string]any{"publicAccessBlock": "", "bucketName": bucket},
			"eventID":           "3f9a2b1c-8d7e-4f60-a5b4-00000000undo", "readOnly": false, "eventType": "AwsApiCall",
			"managementEvent": true, "recipientAccountId": "123456789012", "eventCategory": "Management",
		},
	}
	b, _ := json.Marshal(ev)
	return string(b)
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
