package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/archive"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/state"
)

// Metrics modes: how outcomes become CloudWatch metrics.
const (
	MetricsEMF  = "emf"  // Embedded Metric Format in the outcome log line (Lambda)
	MetricsAPI  = "api"  // PutMetricData per outcome (local emulator)
	MetricsBoth = "both" // both
	MetricsOff  = "off"  // neither
)

// Config is every setting of the pipeline. The Lambda functions and the CLI
// read it from the same environment variables; Setting lists them with their
// defaults (docs/configuration.md's table is checked against it).
type Config struct {
	// Definitions are the remediators this build knows.
	Definitions     []remediators.Definition
	Mode            remediation.Mode
	RemediatorModes map[string]remediation.Mode
	Enabled         []string
	RuleMap         map[string]string
	Remediators     remediators.Options
	SNSTopicARN     string
	// IgnoreActorARNs are the principals whose CloudTrail calls are ignored.
	IgnoreActorARNs []string
	// StateTable is the DynamoDB state table; "" runs stateless.
	StateTable string
	FlapLimit  int
	FlapWindow time.Duration
	// MemberRoleName is the role assumed in member accounts; the external
	// ID is passed when not empty.
	MemberRoleName       string
	MemberRoleExternalID string
	// ExcludedAccounts are never acted in; Regions, when not empty, are the
	// only regions acted in.
	ExcludedAccounts []string
	Regions          []string
	MetricsNamespace string
	MetricsMode      string
	LogLevel         slog.Level
	// ArchiveDir and ArchiveBucket (with ArchivePrefix) receive every
	// outcome in the archive's layout (package archive); local runs only.
	ArchiveDir    string
	ArchiveBucket string
	ArchivePrefix string
}

// Setting documents one environment variable.
type Setting struct {
	Name, Default, Description string
}

// Settings lists every environment variable Load reads.
func Settings() []Setting {
	return []Setting{
		{"MODE", "enforce", "Global mode: `enforce` (read, decide, write, verify) or `dry-run` (everything but the write)."},
		{"REMEDIATOR_MODES", "", "Per-remediator modes overriding MODE, e.g. `ec2-imdsv2=dry-run,s3-encryption=enforce`."},
		{"ENABLED_REMEDIATORS", "all", "Comma-separated remediators to run; events for the others are `ignored`."},
		{"RULE_MAP", "", "Extra rule-name=remediator pairs, e.g. `my-s3-rule=s3-public-access-block`; they take precedence over the built-in managed rule names."},
		{"EXEMPT_TAG_KEY", remediators.DefaultExemptTagKey, "Tag key whose value `off` or `false` exempts a resource (outcome `exempt`)."},
		{"S3_WEBSITE_GUARD", "true", "Leave buckets that host a static website alone (outcome `exempt`): their public access stays, and no TLS-only deny is added (S3 website endpoints serve HTTP only); `false` fixes them too."},
		{"S3_SSE_ALGORITHM", remediators.SSEAlgorithmAES256, "Default encryption to apply: `AES256` (SSE-S3), `aws:kms` (SSE-KMS, S3 Bucket Keys on) or `aws:kms:dsse` (dual-layer SSE-KMS)."},
		{"S3_KMS_KEY_ARN", "", "KMS key for SSE-KMS; empty uses the AWS managed key `aws/s3`."},
		{"EBS_KMS_KEY_ID", "", "KMS key (ID, ARN or alias) to make the region's default EBS key; empty keeps the current default."},
		{"EBS_MIGRATION", remediators.EBSMigrationOff, "Unencrypted EBS volumes migrated to an encrypted copy (docs/ebs-migration.md): `off` (they are `needs-manual`), `unattached` (volumes attached to no instance) or `all` (attached ones too, on instances tagged `autoremediate:stop-allowed=true`, which are stopped and started for it). With `unattached` or `all` the sweep lists unattached volumes too."},
		{"EBS_MIGRATION_DELETE_ORIGINAL_AFTER", "", "How long after a migration a later run deletes the original volume, a duration like `168h`; empty keeps it for good."},
		{"EBS_MIGRATION_STUCK_AFTER", "6h", "How long a migration may be under way before it is `failed` (rolled back if it stopped an instance), a duration like `6h`."},
		{"IMDS_LOOKBACK_DAYS", "14", "Days of the MetadataNoToken metric to check for IMDSv1 use before requiring IMDSv2; `0` turns the check off."},
		{"SG_BLOCKED_PORTS", remediators.FormatPorts(remediators.DefaultBlockedPorts()), "Comma-separated TCP ports that `restricted-common-ports` events close to 0.0.0.0/0 and ::/0 (port 22 comes with `restricted-ssh`); keep it equal to the Config rule's `blockedPort` parameters."},
		{"SNS_TOPIC_ARN", "", "Topic that receives every outcome; empty skips notifications (logged)."},
		{"IGNORE_ACTOR_ARNS", "", "Comma-separated IAM role (or user) ARNs whose CloudTrail calls are `ignored` (reason \"caused by this pipeline\"): the pipeline's own roles, so that its fixes do not trigger it (Terraform sets them), and any other automation you add. An assumed role is matched by its role ARN (`arn:aws:iam::ACCOUNT:role/NAME`, with its path), which Terraform uses; an assumed-role session ARN (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`) stands for every session of role NAME."},
		{"STATE_TABLE", "", "DynamoDB table of the state store (Terraform creates it; `remediate state init` for local runs). Empty runs stateless: a redelivered event may act and notify again, a failed notification is retried with a fresh outcome, and the flap limit does not apply."},
		{"FLAP_LIMIT", strconv.Itoa(remediation.DefaultFlapLimit), "Writes one remediator may make on one resource within FLAP_WINDOW; past that its outcomes are `escalated` and nothing is written (needs STATE_TABLE)."},
		{"FLAP_WINDOW", "1h", "The flap limit's window, a duration like `30m` or `1h` (at least `1s`; Terraform's `flap_window` takes from `1m`) (needs STATE_TABLE)."},
		{"MEMBER_ROLE_NAME", DefaultMemberRoleName, "Role assumed in every other account an event names (`arn:aws:iam::ACCOUNT:role/MEMBER_ROLE_NAME`; the member module and the StackSet template create it). The function's own account is acted in with its own credentials."},
		{"MEMBER_ROLE_EXTERNAL_ID", "", "External ID passed when assuming the member role; set it when the member roles' trust policies require one (`sts:ExternalId`)."},
		{"EXCLUDED_ACCOUNTS", "", "Comma-separated account IDs whose events are `ignored` and which the sweep skips."},
		{"REGIONS", "", "Comma-separated regions acted in; events from other regions are `ignored`. Empty acts in every region events come from."},
		{"METRICS_NAMESPACE", publish.DefaultNamespace, "CloudWatch namespace of the outcome metrics."},
		{"METRICS_MODE", MetricsEMF, "`emf` (metrics embedded in the log line), `api` (PutMetricData, for emulators), `both` or `off`. When `AWS_ENDPOINT_URL` is set the default is `api`: an emulator reads no log lines, so EMF metrics would never reach its CloudWatch."},
		{"LOG_LEVEL", "info", "`debug`, `info`, `warn` or `error`."},
		{"ARCHIVE_DIR", "", "Local runs (`invoke`, `sweep`, `undo`, `migrate-volume`, `report credentials`, the demo): directory that receives every outcome in the outcome archive's layout, `outcomes/YYYY/MM/DD/outcomes-<run start>-<id>.jsonl` (JSON lines, appended as each outcome is published; docs/archive.md). Refused in Lambda, where the archive is the SNS topic's Firehose subscription (Terraform sets it empty)."},
		{"ARCHIVE_BUCKET", "", "Local runs: S3 bucket, `bucket` or `bucket/prefix`, that receives every outcome in the archive's layout: one object per run and day, written when the command ends (or when a day reaches 8 MiB); an object that cannot be written is saved under the temporary directory and the error says where. Refused in Lambda, like ARCHIVE_DIR."},
	}
}

// Load reads the configuration from getenv (os.Getenv in production) for
// the remediators of this build.
func Load(getenv func(string) string) (Config, error) {
	return LoadWith(getenv, remediators.Definitions())
}

// LoadWith is Load for the given remediator definitions.
func LoadWith(getenv func(string) string, defs []remediators.Definition) (Config, error) {
	get := lookup(getenv, Settings())
	cfg := Config{Definitions: defs}
	var err error
	if cfg.Mode, err = remediation.ParseMode(get("MODE")); err != nil {
		return cfg, fmt.Errorf("MODE: %w", err)
	}
	cat := remediators.Catalog(cfg.Definitions)
	if cfg.RemediatorModes, err = remediation.ParseModes(get("REMEDIATOR_MODES"), cat); err != nil {
		return cfg, fmt.Errorf("REMEDIATOR_MODES: %w", err)
	}
	if v := get("ENABLED_REMEDIATORS"); v != "all" {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			name, ok := cat.Canonical(n)
			if !ok {
				return cfg, fmt.Errorf("ENABLED_REMEDIATORS: unknown remediator %q (known: %s)", n, strings.Join(cat.Names(), ", "))
			}
			cfg.Enabled = append(cfg.Enabled, name)
		}
	}
	if cfg.RuleMap, err = remediation.ParseRuleMap(get("RULE_MAP"), cat); err != nil {
		return cfg, fmt.Errorf("RULE_MAP: %w", err)
	}
	o := remediators.DefaultOptions()
	o.ExemptTagKey = get("EXEMPT_TAG_KEY")
	if o.WebsiteGuard, err = strconv.ParseBool(get("S3_WEBSITE_GUARD")); err != nil {
		return cfg, fmt.Errorf("S3_WEBSITE_GUARD: %q is not true or false", get("S3_WEBSITE_GUARD"))
	}
	switch o.SSEAlgorithm = get("S3_SSE_ALGORITHM"); o.SSEAlgorithm {
	case remediators.SSEAlgorithmAES256, remediators.SSEAlgorithmKMS, remediators.SSEAlgorithmDSSE:
	default:
		return cfg, fmt.Errorf("S3_SSE_ALGORITHM: %q is not one of AES256, aws:kms, aws:kms:dsse", o.SSEAlgorithm)
	}
	o.KMSKeyARN = get("S3_KMS_KEY_ARN")
	o.EBSKMSKeyID = get("EBS_KMS_KEY_ID")
	if o.EBSMigration, err = remediators.ParseEBSMigration(get("EBS_MIGRATION")); err != nil {
		return cfg, fmt.Errorf("EBS_MIGRATION: %w", err)
	}
	if v := get("EBS_MIGRATION_DELETE_ORIGINAL_AFTER"); v != "" {
		if o.EBSMigrationDeleteOriginalAfter, err = time.ParseDuration(v); err != nil || o.EBSMigrationDeleteOriginalAfter < time.Hour {
			return cfg, fmt.Errorf("EBS_MIGRATION_DELETE_ORIGINAL_AFTER: %q is not a duration of at least an hour, like 168h (empty keeps the original volumes)", v)
		}
	}
	if o.EBSMigrationStuckAfter, err = time.ParseDuration(get("EBS_MIGRATION_STUCK_AFTER")); err != nil || o.EBSMigrationStuckAfter < time.Minute {
		return cfg, fmt.Errorf("EBS_MIGRATION_STUCK_AFTER: %q is not a duration of at least a minute, like 6h", get("EBS_MIGRATION_STUCK_AFTER"))
	}
	// with migration on the sweep lists unattached volumes too
	cfg.Definitions = remediators.WithEBSMigration(cfg.Definitions, o.EBSMigration)
	lookback, err := strconv.Atoi(get("IMDS_LOOKBACK_DAYS"))
	if err != nil || lookback < 0 || lookback > 455 {
		return cfg, fmt.Errorf("IMDS_LOOKBACK_DAYS: %q is not a whole number of days from 0 to 455 (CloudWatch's retention)", get("IMDS_LOOKBACK_DAYS"))
	}
	o.IMDSLookback = time.Duration(lookback) * 24 * time.Hour
	if o.BlockedPorts, err = remediators.ParsePorts(get("SG_BLOCKED_PORTS")); err != nil {
		return cfg, fmt.Errorf("SG_BLOCKED_PORTS: %w", err)
	}
	cfg.Remediators = o
	if cfg.SNSTopicARN, err = topicARN(get); err != nil {
		return cfg, err
	}
	if cfg.IgnoreActorARNs, err = actorARNs(get("IGNORE_ACTOR_ARNS")); err != nil {
		return cfg, fmt.Errorf("IGNORE_ACTOR_ARNS: %w", err)
	}
	if cfg.StateTable = get("STATE_TABLE"); cfg.StateTable != "" {
		if err := state.CheckTableName(cfg.StateTable); err != nil {
			return cfg, fmt.Errorf("STATE_TABLE: %w", err)
		}
	}
	if cfg.FlapLimit, err = strconv.Atoi(get("FLAP_LIMIT")); err != nil || cfg.FlapLimit < 1 {
		return cfg, fmt.Errorf("FLAP_LIMIT: %q is not a whole number of writes of at least 1", get("FLAP_LIMIT"))
	}
	if cfg.FlapWindow, err = time.ParseDuration(get("FLAP_WINDOW")); err != nil || cfg.FlapWindow < time.Second {
		return cfg, fmt.Errorf("FLAP_WINDOW: %q is not a duration of at least a second, like 30m or 1h", get("FLAP_WINDOW"))
	}
	if cfg.MemberRoleName = get("MEMBER_ROLE_NAME"); !roleName.MatchString(cfg.MemberRoleName) {
		return cfg, fmt.Errorf("MEMBER_ROLE_NAME: %q is not an IAM role name (up to 64 of A-Z a-z 0-9 +=,.@_-, without a path)", cfg.MemberRoleName)
	}
	if cfg.MemberRoleExternalID = get("MEMBER_ROLE_EXTERNAL_ID"); cfg.MemberRoleExternalID != "" && (len(cfg.MemberRoleExternalID) < 2 || len(cfg.MemberRoleExternalID) > 1224 || !externalID.MatchString(cfg.MemberRoleExternalID)) {
		return cfg, fmt.Errorf("MEMBER_ROLE_EXTERNAL_ID: not a valid external ID (2 to 1224 of A-Z a-z 0-9 +=,.@:/_-)")
	}
	if cfg.ExcludedAccounts, err = accountList(get("EXCLUDED_ACCOUNTS")); err != nil {
		return cfg, fmt.Errorf("EXCLUDED_ACCOUNTS: %w", err)
	}
	if cfg.Regions, err = regionList(get("REGIONS")); err != nil {
		return cfg, fmt.Errorf("REGIONS: %w", err)
	}
	cfg.MetricsNamespace = get("METRICS_NAMESPACE")
	if cfg.MetricsMode = get("METRICS_MODE"); strings.TrimSpace(getenv("METRICS_MODE")) == "" && strings.TrimSpace(getenv("AWS_ENDPOINT_URL")) != "" {
		cfg.MetricsMode = MetricsAPI
	}
	switch cfg.MetricsMode {
	case MetricsEMF, MetricsAPI, MetricsBoth, MetricsOff:
	default:
		return cfg, fmt.Errorf("METRICS_MODE: %q is not one of emf, api, both, off", cfg.MetricsMode)
	}
	if cfg.LogLevel, err = logLevel(get); err != nil {
		return cfg, err
	}
	if err := loadArchive(&cfg, get, getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// loadArchive reads ARCHIVE_DIR and ARCHIVE_BUCKET. In Lambda they are
// refused rather than ignored: the deployed archive is the topic's Firehose
// subscription, a PutObject there would add to every event's latency, and
// /tmp does not outlive the execution environment.
func loadArchive(cfg *Config, get, getenv func(string) string) error {
	cfg.ArchiveDir = get("ARCHIVE_DIR")
	v := get("ARCHIVE_BUCKET")
	// Lambda sets AWS_LAMBDA_FUNCTION_NAME in every function's environment.
	if (cfg.ArchiveDir != "" || v != "") && strings.TrimSpace(getenv("AWS_LAMBDA_FUNCTION_NAME")) != "" {
		for _, set := range [][2]string{{"ARCHIVE_DIR", cfg.ArchiveDir}, {"ARCHIVE_BUCKET", v}} {
			if set[1] != "" {
				return fmt.Errorf("%s: not used in Lambda, where the outcome archive is the SNS topic's Firehose subscription (Terraform's archive_enabled); leave it empty", set[0])
			}
		}
	}
	if v == "" {
		return nil
	}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(v, "s3://"), "/")
	if err := archive.CheckBucketName(bucket); err != nil {
		return fmt.Errorf("ARCHIVE_BUCKET: %w, optionally followed by /prefix", err)
	}
	cfg.ArchiveBucket, cfg.ArchivePrefix = bucket, strings.Trim(prefix, "/")
	return nil
}

// NewLogger returns the JSON logger every outcome line goes through.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// NewPublisher builds the outcome publisher for cfg.
func NewPublisher(cfg Config, c *Clients, logger *slog.Logger) *publish.OutcomePublisher {
	p := &publish.OutcomePublisher{
		Logger:    logger,
		Namespace: cfg.MetricsNamespace,
		EMF:       cfg.MetricsMode == MetricsEMF || cfg.MetricsMode == MetricsBoth,
		TopicARN:  cfg.SNSTopicARN,
		SNS:       func() publish.SNSAPI { return c.SNS() },
	}
	if cfg.MetricsMode == MetricsAPI || cfg.MetricsMode == MetricsBoth {
		p.Metrics = func() publish.MetricsAPI { return c.CloudWatch() }
	}
	p.Archive = newArchive(cfg, c)
	return p
}

// newArchive returns the outcome archive's writers of cfg (ARCHIVE_DIR,
// ARCHIVE_BUCKET), nil when neither is set. Both name their files after
// the same run.
func newArchive(cfg Config, c *Clients) publish.Archiver {
	run := archive.NewRun(time.Now())
	var sinks archive.Tee
	if cfg.ArchiveDir != "" {
		sinks = append(sinks, archive.NewDir(cfg.ArchiveDir, run))
	}
	if cfg.ArchiveBucket != "" {
		sinks = append(sinks, archive.NewBucket(c.S3(), cfg.ArchiveBucket, cfg.ArchivePrefix, run))
	}
	switch len(sinks) {
	case 0:
		return nil
	case 1:
		return sinks[0]
	}
	return sinks
}

// closeTimeout bounds ClosePublisher's writes.
const closeTimeout = 2 * time.Minute

// ClosePublisher writes what the publisher still holds (ARCHIVE_BUCKET's
// objects) and closes its files; every command that publishes outcomes
// calls it once, after the last one. It goes on after ctx is cancelled (a
// Ctrl-C must not lose the run's archive), for at most two minutes.
func ClosePublisher(ctx context.Context, p remediation.Publisher) error {
	c, ok := p.(interface{ Close(context.Context) error })
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	return c.Close(ctx)
}

// NewHandler wires the event handler: registry, rule resolution, modes and
// publisher.
func NewHandler(cfg Config, c *Clients, logger *slog.Logger) (*remediation.Handler, error) {
	reg, err := remediators.Registry(cfg.Definitions, c, cfg.Remediators, cfg.Enabled)
	if err != nil {
		return nil, err
	}
	h := &remediation.Handler{
		Registry:         reg,
		Rules:            remediation.NewRuleResolver(remediators.Catalog(cfg.Definitions), cfg.RuleMap),
		Modes:            remediation.Modes{Default: cfg.Mode, Per: cfg.RemediatorModes},
		Publisher:        NewPublisher(cfg, c, logger),
		IgnoreActors:     cfg.IgnoreActorARNs,
		MemberRoleName:   cfg.MemberRoleName,
		ExcludedAccounts: cfg.ExcludedAccounts,
		Regions:          cfg.Regions,
		FlapLimit:        cfg.FlapLimit,
		FlapWindow:       cfg.FlapWindow,
		Store:            NewStateStore(c, cfg.StateTable),
	}
	h.Scopes = NewScopes(cfg, c).Handler()
	return h, nil
}
