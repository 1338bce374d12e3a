// Package credentials audits the IAM credential report against the
// credential controls of the CIS AWS Foundations Benchmark v3.0.0 and can
// deactivate access keys left unused past the threshold.
package credentials

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
)

// RootUser is the credential report's name for the account root user.
const RootUser = "<root_account>"

// ReportAPI is the part of the IAM client that reads the credential report.
type ReportAPI interface {
	GenerateCredentialReport(ctx context.Context, params *iam.GenerateCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error)
	GetCredentialReport(ctx context.Context, params *iam.GetCredentialReportInput, optFns ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error)
}

// Permissions lists the IAM actions the audit calls.
func Permissions() []string {
	return []string{"iam:GenerateCredentialReport", "iam:GetCredentialReport"}
}

// ErrStillGenerating is returned when the report is not ready in time.
var ErrStillGenerating = errors.New("the IAM credential report is still being generated")

// Fetcher generates the credential report and waits until it is ready.
type Fetcher struct {
	API ReportAPI
	// Timeout bounds the wait (2 minutes when zero).
	Timeout time.Duration
	// Sleep waits between polls (a context-aware time.Sleep when nil).
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Report is a parsed credential report.
type Report struct {
	GeneratedAt time.Time
	Rows        []Row
}

// Fetch asks IAM for a fresh report (GenerateCredentialReport), polls until
// its state is COMPLETE, then reads it (GetCredentialReport). IAM answers
// STARTED or INPROGRESS while generating, and GetCredentialReport can
// still answer ReportInProgress; both are retried with backoff until the
// timeout, which ends with ErrStillGenerating.
func (f *Fetcher) Fetch(ctx context.Context) (*Report, error) {
	now, sleep := f.Now, f.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	deadline := now().Add(timeout)
	backoff := time.Second
	wait := func(state string) error {
		if now().Add(backoff).After(deadline) {
			return fmt.Errorf("%w after %s (last state %s); run the command again in a minute", ErrStillGenerating, timeout, state)
		}
		if err := sleep(ctx, backoff); err != nil {
			return err
		}
		if backoff *= 2; backoff > 10*time.Second {
			backoff = 10 * time.Second
		}
		return nil
	}
	regenerated := false
	for {
		gen, err := f.API.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		switch {
		case awserr.Is(err, "ReportGenerationLimitExceeded", "Throttling", "ThrottlingException"):
			if err := wait("throttled"); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, explain("generating the IAM credential report", "iam:GenerateCredentialReport", err)
		}
		if gen.State != iamtypes.ReportStateTypeComplete {
			if err := wait(string(gen.State)); err != nil {
				return nil, err
			}
			continue
		}
		out, err := f.API.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
		switch {
		case awserr.Is(err, "ReportInProgress", "ReportNotPresent"):
			if err := wait(awserr.Code(err)); err != nil {
				return nil, err
			}
			continue
		case awserr.Is(err, "ReportExpired") && !regenerated:
			regenerated = true
			continue
		case err != nil:
			return nil, explain("reading the IAM credential report", "iam:GetCredentialReport", err)
		}
		rows, err := Parse(out.Content)
		if err != nil {
			return nil, err
		}
		return &Report{GeneratedAt: aws.ToTime(out.GeneratedTime).UTC(), Rows: rows}, nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Key is one access key slot of a user in the report.
type Key struct {
	Active      bool
	LastRotated time.Time // creation or last rotation; zero when N/A
	LastUsed    time.Time // zero when never used (N/A)
}

// Row is one line of the credential report.
type Row struct {
	User                string
	ARN                 string
	Created             time.Time
	PasswordEnabled     bool
	PasswordLastUsed    time.Time // zero: never used or no information
	PasswordLastChanged time.Time
	MFAActive           bool
	Keys                [2]Key
}

// Account returns the account ID from the row's ARN.
func (r Row) Account() string {
	parts := strings.Split(r.ARN, ":")
	if len(parts) > 4 {
		return parts[4]
	}
	return ""
}

// IsRoot reports whether the row is the root user.
func (r Row) IsRoot() bool { return r.User == RootUser }

// Parse reads the credential report CSV by column name (AWS may add
// columns). Date columns hold RFC 3339 times or N/A, no_information,
// not_supported.
func Parse(data []byte) ([]Row, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("parsing the IAM credential report: no header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"user", "arn", "password_enabled", "mfa_active", "access_key_1_active", "access_key_2_active"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("parsing the IAM credential report: column %q missing", need)
		}
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parsing the IAM credential report line %d: %w", line, err)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := Row{
			User: get("user"), ARN: get("arn"), Created: date(get("user_creation_time")),
			PasswordEnabled: get("password_enabled") == "true", PasswordLastUsed: date(get("password_last_used")),
			PasswordLastChanged: date(get("password_last_changed")), MFAActive: get("mfa_active") == "true",
		}
		for i := range row.Keys {
			p := fmt.Sprintf("access_key_%d_", i+1)
			row.Keys[i] = Key{Active: get(p+"active") == "true", LastRotated: date(get(p + "last_rotated")), LastUsed: date(get(p + "last_used_date"))}
		}
		rows = append(rows, row)
	}
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func explain(doing, action string, err error) error {
	switch awserr.Code(err) {
	case "AccessDenied", "AccessDeniedException":
		return fmt.Errorf("%s: access denied: the caller needs %s: %w", doing, action, err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
