package report

import (
	"fmt"
	"regexp"
	"strings"
)

// Sources of the findings that carry no security control, as the first
// part of their mapping rows' keys: the products as Security Hub names them
// (ProductName) and the IAM credential audit of package credentials.
const (
	ProductGuardDuty = "GuardDuty"
	ProductInspector = "Inspector"
	// SourceCredentialAudit keys the rows of `remediate report
	// credentials`' checks (CredentialAudit:unused-access-key).
	SourceCredentialAudit = "CredentialAudit"
)

// FindingKeyPattern is the shape of a mapping row for findings without a
// security control: SOURCE:PATTERN in the control_id column, where SOURCE
// is the product that reports them (GuardDuty, Inspector) or
// CredentialAudit, and PATTERN matches the finding's ASFF type
// ("TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce") or the
// audit's check ("unused-access-key"); * in it stands for any text.
var FindingKeyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*:\S.*$`)

func (m *Mapping) addFindingRow(line int, row MappingRow) error {
	switch {
	case len(row.Criteria) == 0:
		return fmt.Errorf("SOC 2 mapping line %d (%s): no criteria", line, row.ControlID)
	case row.Source == "":
		return fmt.Errorf("SOC 2 mapping line %d (%s): no source", line, row.ControlID)
	}
	for _, r := range m.findingRows {
		if r.ControlID == row.ControlID {
			return fmt.Errorf("SOC 2 mapping line %d: finding key %s appears twice", line, row.ControlID)
		}
	}
	m.findingRows = append(m.findingRows, row)
	return nil
}

// FindingRows returns the rows for findings without a control (GuardDuty,
// Inspector, the credential audit), in file order. Rows does not list them.
func (m *Mapping) FindingRows() []MappingRow {
	if m == nil {
		return nil
	}
	return append([]MappingRow(nil), m.findingRows...)
}

// LookupFinding returns the row for a finding of source (a product name or
// SourceCredentialAudit) whose type is typ: of the rows SOURCE:PATTERN
// whose pattern matches typ, the most specific one (the most characters
// other than *), the first in the file on a tie.
func (m *Mapping) LookupFinding(source, typ string) (MappingRow, bool) {
	if m == nil {
		return MappingRow{}, false
	}
	best, bestLen, found := MappingRow{}, -1, false
	for _, r := range m.findingRows {
		src, pattern, _ := strings.Cut(r.ControlID, ":")
		if src != source || !globMatch(pattern, typ) {
			continue
		}
		if n := len(strings.ReplaceAll(pattern, "*", "")); n > bestLen {
			best, bestLen, found = r, n, true
		}
	}
	return best, found
}

// globMatch reports whether s matches pattern, where * matches any text
// (slashes included, unlike path.Match: ASFF types are paths).
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
