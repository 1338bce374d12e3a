package app

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// lookup returns the settings' reader: the trimmed value from getenv, else
// the setting's documented default. Every loader reads through it, so a
// default lives only in its Settings table.
func lookup(getenv func(string) string, settings []Setting) func(string) string {
	return func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, s := range settings {
			if s.Name == name {
				return s.Default
			}
		}
		return ""
	}
}

func topicARN(get func(string) string) (string, error) {
	v := get("SNS_TOPIC_ARN")
	if v != "" && !strings.HasPrefix(v, "arn:") {
		return "", fmt.Errorf("SNS_TOPIC_ARN: %q is not an ARN", v)
	}
	return v, nil
}

// principalARN is an IAM role, user or root ARN (what CloudTrail's
// sessionIssuer.arn or userIdentity.arn holds for the principal), or an
// assumed-role session ARN, which stands for every session of its role.
var principalARN = regexp.MustCompile(`^arn:aws[a-z-]*:(iam::\d{12}:(role/.+|user/.+|root)|sts::\d{12}:assumed-role/[^/]+(/.*)?)$`)

// actorARNs parses IGNORE_ACTOR_ARNS.
func actorARNs(v string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !principalARN.MatchString(a) {
			return nil, fmt.Errorf("%q is not an IAM role, user or root ARN (arn:aws:iam::ACCOUNT:role/NAME) or an assumed-role ARN (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION)", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// roleName is an IAM role name. A path is not part of it: the member
// module and the StackSet template create the role at the root path, and
// the ARN assumed is arn:PARTITION:iam::ACCOUNT:role/NAME.
var roleName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// externalID is what AssumeRole's ExternalId accepts.
var externalID = regexp.MustCompile(`^[\w+=,.@:/-]+$`)

// region is an AWS region name (us-east-1, us-gov-west-1, ap-southeast-5).
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// accountList parses a comma-separated list of account IDs.
func accountList(v string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !accountID.MatchString(a) {
			return nil, fmt.Errorf("%q is not a 12-digit AWS account ID", a)
		}
		out = append(out, a)
	}
	return out, nil
}

// regionList parses a comma-separated list of regions.
func regionList(v string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if !regionName.MatchString(r) {
			return nil, fmt.Errorf("%q is not an AWS region name like us-east-1", r)
		}
		out = append(out, r)
	}
	return out, nil
}

func logLevel(get func(string) string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(get("LOG_LEVEL"))); err != nil {
		return l, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", get("LOG_LEVEL"))
	}
	return l, nil
}

// ReportSettings lists the environment variables of the report function:
// its own, and the ones it shares with the remediating functions (same
// names, defaults and checks).
func ReportSettings() []Setting {
	shared := map[string]Setting{}
	for _, s := range Settings() {
		shared[s.Name] = s
	}
	return []Setting{
		{"REPORT_BUCKET", "", "Bucket the report files are written to (required)."},
		{"REPORT_PREFIX", "soc2-reports", "Key prefix; files go to PREFIX/YYYY-MM-DD/."},
		{"SNS_TOPIC_ARN", "", "Topic that receives the summary; empty skips it (logged)."},
		shared["METRICS_NAMESPACE"],
		{"REPORT_PERIOD_DAYS", "7", "Days of remediation activity in the report."},
		{"REPORT_HISTORY_RUNS", "12", "Previous runs (their summary.json under PREFIX/) the trends cover, 0 to 100; 0 reads none."},
		{"REPORT_INCLUDE", "", "Optional sections, comma-separated: credentials (the IAM credential audit; needs iam:GenerateCredentialReport and iam:GetCredentialReport, which Terraform grants with report_include)."},
		shared["LOG_LEVEL"],
	}
}

// ReportConfig is the report function's environment.
type ReportConfig struct {
	Bucket    string
	Prefix    string
	TopicARN  string
	Namespace string
	Period    time.Duration
	LogLevel  slog.Level
	// IncludeCredentials adds the IAM credential audit (REPORT_INCLUDE).
	IncludeCredentials bool
	// HistoryRuns is how many previous runs the trends read
	// (REPORT_HISTORY_RUNS).
	HistoryRuns int
}

// LoadReport reads the report function's settings from getenv.
func LoadReport(getenv func(string) string) (ReportConfig, error) {
	get := lookup(getenv, ReportSettings())
	c := ReportConfig{Bucket: get("REPORT_BUCKET"), Prefix: strings.Trim(get("REPORT_PREFIX"), "/"), Namespace: get("METRICS_NAMESPACE")}
	if c.Bucket == "" {
		return c, fmt.Errorf("REPORT_BUCKET: required (the bucket the report files are written to)")
	}
	var err error
	if c.TopicARN, err = topicARN(get); err != nil {
		return c, err
	}
	days, err := strconv.Atoi(get("REPORT_PERIOD_DAYS"))
	if err != nil || days < 1 || days > 455 {
		return c, fmt.Errorf("REPORT_PERIOD_DAYS: %q is not a whole number of days from 1 to 455 (CloudWatch's retention)", get("REPORT_PERIOD_DAYS"))
	}
	c.Period = time.Duration(days) * 24 * time.Hour
	if c.HistoryRuns, err = strconv.Atoi(get("REPORT_HISTORY_RUNS")); err != nil || c.HistoryRuns < 0 || c.HistoryRuns > 100 {
		return c, fmt.Errorf("REPORT_HISTORY_RUNS: %q is not a whole number of runs from 0 to 100", get("REPORT_HISTORY_RUNS"))
	}
	for _, s := range strings.Split(get("REPORT_INCLUDE"), ",") {
		switch s = strings.TrimSpace(s); s {
		case "":
		case "credentials":
			c.IncludeCredentials = true
		default:
			return c, fmt.Errorf("REPORT_INCLUDE: %q is not an optional section of the report (credentials)", s)
		}
	}
	if c.LogLevel, err = logLevel(get); err != nil {
		return c, err
	}
	return c, nil
}
