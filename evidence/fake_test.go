package evidence

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/smithy-go"
)

// fakeConfig is AWS Config in one region: recorders, configuration items by
// "type/id", and rule evaluations. It checks the requests it receives
// against the API's documented limits.
type fakeConfig struct {
	t            *testing.T
	region       string
	recorders    []cstypes.ConfigurationRecorder
	status       []cstypes.ConfigurationRecorderStatus
	items        map[string][]cstypes.ConfigurationItem
	evals        map[string][]cstypes.EvaluationResult
	historyCalls []configservice.GetResourceConfigHistoryInput
	// requireSpan refuses a history call without earlierTime, as Config
	// might under its seven-day limit.
	requireSpan bool
}

func (f *fakeConfig) DescribeConfigurationRecorders(context.Context, *configservice.DescribeConfigurationRecordersInput, ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecordersOutput, error) {
	return &configservice.DescribeConfigurationRecordersOutput{ConfigurationRecorders: f.recorders}, nil
}

func (f *fakeConfig) DescribeConfigurationRecorderStatus(context.Context, *configservice.DescribeConfigurationRecorderStatusInput, ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecorderStatusOutput, error) {
	return &configservice.DescribeConfigurationRecorderStatusOutput{ConfigurationRecordersStatus: f.status}, nil
}

func (f *fakeConfig) GetResourceConfigHistory(_ context.Context, in *configservice.GetResourceConfigHistoryInput, _ ...func(*configservice.Options)) (*configservice.GetResourceConfigHistoryOutput, error) {
	f.historyCalls = append(f.historyCalls, *in)
	if in.EarlierTime != nil && in.LaterTime != nil && in.LaterTime.Sub(*in.EarlierTime) > 7*24*time.Hour {
		f.t.Errorf("GetResourceConfigHistory spans %s, more than AWS's seven days", in.LaterTime.Sub(*in.EarlierTime))
	}
	if f.requireSpan && in.EarlierTime == nil {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "The time range must not exceed seven days."}
	}
	if in.Limit > 100 {
		f.t.Errorf("GetResourceConfigHistory limit %d > 100", in.Limit)
	}
	if in.ResourceType == ComplianceType && !validComplianceID(aws.ToString(in.ResourceId)) {
		f.t.Errorf("ResourceCompliance id %q is not <type>/<id>", aws.ToString(in.ResourceId))
	}
	all, ok := f.items[string(in.ResourceType)+"/"+aws.ToString(in.ResourceId)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ResourceNotDiscoveredException", Message: fmt.Sprintf("Resource %s of resourceType:%s is unknown or has not been discovered", aws.ToString(in.ResourceId), in.ResourceType)}
	}
	var sel []cstypes.ConfigurationItem
	for _, it := range all {
		t := aws.ToTime(it.ConfigurationItemCaptureTime)
		if (in.EarlierTime == nil || !t.Before(*in.EarlierTime)) && (in.LaterTime == nil || !t.After(*in.LaterTime)) {
			sel = append(sel, it)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool {
		a, b := aws.ToTime(sel[i].ConfigurationItemCaptureTime), aws.ToTime(sel[j].ConfigurationItemCaptureTime)
		if in.ChronologicalOrder == cstypes.ChronologicalOrderForward {
			return a.Before(b)
		}
		return a.After(b) // Config's default order is newest first
	})
	// Pages of at most two items (or the limit), to exercise NextToken.
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(aws.ToString(in.NextToken))
	}
	size := 2
	if in.Limit > 0 && int(in.Limit) < size {
		size = int(in.Limit)
	}
	end := min(start+size, len(sel))
	out := &configservice.GetResourceConfigHistoryOutput{ConfigurationItems: sel[start:end]}
	if end < len(sel) && in.Limit != 1 {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeConfig) GetComplianceDetailsByConfigRule(_ context.Context, in *configservice.GetComplianceDetailsByConfigRuleInput, _ ...func(*configservice.Options)) (*configservice.GetComplianceDetailsByConfigRuleOutput, error) {
	ev, ok := f.evals[aws.ToString(in.ConfigRuleName)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchConfigRuleException", Message: "The ConfigRule '" + aws.ToString(in.ConfigRuleName) + "' provided in the request is invalid."}
	}
	return &configservice.GetComplianceDetailsByConfigRuleOutput{EvaluationResults: ev}, nil
}

func validComplianceID(id string) bool {
	for i := 0; i+1 < len(id); i++ {
		if id[i] == '/' {
			return i > 0 && len(id) > i+1 && id[:5] == "AWS::"
		}
	}
	return false
}

// ci is a configuration item of the resource itself.
func ci(typ, id, status string, at time.Time) cstypes.ConfigurationItem {
	return cstypes.ConfigurationItem{ResourceType: cstypes.ResourceType(typ), ResourceId: aws.String(id), ConfigurationItemStatus: cstypes.ConfigurationItemStatus(status),
		ConfigurationItemCaptureTime: aws.Time(at), ConfigurationStateId: aws.String(strconv.FormatInt(at.UnixMilli(), 10))}
}

// compliance is an AWS::Config::ResourceCompliance item in the shape AWS
// documents: resourceId "<type>/<id>", configuration JSON with the overall
// complianceType, the target and configRuleList.
func compliance(typ, id string, at time.Time, rules map[string]string) cstypes.ConfigurationItem {
	type rule struct {
		ConfigRuleArn  string `json:"configRuleArn"`
		ConfigRuleID   string `json:"configRuleId"`
		ConfigRuleName string `json:"configRuleName"`
		ComplianceType string `json:"complianceType"`
	}
	overall := "COMPLIANT"
	var list []rule
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		list = append(list, rule{"arn:aws:config:us-east-1:111122223333:config-rule/config-rule-" + n[:6], "config-rule-" + n[:6], n, rules[n]})
		if rules[n] == "NON_COMPLIANT" {
			overall = "NON_COMPLIANT"
		}
	}
	conf, _ := json.Marshal(map[string]any{"complianceType": overall, "targetResourceId": id, "targetResourceType": typ, "configRuleList": list})
	it := ci(ComplianceType, typ+"/"+id, "OK", at)
	it.Configuration = aws.String(string(conf))
	return it
}

func evaluation(rule, typ, id, compliance string) cstypes.EvaluationResult {
	return cstypes.EvaluationResult{ComplianceType: cstypes.ComplianceType(compliance), EvaluationResultIdentifier: &cstypes.EvaluationResultIdentifier{
		EvaluationResultQualifier: &cstypes.EvaluationResultQualifier{ConfigRuleName: aws.String(rule), ResourceType: aws.String(typ), ResourceId: aws.String(id)}}}
}
