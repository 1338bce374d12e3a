package report

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/credentials"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
)

// seedFindings builds n findings covering every severity, mapped controls,
// a control missing from the mapping, findings without a control ID, and
// archived, suppressed and passed ones that must not be counted.
func seedFindings(n int) []shtypes.AwsSecurityFinding {
	controls := []string{"S3.8", "EC2.8", "IAM.5", "GuardDuty.1", "EC2.7", "SageMaker.1", ""}
	var out []shtypes.AwsSecurityFinding
	base := time.Now().UTC().Add(-48 * time.Hour).Format(time.RFC3339)
	for i := 0; i < n; i++ {
		ctl := controls[i%len(controls)]
		f := shtypes.AwsSecurityFinding{
			SchemaVersion: aws.String("2018-10-08"),
			Id:            aws.String(fmt.Sprintf("finding-%03d", i)),
			ProductArn:    aws.String("arn:aws:securityhub:us-east-1::product/aws/securityhub"),
			GeneratorId:   aws.String("security-control/" + ctl),
			AwsAccountId:  aws.String(emulator.Account),
			Region:        aws.String(emulator.Region),
			Types:         []string{"Software and Configuration Checks"},
			CreatedAt:     aws.String(base), UpdatedAt: aws.String(base), FirstObservedAt: aws.String(base), LastObservedAt: aws.String(base),
			Severity:    &shtypes.Severity{Label: shtypes.SeverityLabel(Severities()[i%5])},
			Title:       aws.String("finding " + ctl),
			Description: aws.String("seeded"),
			Resources:   []shtypes.Resource{{Type: aws.String("AwsS3Bucket"), Id: aws.String(fmt.Sprintf("arn:aws:s3:::bucket-%d", i%40))}},
			Compliance:  &shtypes.Compliance{Status: shtypes.ComplianceStatusFailed, SecurityControlId: aws.String(ctl)},
			Workflow:    &shtypes.Workflow{Status: shtypes.WorkflowStatusNew},
			RecordState: shtypes.RecordStateActive,
		}
		if ctl == "" { // e.g. a GuardDuty finding: no control at all
			f.GeneratorId = aws.String("arn:aws:guardduty:us-east-1:123456789012:detector/d1")
			f.Compliance = &shtypes.Compliance{Status: shtypes.ComplianceStatusFailed}
		}
		switch {
		case i%10 == 3:
			f.RecordState = shtypes.RecordStateArchived
		case i%13 == 5:
			f.Workflow.Status = shtypes.WorkflowStatusSuppressed
		case i%17 == 6:
			f.Compliance.Status = shtypes.ComplianceStatusPassed
		}
		out = append(out, f)
	}
	return out
}

// On moto: GetFindings ignores the filter (it returns archived, suppressed
// and passed findings too), so this test also proves the client-side check
// that keeps them out of the report; on AWS the filter already does.
func TestReportOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	ctx := context.Background()
	cfg := srv.AWSConfig()
	hub := securityhub.NewFromConfig(cfg)
	if _, err := hub.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
		t.Fatalf("enabling Security Hub: %v", err)
	}
	seed := seedFindings(130) // more than one page of 100
	for i := 0; i < len(seed); i += 100 {
		out, err := hub.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: seed[i:min(i+100, len(seed))]})
		if err != nil || aws.ToInt32(out.FailedCount) != 0 {
			t.Fatalf("importing findings: %v %+v", err, out)
		}
	}

	// Remediation activity, published by the pipeline's own publisher.
	cw := cloudwatch.NewFromConfig(cfg, app.CloudWatchQueryProtocol) // moto speaks awsQuery, not CBOR
	pub := &publish.OutcomePublisher{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Namespace: "AutoRemediation",
		Metrics: func() publish.MetricsAPI { return cw }}
	now := time.Now().UTC()
	published := map[string]map[remediation.Action]int{}
	byAccount := map[string]map[remediation.Action]int{}
	for i, o := range []struct {
		rem, account string
		action       remediation.Action
	}{
		{"s3-public-access-block", "111111111111", remediation.ActionRemediated}, {"s3-public-access-block", "222222222222", remediation.ActionRemediated},
		{"s3-public-access-block", "222222222222", remediation.ActionFailed}, {"ec2-imdsv2", "111111111111", remediation.ActionDeferred},
		{"ebs-encryption", "333333333333", remediation.ActionNeedsManual}, {"ebs-encryption", "111111111111", remediation.ActionRemediated},
		// Key deactivation by `report credentials`, in the current minute
		// (i == 6 below): the report run right after must count it.
		{credentials.Remediator, emulator.Account, remediation.ActionRemediated},
		// Not counted by account: only the AccountActions are.
		{"s3-encryption", "333333333333", remediation.ActionCompliant},
	} {
		out := remediation.Outcome{Remediator: o.rem, Account: o.account, Action: o.action, CompletedAt: now.Add(-time.Duration(i+1) * time.Minute)}
		if o.rem == credentials.Remediator {
			out.CompletedAt = now
		}
		out.DetectedAt = out.CompletedAt.Add(-time.Duration(2+i) * time.Second)
		if err := pub.Publish(ctx, out); err != nil {
			t.Fatal(err)
		}
		if published[o.rem] == nil {
			published[o.rem] = map[remediation.Action]int{}
		}
		published[o.rem][o.action]++
		if o.action != remediation.ActionCompliant {
			if byAccount[o.account] == nil {
				byAccount[o.account] = map[remediation.Action]int{}
			}
			byAccount[o.account][o.action]++
		}
	}

	m, err := DefaultMapping()
	if err != nil {
		t.Fatal(err)
	}
	gen := &Generator{
		Findings: func(string) SecurityHubAPI { return hub }, Regions: []string{emulator.Region},
		// moto answers the p50 statistic with a server error: one attempt
		// is enough to see the median reported as unavailable.
		Metrics:   cloudwatch.NewFromConfig(cfg, app.CloudWatchQueryProtocol, func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 }),
		Namespace: "AutoRemediation", Remediators: ActivityRemediators(), Period: time.Hour, Mapping: m,
		Now: func() time.Time { return now },
	}
	r, err := gen.Generate(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Expectations from the seed itself.
	wantSev := map[string]int{}
	wantIDs := map[string]bool{}
	archived, suppressed, passed, noControl := 0, 0, 0, 0
	for _, f := range seed {
		switch {
		case f.RecordState == shtypes.RecordStateArchived:
			archived++
			continue
		case f.Workflow.Status == shtypes.WorkflowStatusSuppressed:
			suppressed++
			continue
		case f.Compliance.Status != shtypes.ComplianceStatusFailed:
			passed++
			continue
		}
		wantSev[string(f.Severity.Label)]++
		wantIDs[aws.ToString(f.Id)] = true
		if aws.ToString(f.Compliance.SecurityControlId) == "" {
			noControl++
		}
	}
	if r.Total() != len(wantIDs) {
		t.Errorf("report counts %d findings, want %d", r.Total(), len(wantIDs))
	}
	for _, s := range Severities() {
		if r.SeverityCount(s) != wantSev[s] || wantSev[s] == 0 {
			t.Errorf("%s: %d, want %d (and the seed must cover it)", s, r.SeverityCount(s), wantSev[s])
		}
	}
	if e := r.Meta.Excluded; e.Archived != archived || e.Suppressed != suppressed || e.NotFailed != passed {
		t.Errorf("excluded %+v, want archived %d suppressed %d passed %d", e, archived, suppressed, passed)
	}
	if r.NoControlID != noControl || noControl == 0 {
		t.Errorf("%d findings without control ID, want %d", r.NoControlID, noControl)
	}
	rows := readCSV(t, r.CSV())
	if len(rows) != len(wantIDs) {
		t.Errorf("%d CSV rows, want %d", len(rows), len(wantIDs))
	}
	mapping := independentMapping(t)
	for _, row := range rows {
		if !wantIDs[row["finding_id"]] {
			t.Errorf("CSV lists %s, which is archived, suppressed or passed", row["finding_id"])
		}
		want, ok := mapping[row["control_id"]]
		if !ok {
			want = "unmapped"
		}
		if sortedList(row["soc2_criteria"]) != want {
			t.Errorf("%s %s: criteria %q, want %q", row["finding_id"], row["control_id"], row["soc2_criteria"], want)
		}
	}

	if r.Activity.Err != "" {
		t.Fatalf("activity: %s", r.Activity.Err)
	}
	if r.Activity.P50Note == "" {
		t.Log("the emulator returned p50 statistics (moto 5.2 does not); the median is checked only on AWS")
	}
	reported := map[string]bool{}
	for _, ra := range r.Activity.Remediators {
		reported[ra.Remediator] = true
		for _, a := range ActivityActions() {
			if ra.Counts[a] != published[ra.Remediator][a] {
				t.Errorf("%s %s: %d, want %d", ra.Remediator, a, ra.Counts[a], published[ra.Remediator][a])
			}
		}
		if published[ra.Remediator][remediation.ActionRemediated] > 0 && !ra.HasAverage {
			t.Errorf("%s: no average time to remediate", ra.Remediator)
		}
	}

	for rem := range published {
		if !reported[rem] {
			t.Errorf("%s published outcomes but is not in the activity section", rem)
		}
	}
	// By account, through ListMetrics and GetMetricData on the emulator.
	if r.Activity.AccountsErr != "" {
		t.Fatalf("activity by account: %s", r.Activity.AccountsErr)
	}
	gotByAccount := map[string]map[remediation.Action]int{}
	for _, aa := range r.Activity.Accounts {
		gotByAccount[aa.Account] = aa.Counts
	}
	if fmt.Sprint(gotByAccount) != fmt.Sprint(byAccount) {
		t.Errorf("activity by account %v, want %v", gotByAccount, byAccount)
	}

	t.Run("publish to S3 and SNS", func(t *testing.T) {
		s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
		snsc, sqsc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("reports")}); err != nil {
			t.Fatal(err)
		}
		topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("reports")})
		if err != nil {
			t.Fatal(err)
		}
		q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("reports")})
		if err != nil {
			t.Fatal(err)
		}
		qARN := "arn:aws:sqs:" + emulator.Region + ":" + emulator.Account + ":reports"
		if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qARN),
			Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
			t.Fatal(err)
		}
		p := &Publisher{S3: s3c, SNS: snsc, Bucket: "reports", Prefix: "soc2-reports", TopicARN: aws.ToString(topic.TopicArn), Region: emulator.Region}
		d, err := Run(ctx, gen, p)
		if err != nil {
			t.Fatal(err)
		}
		dir := "soc2-reports/" + now.Format("2006-01-02") + "/"
		for _, name := range FileNames() {
			obj, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("reports"), Key: aws.String(dir + name)})
			if err != nil {
				t.Fatalf("%s not written: %v", dir+name, err)
			}
			body, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if len(body) == 0 {
				t.Errorf("%s is empty", name)
			}
		}
		if len(d.Objects) != len(FileNames()) || !d.Notified || d.Total != len(wantIDs) || d.Accounts != len(r.ByAccount) {
			t.Errorf("delivery %+v", d)
		}
		msgs, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
		if err != nil || len(msgs.Messages) != 1 {
			t.Fatalf("SNS summary not delivered: %v %d", err, len(msgs.Messages))
		}
		body := aws.ToString(msgs.Messages[0].Body)
		for _, want := range []string{fmt.Sprintf("Active failed findings: %d", len(wantIDs)), fmt.Sprintf("CRITICAL      %d", wantSev["CRITICAL"]), "s3://reports/" + dir + FileHTML,
			"https://us-east-1.console.aws.amazon.com/s3/object/reports?region=us-east-1&prefix=" + strings.ReplaceAll(dir, "/", "%2F") + FileHTML} {
			if !strings.Contains(body, want) {
				t.Errorf("summary lacks %q:\n%s", want, body)
			}
		}
	})
}
