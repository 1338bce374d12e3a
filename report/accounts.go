package report

import (
	"fmt"
	"strings"

	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
)

// FileAccountsCSV is the per-account breakdown (AccountsCSV).
const FileAccountsCSV = "accounts.csv"

// AccountsWithFindings returns the rows of ByAccount that have findings,
// in report order.
func (r *Report) AccountsWithFindings() []AccountSummary {
	var out []AccountSummary
	for _, a := range r.ByAccount {
		if a.Findings > 0 {
			out = append(out, a)
		}
	}
	return out
}

// AccountsWithOutcomes returns the rows of ByAccount that have outcomes of
// the AccountActions in the period, in report order.
func (r *Report) AccountsWithOutcomes() []AccountSummary {
	var out []AccountSummary
	for _, a := range r.ByAccount {
		for _, act := range AccountActions() {
			if a.Outcomes[act] > 0 {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// AccountTotal returns the sum of one action over every account.
func (a Activity) AccountTotal(action remediation.Action) int {
	n := 0
	for _, aa := range a.Accounts {
		n += aa.Counts[action]
	}
	return n
}

// AccountsSentence sums the findings by account up: how many accounts have
// findings and which has the most severe.
func (r *Report) AccountsSentence() string {
	rows := r.AccountsWithFindings()
	if len(rows) == 0 {
		return "No account has active failed findings"
	}
	top := rows[0]
	var sev []string
	for _, c := range top.BySeverity {
		if c.Count > 0 && severityRank(c.Key) >= severityRank(SeverityHigh) {
			sev = append(sev, fmt.Sprintf("%d %s", c.Count, strings.ToLower(c.Key)))
		}
	}
	detail := ""
	if len(sev) > 0 {
		detail = " (" + strings.Join(sev, ", ") + ")"
	}
	if len(rows) == 1 {
		return fmt.Sprintf("Findings are open in 1 account, %s: %s%s", AccountLabel(top.Account), plural(top.Findings, "finding", "findings"), detail)
	}
	return fmt.Sprintf("Findings are open in %d accounts; the most affected is %s with %s%s", len(rows), AccountLabel(top.Account),
		plural(top.Findings, "finding", "findings"), detail)
}

// attentionSentence says how many accounts had outcomes that need a
// person, or "" when none did (or the activity could not be read).
func (r *Report) attentionSentence() string {
	if r.Activity.Err != "" || r.Activity.AccountsErr != "" {
		return ""
	}
	n := 0
	for _, a := range r.ByAccount {
		if a.Outcomes[remediation.ActionFailed]+a.Outcomes[remediation.ActionEscalated]+a.NotCompliant() > 0 {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("Outcomes that need attention (failed, escalated or not compliant) came from %s.", plural(n, "account", "accounts"))
}

// NotCompliantNote says what the per-account outcome counts mean.
func NotCompliantNote() string {
	var names []string
	for _, a := range publish.NotCompliantActions() {
		names = append(names, string(a))
	}
	return capitalize(joinAnd(names)) + " outcomes found a resource not compliant and left it so: with failed and escalated ones, they are what the dashboard's by-account widget shows. " +
		"Counts are outcomes, one per delivery of an event: an event that fails and is retried counts once per attempt."
}

// AccountLabel is an account ID as the report prints it.
func AccountLabel(id string) string {
	if id == "" {
		return "(no account)"
	}
	return id
}

// ActionTitle is an action as a column heading: "needs-manual" is
// "Needs manual".
func ActionTitle(a remediation.Action) string {
	s := string(a)
	if s == "" {
		return s
	}
	if s != string(remediation.ActionDryRun) {
		s = strings.ReplaceAll(s, "-", " ")
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// SeverityTitle is a severity as a column heading: "CRITICAL" is
// "Critical".
func SeverityTitle(sev string) string {
	if sev == "" {
		return sev
	}
	return sev[:1] + strings.ToLower(sev[1:])
}

// ControlsCell lists controls and their findings: "S3.8 (3), EC2.8 (1)".
func ControlsCell(cs []Count) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s (%d)", controlLabel(c.Key), c.Count))
	}
	return strings.Join(parts, ", ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
