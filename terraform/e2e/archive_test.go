package e2e

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// checkArchive: with archive_enabled, the archive bucket has Object Lock
// with the variables' default retention, the topic has the Firehose
// subscription with raw message delivery, the outcomes-only filter and its
// role, and the stream writes GZIP to the archive's date prefix in that
// bucket with a newline after each record.
func (d *deployment) checkArchive() {
	bucket := d.output("archive_bucket")
	if !d.in.boolean("archive_enabled") {
		if bucket != "" {
			d.t.Errorf("archive_enabled is false but archive_bucket is %q", bucket)
		}
		return
	}
	s := s3.NewFromConfig(d.srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	lock, err := s.GetObjectLockConfiguration(d.ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	d.must("the archive bucket's Object Lock configuration", err)
	if c := lock.ObjectLockConfiguration; c == nil || c.ObjectLockEnabled != "Enabled" || c.Rule == nil || c.Rule.DefaultRetention == nil ||
		string(c.Rule.DefaultRetention.Mode) != d.in.str("archive_object_lock_mode") ||
		aws.ToInt32(c.Rule.DefaultRetention.Days) != int32(d.in.num("archive_retention_days")) {
		d.t.Errorf("archive bucket %s: Object Lock %+v, want %s for %d days", bucket, c, d.in.str("archive_object_lock_mode"), d.in.num("archive_retention_days"))
	}

	stream := d.output("archive_delivery_stream_arn")
	subs, err := sns.NewFromConfig(d.srv.AWSConfig()).ListSubscriptionsByTopic(d.ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(d.topicArn)})
	d.must("the topic's subscriptions", err)
	found := false
	for _, sub := range subs.Subscriptions {
		if aws.ToString(sub.Endpoint) != stream {
			continue
		}
		found = true
		attrs, err := sns.NewFromConfig(d.srv.AWSConfig()).GetSubscriptionAttributes(d.ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: sub.SubscriptionArn})
		d.must("the archive subscription's attributes", err)
		a := attrs.Attributes
		if aws.ToString(sub.Protocol) != "firehose" || a["RawMessageDelivery"] != "true" || a["FilterPolicyScope"] != "MessageAttributes" ||
			!strings.Contains(a["SubscriptionRoleArn"], "-archive-subscription") {
			d.t.Errorf("archive subscription: protocol %s, attributes %v", aws.ToString(sub.Protocol), a)
		}
		var filter map[string]any
		if err := json.Unmarshal([]byte(a["FilterPolicy"]), &filter); err != nil || filter["remediator"] == nil {
			d.t.Errorf("archive subscription filter policy %q, want outcomes only (remediator exists)", a["FilterPolicy"])
		}
	}
	if !found {
		d.t.Errorf("no subscription of the topic delivers to the archive's stream %s", stream)
	}

	var desc struct {
		DeliveryStreamDescription struct {
			Destinations []struct {
				ExtendedS3DestinationDescription struct {
					BucketARN, Prefix, ErrorOutputPrefix, CompressionFormat string
					ProcessingConfiguration                                 struct {
						Enabled    bool
						Processors []struct{ Type string }
					}
				}
			}
		}
	}
	name := stream[strings.LastIndex(stream, "/")+1:]
	d.must("the archive's delivery stream", d.raw.target(d.ctx, "firehose", "Firehose_20150804.DescribeDeliveryStream", map[string]string{"DeliveryStreamName": name}, &desc))
	dests := desc.DeliveryStreamDescription.Destinations
	if len(dests) != 1 {
		d.t.Fatalf("delivery stream %s: %d destinations", name, len(dests))
	}
	e := dests[0].ExtendedS3DestinationDescription
	if e.BucketARN != "arn:aws:s3:::"+bucket || e.Prefix != "outcomes/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/" ||
		!strings.HasPrefix(e.ErrorOutputPrefix, "errors/") || e.CompressionFormat != "GZIP" {
		d.t.Errorf("delivery stream %s: destination %+v", name, e)
	}
	if p := e.ProcessingConfiguration; !p.Enabled || len(p.Processors) != 1 || p.Processors[0].Type != "AppendDelimiterToRecord" {
		d.t.Errorf("delivery stream %s: processing %+v, want AppendDelimiterToRecord", name, p)
	}
}
