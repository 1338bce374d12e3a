package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/smithy-go"
)

// ConfigAPI is what the collector asks AWS Config, in one region.
type ConfigAPI interface {
	DescribeConfigurationRecorders(ctx context.Context, params *configservice.DescribeConfigurationRecordersInput, optFns ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecordersOutput, error)
	DescribeConfigurationRecorderStatus(ctx context.Context, params *configservice.DescribeConfigurationRecorderStatusInput, optFns ...func(*configservice.Options)) (*configservice.DescribeConfigurationRecorderStatusOutput, error)
	GetResourceConfigHistory(ctx context.Context, params *configservice.GetResourceConfigHistoryInput, optFns ...func(*configservice.Options)) (*configservice.GetResourceConfigHistoryOutput, error)
	GetComplianceDetailsByConfigRule(ctx context.Context, params *configservice.GetComplianceDetailsByConfigRuleInput, optFns ...func(*configservice.Options)) (*configservice.GetComplianceDetailsByConfigRuleOutput, error)
}

// ComplianceType is the resource type under which AWS Config keeps a
// resource's compliance history; its items' resourceId is
// "<resource type>/<resource id>".
const ComplianceType = "AWS::Config::ResourceCompliance"

// historyWindow is the longest span GetResourceConfigHistory accepts in one
// call (earlierTime to laterTime): AWS documents a limit of seven days.
const historyWindow = 7 * 24 * time.Hour

// globalTypes are the IAM types that a recorder recording all supported
// types records only with includeGlobalResourceTypes.
var globalTypes = []string{"AWS::IAM::Group", "AWS::IAM::Policy", "AWS::IAM::Role", "AWS::IAM::User"}

// Recorder is one configuration recorder of a region and its status.
type Recorder struct {
	Name string
	// Strategy is ALL_SUPPORTED_RESOURCE_TYPES, INCLUSION_BY_RESOURCE_TYPES
	// or EXCLUSION_BY_RESOURCE_TYPES.
	Strategy      string
	IncludeGlobal bool
	// Types are the types included or excluded, per Strategy.
	Types      []string
	Recording  bool
	LastStatus string
	// LastError is the last recording error's code and message, if any.
	LastError string
	LastStart time.Time
	LastStop  time.Time
}

// Records says whether the recorder's recording group covers the type.
func (r Recorder) Records(resourceType string) bool {
	switch r.Strategy {
	case string(cstypes.RecordingStrategyTypeInclusionByResourceTypes):
		return slices.Contains(r.Types, resourceType)
	case string(cstypes.RecordingStrategyTypeExclusionByResourceTypes):
		return !slices.Contains(r.Types, resourceType)
	default:
		return r.IncludeGlobal || !slices.Contains(globalTypes, resourceType)
	}
}

// Coverage is what AWS Config records in one region.
type Coverage struct {
	Region    string
	Recorders []Recorder
	// Err is why the recorders could not be read ("" when they were).
	Err string
}

// Gap returns why the region's Config history of resourceType is missing
// or incomplete, "" when a recording recorder covers it.
func (c Coverage) Gap(resourceType string) string {
	switch {
	case c.Err != "":
		return fmt.Sprintf("AWS Config's recorders in %s could not be read: %s", c.Region, c.Err)
	case len(c.Recorders) == 0:
		return fmt.Sprintf("AWS Config has no configuration recorder in %s: nothing is recorded there", c.Region)
	}
	covered := false
	for _, r := range c.Recorders {
		if r.Records(resourceType) {
			covered = true
			if r.Recording {
				return ""
			}
		}
	}
	if !covered {
		return fmt.Sprintf("AWS Config does not record %s in %s (not in the recording group)", resourceType, c.Region)
	}
	stop := ""
	for _, r := range c.Recorders {
		if !r.LastStop.IsZero() {
			stop = " since " + r.LastStop.UTC().Format(time.RFC3339)
		}
	}
	return fmt.Sprintf("AWS Config's recorder in %s is stopped%s: %s is not being recorded", c.Region, stop, resourceType)
}

// PeriodNotes say where a recorder's last start, stop or failure leaves a
// gap in [from, to]. Config keeps only the last start and stop, so an
// earlier stop and start within the period cannot be seen.
func (c Coverage) PeriodNotes(from, to time.Time) []string {
	var out []string
	in := func(t time.Time) bool { return !t.IsZero() && t.After(from) && !t.After(to) }
	for _, r := range c.Recorders {
		who := fmt.Sprintf("AWS Config's recorder %s in %s", r.Name, c.Region)
		switch {
		case in(r.LastStop) && r.LastStart.After(r.LastStop):
			out = append(out, fmt.Sprintf("%s was not recording from %s to %s", who, stamp(r.LastStop), stamp(r.LastStart)))
		case in(r.LastStop):
			out = append(out, fmt.Sprintf("%s stopped at %s and has not recorded since", who, stamp(r.LastStop)))
		case in(r.LastStart):
			out = append(out, fmt.Sprintf("%s started recording at %s: it may not have been recording before then in the period", who, stamp(r.LastStart)))
		}
		if r.LastStatus == string(cstypes.RecorderStatusFailure) {
			out = append(out, fmt.Sprintf("%s reports that its last recording failed (%s)", who, orNone(r.LastError)))
		}
	}
	return out
}

// ComplianceItem is one AWS::Config::ResourceCompliance configuration item:
// the resource's compliance with each rule from its capture time on.
type ComplianceItem struct {
	Time time.Time
	// Status is the item's configurationItemStatus.
	Status string
	// Rules maps a rule name to COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE or
	// INSUFFICIENT_DATA (configRuleList[].complianceType).
	Rules map[string]string
	// Err says why the item's configuration could not be read.
	Err string
}

// ConfigItem is one configuration item of the resource itself.
type ConfigItem struct {
	Time   time.Time
	Status string
}

// History is what AWS Config holds about one resource.
type History struct {
	// Compliance and Configuration are the items captured in the period,
	// oldest first; the Before items are the last ones captured before it
	// (the state at its start), nil when none.
	Compliance          []ComplianceItem
	ComplianceBefore    *ComplianceItem
	Configuration       []ConfigItem
	ConfigurationBefore *ConfigItem
	// ComplianceErr and ConfigurationErr say why a history could not be
	// read ("" when it was, even empty).
	ComplianceErr, ConfigurationErr string
	// NotRead says why Config was not asked at all ("" when it was).
	NotRead string
}

// ConfigData is everything read from AWS Config.
type ConfigData struct {
	Account string
	// Coverage is per region read, in the order of Regions.
	Coverage []Coverage
	// Histories by resource.
	Histories map[Key]*History
	// Evaluated are resources that Config's rules evaluated, found through
	// GetComplianceDetailsByConfigRule, whether or not the archive has them.
	Evaluated []Key
	// Notes are problems not tied to one resource (a rule missing in a
	// region).
	Notes []string
}

// Collector reads AWS Config in the CLI's account and regions.
type Collector struct {
	// Account is the account the credentials belong to: Config is read
	// only for resources of this account.
	Account string
	Regions []string
	// Client returns the Config client of a region.
	Client func(region string) ConfigAPI
	// Progress, when set, receives a line per resource read.
	Progress io.Writer
}

// Collect reads the regions' recorders, the resources that the rules
// evaluated (rules: --rule, or the rules the archive names), and the
// compliance and configuration histories of those and of keys, over
// [from, to].
func (c *Collector) Collect(ctx context.Context, from, to time.Time, keys []Key, rules []string, f Filter) (*ConfigData, error) {
	d := &ConfigData{Account: c.Account, Histories: map[Key]*History{}}
	for _, region := range c.Regions {
		d.Coverage = append(d.Coverage, c.coverage(ctx, region))
		for _, rule := range rules {
			found, note := c.evaluated(ctx, region, rule, f)
			d.Evaluated = append(d.Evaluated, found...)
			if note != "" {
				d.Notes = append(d.Notes, note)
			}
		}
	}
	all := append(append([]Key(nil), keys...), d.Evaluated...)
	sortKeys(all)
	all = slices.Compact(all)
	for i, k := range all {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.Progress != nil {
			fmt.Fprintf(c.Progress, "evidence: Config history %d/%d: %s %s (%s %s)\n", i+1, len(all), k.Type, k.ID, k.Account, k.Region)
		}
		d.Histories[k] = c.history(ctx, k, from, to)
	}
	return d, nil
}

func (c *Collector) coverage(ctx context.Context, region string) Coverage {
	cov := Coverage{Region: region}
	api := c.Client(region)
	recs, err := api.DescribeConfigurationRecorders(ctx, &configservice.DescribeConfigurationRecordersInput{})
	if err != nil {
		cov.Err = fmt.Sprintf("describing configuration recorders in %s: %v", region, errText(err))
		return cov
	}
	st, err := api.DescribeConfigurationRecorderStatus(ctx, &configservice.DescribeConfigurationRecorderStatusInput{})
	if err != nil {
		cov.Err = fmt.Sprintf("describing configuration recorder status in %s: %v", region, errText(err))
		return cov
	}
	status := map[string]cstypes.ConfigurationRecorderStatus{}
	for _, s := range st.ConfigurationRecordersStatus {
		status[aws.ToString(s.Name)] = s
	}
	for _, r := range recs.ConfigurationRecorders {
		rec := Recorder{Name: aws.ToString(r.Name), Strategy: string(cstypes.RecordingStrategyTypeAllSupportedResourceTypes)}
		if g := r.RecordingGroup; g != nil {
			rec.IncludeGlobal = g.IncludeGlobalResourceTypes
			switch {
			case g.RecordingStrategy != nil && g.RecordingStrategy.UseOnly != "":
				rec.Strategy = string(g.RecordingStrategy.UseOnly)
			case !g.AllSupported && len(g.ResourceTypes) > 0:
				// Before recordingStrategy existed, a list of types
				// without allSupported meant inclusion.
				rec.Strategy = string(cstypes.RecordingStrategyTypeInclusionByResourceTypes)
			}
			switch rec.Strategy {
			case string(cstypes.RecordingStrategyTypeInclusionByResourceTypes):
				for _, t := range g.ResourceTypes {
					rec.Types = append(rec.Types, string(t))
				}
			case string(cstypes.RecordingStrategyTypeExclusionByResourceTypes):
				if g.ExclusionByResourceTypes != nil {
					for _, t := range g.ExclusionByResourceTypes.ResourceTypes {
						rec.Types = append(rec.Types, string(t))
					}
				}
			}
			sort.Strings(rec.Types)
		}
		if s, ok := status[rec.Name]; ok {
			rec.Recording = s.Recording
			rec.LastStatus = string(s.LastStatus)
			rec.LastStart = aws.ToTime(s.LastStartTime)
			rec.LastStop = aws.ToTime(s.LastStopTime)
			if code := aws.ToString(s.LastErrorCode); code != "" {
				rec.LastError = strings.TrimSpace(code + ": " + aws.ToString(s.LastErrorMessage))
			}
		}
		cov.Recorders = append(cov.Recorders, rec)
	}
	sort.Slice(cov.Recorders, func(i, j int) bool { return cov.Recorders[i].Name < cov.Recorders[j].Name })
	return cov
}

// evaluated lists the resources that a rule evaluated in a region: the
// current evaluations, compliant or not, so that a resource never
// non-compliant in the period still appears.
func (c *Collector) evaluated(ctx context.Context, region, rule string, f Filter) ([]Key, string) {
	var out []Key
	p := configservice.NewGetComplianceDetailsByConfigRulePaginator(c.Client(region), &configservice.GetComplianceDetailsByConfigRuleInput{
		ConfigRuleName:  aws.String(rule),
		ComplianceTypes: []cstypes.ComplianceType{cstypes.ComplianceTypeCompliant, cstypes.ComplianceTypeNonCompliant},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchConfigRuleException" {
				return out, fmt.Sprintf("Config rule %s does not exist in %s: its evaluations there were not read", rule, region)
			}
			return out, fmt.Sprintf("listing the evaluations of Config rule %s in %s: %v", rule, region, errText(err))
		}
		for _, r := range page.EvaluationResults {
			if r.EvaluationResultIdentifier == nil || r.EvaluationResultIdentifier.EvaluationResultQualifier == nil {
				continue
			}
			q := r.EvaluationResultIdentifier.EvaluationResultQualifier
			k := Key{Account: c.Account, Region: region, Type: aws.ToString(q.ResourceType), ID: aws.ToString(q.ResourceId)}
			if f.MatchResource(k) {
				out = append(out, k)
			}
		}
	}
	return out, ""
}

func (c *Collector) history(ctx context.Context, k Key, from, to time.Time) *History {
	h := &History{}
	switch {
	case k.Account != c.Account:
		h.NotRead = fmt.Sprintf("Config history not read: the resource is in account %s, the report read Config in %s only", k.Account, c.Account)
		return h
	case !slices.Contains(c.Regions, k.Region):
		h.NotRead = fmt.Sprintf("Config history not read: region %s is not among the regions read (%s)", k.Region, strings.Join(c.Regions, ", "))
		return h
	case k.Type == "":
		h.NotRead = "Config history not read: the resource type is not known"
		return h
	}
	api := c.Client(k.Region)
	items, before, err := c.items(ctx, api, ComplianceType, k.Type+"/"+k.ID, from, to)
	if err != "" {
		h.ComplianceErr = err
	}
	for _, it := range items {
		h.Compliance = append(h.Compliance, complianceItem(it))
	}
	if before != nil {
		ci := complianceItem(*before)
		h.ComplianceBefore = &ci
	}
	items, before, err = c.items(ctx, api, k.Type, k.ID, from, to)
	if err != "" {
		h.ConfigurationErr = err
	}
	for _, it := range items {
		h.Configuration = append(h.Configuration, ConfigItem{Time: aws.ToTime(it.ConfigurationItemCaptureTime), Status: string(it.ConfigurationItemStatus)})
	}
	if before != nil {
		h.ConfigurationBefore = &ConfigItem{Time: aws.ToTime(before.ConfigurationItemCaptureTime), Status: string(before.ConfigurationItemStatus)}
	}
	return h
}

// items reads a resource's configuration items of [from, to], seven days a
// call, oldest first, and the last one before from.
func (c *Collector) items(ctx context.Context, api ConfigAPI, typ, id string, from, to time.Time) (in []cstypes.ConfigurationItem, before *cstypes.ConfigurationItem, problem string) {
	for start := from; start.Before(to); start = start.Add(historyWindow) {
		end := start.Add(historyWindow)
		if end.After(to) {
			end = to
		}
		p := configservice.NewGetResourceConfigHistoryPaginator(api, &configservice.GetResourceConfigHistoryInput{
			ResourceType: cstypes.ResourceType(typ), ResourceId: aws.String(id),
			EarlierTime: aws.Time(start), LaterTime: aws.Time(end),
			ChronologicalOrder: cstypes.ChronologicalOrderForward, Limit: 100,
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return in, before, historyErr(typ, id, err)
			}
			in = append(in, page.ConfigurationItems...)
		}
	}
	// The state at the start: the newest item at or before from, however
	// old. Should Config hold the seven-day limit against a call without
	// earlierTime, the week before from is asked instead.
	before1 := &configservice.GetResourceConfigHistoryInput{
		ResourceType: cstypes.ResourceType(typ), ResourceId: aws.String(id),
		LaterTime: aws.Time(from), ChronologicalOrder: cstypes.ChronologicalOrderReverse, Limit: 1,
	}
	out, err := api.GetResourceConfigHistory(ctx, before1)
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" {
		before1.EarlierTime = aws.Time(from.Add(-historyWindow))
		out, err = api.GetResourceConfigHistory(ctx, before1)
	}
	if err != nil {
		return in, before, historyErr(typ, id, err)
	}
	if len(out.ConfigurationItems) > 0 {
		it := out.ConfigurationItems[0]
		if t := aws.ToTime(it.ConfigurationItemCaptureTime); !t.After(from) {
			before = &it
		}
	}
	// Config may return an item twice at a window's edge, and the "before"
	// read may return the first item of the period when it was captured at
	// from exactly.
	in = slices.DeleteFunc(in, func(it cstypes.ConfigurationItem) bool {
		t := aws.ToTime(it.ConfigurationItemCaptureTime)
		return t.Before(from) || t.After(to) || (before != nil && aws.ToString(it.ConfigurationStateId) == aws.ToString(before.ConfigurationStateId) && aws.ToString(it.ConfigurationStateId) != "")
	})
	sort.SliceStable(in, func(i, j int) bool {
		return aws.ToTime(in[i].ConfigurationItemCaptureTime).Before(aws.ToTime(in[j].ConfigurationItemCaptureTime))
	})
	in = slices.CompactFunc(in, func(a, b cstypes.ConfigurationItem) bool {
		return aws.ToString(a.ConfigurationStateId) != "" && aws.ToString(a.ConfigurationStateId) == aws.ToString(b.ConfigurationStateId)
	})
	return in, before, ""
}

func historyErr(typ, id string, err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "ResourceNotDiscoveredException" {
		return fmt.Sprintf("AWS Config has no %s history for %s (ResourceNotDiscoveredException: never recorded, or not recorded any more)", typ, id)
	}
	return fmt.Sprintf("reading the %s history of %s: %s", typ, id, errText(err))
}

// errText is the API error's code and message without the SDK's request
// IDs, which would make two runs' reports differ.
func errText(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}

// complianceItem reads a ResourceCompliance item's configuration JSON:
// {"complianceType":..., "targetResourceId":..., "targetResourceType":...,
// "configRuleList":[{"configRuleName":..., "complianceType":...}, ...]}.
func complianceItem(it cstypes.ConfigurationItem) ComplianceItem {
	ci := ComplianceItem{Time: aws.ToTime(it.ConfigurationItemCaptureTime), Status: string(it.ConfigurationItemStatus), Rules: map[string]string{}}
	var conf struct {
		ConfigRuleList []struct {
			ConfigRuleName string `json:"configRuleName"`
			ComplianceType string `json:"complianceType"`
		} `json:"configRuleList"`
	}
	if s := aws.ToString(it.Configuration); s != "" {
		if err := json.Unmarshal([]byte(s), &conf); err != nil {
			ci.Err = "its configuration is not the documented JSON: " + err.Error()
		}
	}
	for _, r := range conf.ConfigRuleList {
		ci.Rules[r.ConfigRuleName] = r.ComplianceType
	}
	return ci
}
