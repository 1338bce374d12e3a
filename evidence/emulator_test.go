package evidence

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
)

// The recorder coverage as moto answers it: an inclusion recording group
// read back, and the recorder stopped then started.
func TestCoverageOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	cs := configservice.NewFromConfig(srv.AWSConfig())
	c := &Collector{Account: "123456789012", Regions: []string{emulator.Region}, Client: func(string) ConfigAPI { return cs }}

	if cov := c.coverage(ctx, emulator.Region); cov.Err != "" || len(cov.Recorders) != 0 || !strings.Contains(cov.Gap(bucket), "no configuration recorder") {
		t.Fatalf("without a recorder: %+v, gap %q", cov, cov.Gap(bucket))
	}
	if _, err := cs.PutConfigurationRecorder(ctx, &configservice.PutConfigurationRecorderInput{ConfigurationRecorder: &cstypes.ConfigurationRecorder{
		Name: aws.String("default"), RoleARN: aws.String("arn:aws:iam::123456789012:role/config"),
		RecordingGroup: &cstypes.RecordingGroup{ResourceTypes: []cstypes.ResourceType{bucket, ComplianceType},
			RecordingStrategy: &cstypes.RecordingStrategy{UseOnly: cstypes.RecordingStrategyTypeInclusionByResourceTypes}}}}); err != nil {
		t.Fatal(err)
	}
	cov := c.coverage(ctx, emulator.Region)
	if cov.Err != "" || len(cov.Recorders) != 1 {
		t.Fatalf("coverage %+v", cov)
	}
	if r := cov.Recorders[0]; r.Strategy != "INCLUSION_BY_RESOURCE_TYPES" || strings.Join(r.Types, ",") != ComplianceType+","+bucket || r.Recording {
		t.Errorf("recorder read back as %+v", r)
	}
	if g := cov.Gap(bucket); !strings.Contains(g, "is stopped") {
		t.Errorf("a recorder never started: gap %q", g)
	}
	if g := cov.Gap(sgType); !strings.Contains(g, "does not record AWS::EC2::SecurityGroup") {
		t.Errorf("a type outside the group: gap %q", g)
	}

	if _, err := cs.PutDeliveryChannel(ctx, &configservice.PutDeliveryChannelInput{DeliveryChannel: &cstypes.DeliveryChannel{Name: aws.String("default"), S3BucketName: aws.String("config-delivery")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.StartConfigurationRecorder(ctx, &configservice.StartConfigurationRecorderInput{ConfigurationRecorderName: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
	cov = c.coverage(ctx, emulator.Region)
	if len(cov.Recorders) != 1 || !cov.Recorders[0].Recording || cov.Recorders[0].LastStart.IsZero() || cov.Gap(bucket) != "" || cov.Gap(ComplianceType) != "" {
		t.Errorf("started recorder: %+v, gap %q", cov, cov.Gap(bucket))
	}
}
