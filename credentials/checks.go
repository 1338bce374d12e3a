package credentials

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/autoremediate/autoremediate/internal/csvsafe"
)

// Benchmark is the CIS version whose control numbers the findings cite.
const Benchmark = "CIS AWS Foundations Benchmark v3.0.0"

// The checks, by CIS AWS Foundations Benchmark v3.0.0 control number.
const (
	CheckRootAccessKey   = "root-access-key"     // 1.4
	CheckRootUsed        = "root-recently-used"  // 1.7
	CheckConsoleNoMFA    = "console-without-mfa" // 1.10
	CheckUnusedPassword  = "unused-password"     // 1.12
	CheckUnusedAccessKey = "unused-access-key"   // 1.12
	CheckTwoActiveKeys   = "two-active-keys"     // 1.13
	CheckOldAccessKey    = "old-access-key"      // 1.14
)

// Control describes one CIS control.
type Control struct {
	ID, Title string
}

// Controls maps each check to its CIS v3.0.0 control.
func Controls() map[string]Control {
	return map[string]Control{
		CheckRootAccessKey:   {"1.4", "Ensure no 'root' user account access key exists"},
		CheckRootUsed:        {"1.7", "Eliminate use of the 'root' user for administrative and daily tasks"},
		CheckConsoleNoMFA:    {"1.10", "Ensure multi-factor authentication (MFA) is enabled for all IAM users that have a console password"},
		CheckUnusedPassword:  {"1.12", "Ensure credentials unused for 45 days or greater are disabled"},
		CheckUnusedAccessKey: {"1.12", "Ensure credentials unused for 45 days or greater are disabled"},
		CheckTwoActiveKeys:   {"1.13", "Ensure there is only one active access key available for any single IAM user"},
		CheckOldAccessKey:    {"1.14", "Ensure access keys are rotated every 90 days or less"},
	}
}

// Thresholds are the ages the checks use, in days.
type Thresholds struct {
	UnusedDays  int // CIS 1.12: 45
	KeyMaxAge   int // CIS 1.14: 90
	RootUseDays int // how recent a root sign-in or key use is reported (CIS 1.7 gives no number)
}

// DefaultThresholds are the benchmark's numbers.
func DefaultThresholds() Thresholds {
	return Thresholds{UnusedDays: 45, KeyMaxAge: 90, RootUseDays: 90}
}

// Finding is one violated control for one user (and key).
type Finding struct {
	User     string `json:"user"`
	ARN      string `json:"arn"`
	Check    string `json:"check"`
	Control  string `json:"control"` // "CIS AWS Foundations Benchmark v3.0.0 1.12"
	Title    string `json:"controlTitle"`
	Severity string `json:"severity"`
	Key      int    `json:"accessKey,omitempty"` // 1 or 2 for key findings
	Detail   string `json:"detail"`
	Fix      string `json:"fix"`
}

func days(d time.Duration) int { return int(d.Hours() / 24) }

// Check runs every check on the report rows at time now.
func Check(rows []Row, now time.Time, th Thresholds) []Finding {
	var out []Finding
	ctl := Controls()
	add := func(r Row, check, severity string, key int, detail, fix string) {
		c := ctl[check]
		out = append(out, Finding{User: r.User, ARN: r.ARN, Check: check, Control: Benchmark + " " + c.ID, Title: c.Title,
			Severity: severity, Key: key, Detail: detail, Fix: fix})
	}
	unusedFor := func(lastUsed, since time.Time) (int, bool) {
		ref := lastUsed
		if ref.IsZero() {
			ref = since
		}
		if ref.IsZero() {
			return 0, false
		}
		d := days(now.Sub(ref))
		return d, d >= th.UnusedDays
	}
	for _, r := range rows {
		if r.IsRoot() {
			for i, k := range r.Keys {
				if k.Active {
					add(r, CheckRootAccessKey, "CRITICAL", i+1, fmt.Sprintf("root access key %d is active", i+1),
						"Sign in as the root user and delete its access keys (Security credentials page); use IAM roles for programmatic access.")
				}
			}
			last, how := r.PasswordLastUsed, "signed in"
			for i, k := range r.Keys {
				if k.LastUsed.After(last) {
					last, how = k.LastUsed, fmt.Sprintf("used access key %d", i+1)
				}
			}
			if !last.IsZero() && now.Sub(last) < time.Duration(th.RootUseDays)*24*time.Hour {
				add(r, CheckRootUsed, "HIGH", 0, fmt.Sprintf("root user %s on %s (%d days ago)", how, last.Format("2006-01-02"), days(now.Sub(last))),
					"Do daily and administrative work with IAM Identity Center or IAM roles; keep the root user, protected by MFA, for the tasks that require it.")
			}
			continue
		}
		if r.PasswordEnabled && !r.MFAActive {
			add(r, CheckConsoleNoMFA, "HIGH", 0, "console password enabled without an MFA device",
				fmt.Sprintf("Assign an MFA device to the user (IAM console or aws iam enable-mfa-device --user-name %s), or remove the console password if it is not needed.", r.User))
		}
		if r.PasswordEnabled {
			since := r.PasswordLastChanged
			if since.IsZero() {
				since = r.Created
			}
			if d, ok := unusedFor(r.PasswordLastUsed, since); ok {
				what := fmt.Sprintf("console password unused for %d days", d)
				if r.PasswordLastUsed.IsZero() {
					what = fmt.Sprintf("console password never used, set %d days ago", d)
				}
				add(r, CheckUnusedPassword, "MEDIUM", 0, what,
					fmt.Sprintf("Remove the console password: aws iam delete-login-profile --user-name %s", r.User))
			}
		}
		active := 0
		for i, k := range r.Keys {
			if !k.Active {
				continue
			}
			active++
			if d, ok := unusedFor(k.LastUsed, k.LastRotated); ok {
				what := fmt.Sprintf("access key %d unused for %d days", i+1, d)
				if k.LastUsed.IsZero() {
					what = fmt.Sprintf("access key %d never used, created %d days ago", i+1, d)
				}
				add(r, CheckUnusedAccessKey, "MEDIUM", i+1, what,
					"Deactivate the key: remediate report credentials --deactivate-unused-keys --yes (or aws iam update-access-key --status Inactive), then delete it.")
			}
			if !k.LastRotated.IsZero() {
				if age := days(now.Sub(k.LastRotated)); age > th.KeyMaxAge {
					add(r, CheckOldAccessKey, "MEDIUM", i+1, fmt.Sprintf("access key %d is %d days old", i+1, age),
						"Rotate: create a new key, move the workload to it, then deactivate and delete the old key.")
				}
			}
		}
		if active == 2 {
			add(r, CheckTwoActiveKeys, "LOW", 0, "both access keys are active",
				"Keep one active key: deactivate the key the workload no longer uses (aws iam update-access-key --status Inactive).")
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if a, b := sevRank(out[i].Severity), sevRank(out[j].Severity); a != b {
			return a > b
		}
		if out[i].User != out[j].User {
			return out[i].User < out[j].User
		}
		return out[i].Key < out[j].Key
	})
	return out
}

func sevRank(s string) int {
	switch s {
	case "CRITICAL":
		return 4
	case "HIGH":
		return 3
	case "MEDIUM":
		return 2
	case "LOW":
		return 1
	}
	return 0
}

// Output formats.
const (
	FormatTable = "table"
	FormatCSV   = "csv"
	FormatJSON  = "json"
)

// Write renders the findings in format.
func Write(w io.Writer, format string, findings []Finding) error {
	switch format {
	case FormatTable:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEVERITY\tUSER\tCONTROL\tFINDING\tFIX")
		for _, f := range findings {
			fmt.Fprintf(tw, "%s\t%s\tCIS %s\t%s\t%s\n", f.Severity, f.User, strings.TrimPrefix(f.Control, Benchmark+" "), f.Detail, f.Fix)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(findings) == 0 {
			_, err := fmt.Fprintln(w, "No credential findings: every user passes the checks.")
			return err
		}
		_, err := fmt.Fprintf(w, "\n%d findings against %s.\n", len(findings), Benchmark)
		return err
	case FormatCSV:
		var b bytes.Buffer
		cw := csv.NewWriter(&b)
		_ = cw.Write([]string{"severity", "user", "arn", "check", "control", "control_title", "access_key", "detail", "fix"})
		for _, f := range findings {
			key := ""
			if f.Key > 0 {
				key = fmt.Sprint(f.Key)
			}
			// User names may start with =, +, - or @ (IAM allows them).
			_ = cw.Write(csvsafe.Record([]string{f.Severity, f.User, f.ARN, f.Check, f.Control, f.Title, key, f.Detail, f.Fix}))
		}
		cw.Flush()
		_, err := w.Write(b.Bytes())
		return err
	case FormatJSON:
		if findings == nil {
			findings = []Finding{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(findings)
	}
	return fmt.Errorf("unknown output format %q (table, csv or json)", format)
}
