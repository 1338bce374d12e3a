package report

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/autoremediate/autoremediate/remediators"
)

//go:embed soc2_mapping.csv
var mappingCSV []byte

// Mapping sources: where a control-to-criteria correspondence comes from.
const (
	SourceAuditManager  = "AWS Audit Manager SOC 2 framework"
	SourceAWSDocs       = "AWS documentation"
	SourceTeamReasoning = "team reasoning"
)

// ControlIDPattern is the shape of a Security Hub security control ID
// (S3.1, EC2.170, GuardDuty.1).
var ControlIDPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*\.[0-9]+$`)

// MappingRow maps one Security Hub control to SOC 2 trust services criteria.
type MappingRow struct {
	ControlID      string
	Title          string
	Service        string
	Criteria       []string
	Source         string
	Rationale      string
	Recommendation string
	// Remediator names the remediator of this project that fixes the
	// control's findings automatically, if any: the one whose definition
	// declares the control (remediators.Definition.Controls).
	Remediator string
}

// Mapping is the control-to-criteria table, keyed by control ID, with the
// rows for findings that carry no control (see FindingKeyPattern).
type Mapping struct {
	rows  map[string]MappingRow
	order []string
	// findingRows are the SOURCE:PATTERN rows, in file order.
	findingRows []MappingRow
}

var mappingHeader = []string{"control_id", "title", "service", "criteria", "source", "rationale", "recommendation"}

// DefaultMapping parses the mapping table embedded in the binary
// (report/soc2_mapping.csv) and marks the controls the remediators of this
// build fix.
func DefaultMapping() (*Mapping, error) {
	return MappingFor(remediators.Definitions())
}

// MappingFor is DefaultMapping for the given remediator definitions. A
// control that a definition declares must have a row: a control the
// pipeline fixes but the report cannot place is a gap in the mapping.
func MappingFor(defs []remediators.Definition) (*Mapping, error) {
	m, err := ParseMapping(bytes.NewReader(mappingCSV))
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		for _, id := range d.Controls {
			row, ok := m.rows[id]
			if !ok {
				return nil, fmt.Errorf("SOC 2 mapping: control %s, which remediator %s fixes, has no row in report/soc2_mapping.csv", id, d.Name)
			}
			if row.Remediator != "" {
				return nil, fmt.Errorf("SOC 2 mapping: control %s is declared by remediators %s and %s", id, row.Remediator, d.Name)
			}
			row.Remediator = d.Name
			m.rows[id] = row
		}
	}
	return m, nil
}

// ParseMapping reads a mapping table in the CSV layout of
// soc2_mapping.csv. Every row must have a well-formed control ID, at least
// one criterion and a source; duplicates are rejected.
func ParseMapping(r io.Reader) (*Mapping, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(mappingHeader)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading SOC 2 mapping header: %w", err)
	}
	if strings.Join(header, ",") != strings.Join(mappingHeader, ",") {
		return nil, fmt.Errorf("SOC 2 mapping header is %q, want %q", strings.Join(header, ","), strings.Join(mappingHeader, ","))
	}
	m := &Mapping{rows: map[string]MappingRow{}}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading SOC 2 mapping: %w", err)
		}
		row := MappingRow{
			ControlID: strings.TrimSpace(rec[0]), Title: strings.TrimSpace(rec[1]), Service: strings.TrimSpace(rec[2]),
			Source: strings.TrimSpace(rec[4]), Rationale: strings.TrimSpace(rec[5]),
			Recommendation: strings.TrimSpace(rec[6]),
		}
		for _, c := range strings.Split(rec[3], ";") {
			if c = strings.TrimSpace(c); c != "" {
				row.Criteria = append(row.Criteria, c)
			}
		}
		sortCriteria(row.Criteria)
		if FindingKeyPattern.MatchString(row.ControlID) {
			if err := m.addFindingRow(line, row); err != nil {
				return nil, err
			}
			continue
		}
		switch {
		case !ControlIDPattern.MatchString(row.ControlID):
			return nil, fmt.Errorf("SOC 2 mapping line %d: control ID %q is not like S3.1 nor a finding key like GuardDuty:TTPs/*", line, row.ControlID)
		case len(row.Criteria) == 0:
			return nil, fmt.Errorf("SOC 2 mapping line %d (%s): no criteria", line, row.ControlID)
		case row.Source == "":
			return nil, fmt.Errorf("SOC 2 mapping line %d (%s): no source", line, row.ControlID)
		}
		if _, dup := m.rows[row.ControlID]; dup {
			return nil, fmt.Errorf("SOC 2 mapping line %d: control %s appears twice", line, row.ControlID)
		}
		m.rows[row.ControlID] = row
		m.order = append(m.order, row.ControlID)
	}
	return m, nil
}

// Lookup returns the row for a control ID.
func (m *Mapping) Lookup(controlID string) (MappingRow, bool) {
	if m == nil {
		return MappingRow{}, false
	}
	r, ok := m.rows[controlID]
	return r, ok
}

// Rows returns every row in file order.
func (m *Mapping) Rows() []MappingRow {
	out := make([]MappingRow, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, m.rows[id])
	}
	return out
}

// criterionGroups names the trust services categories (2017 TSC).
var criterionGroups = map[string]string{
	"CC1": "Control environment",
	"CC2": "Communication and information",
	"CC3": "Risk assessment",
	"CC4": "Monitoring activities",
	"CC5": "Control activities",
	"CC6": "Logical and physical access controls",
	"CC7": "System operations",
	"CC8": "Change management",
	"CC9": "Risk mitigation",
	"A1":  "Availability",
	"C1":  "Confidentiality",
	"PI1": "Processing integrity",
	"P":   "Privacy",
}

// criterionNames summarises the criteria the mapping uses, in our words
// (the AICPA text is longer and copyrighted).
var criterionNames = map[string]string{
	"CC2.3": "Communicates with external parties about matters affecting internal control",
	"CC6.1": "Logical access security: software, infrastructure, architecture, encryption",
	"CC6.2": "Registers, authorises and removes users and their credentials",
	"CC6.3": "Authorises, modifies and removes access on least privilege",
	"CC6.6": "Protects against threats from outside the system boundary",
	"CC6.7": "Restricts and protects information in transmission",
	"CC6.8": "Prevents or detects unauthorised or malicious software",
	"CC7.1": "Detects configuration changes and newly discovered vulnerabilities",
	"CC7.2": "Monitors system components for anomalies",
	"CC7.3": "Evaluates security events",
	"CC7.4": "Responds to security incidents",
	"CC8.1": "Manages changes to infrastructure and software",
	"A1.1":  "Manages processing capacity",
	"A1.2":  "Environmental protection, backup and recovery infrastructure",
	"A1.3":  "Tests recovery plan procedures",
	"C1.1":  "Identifies and protects confidential information",
	"C1.2":  "Disposes of confidential information",
	"PI1.5": "Stores inputs, items in processing and outputs completely and accurately",
}

// CriterionGroup returns the category of a criterion: "CC6" for "CC6.1",
// "P" for "P4.2".
func CriterionGroup(id string) string {
	g, _, _ := strings.Cut(id, ".")
	if strings.HasPrefix(g, "P") && !strings.HasPrefix(g, "PI") {
		return "P"
	}
	return g
}

// CriterionName describes a criterion in a few words.
func CriterionName(id string) string {
	if n, ok := criterionNames[id]; ok {
		return n
	}
	if g, ok := criterionGroups[CriterionGroup(id)]; ok {
		return g
	}
	return ""
}

// CriterionGroupName names a criteria category ("CC6" -> "Logical and
// physical access controls").
func CriterionGroupName(group string) string { return criterionGroups[group] }

// sortCriteria orders criteria as the TSC does: CC before A, C, PI, P, and
// numerically within (CC6.10 after CC6.9).
func sortCriteria(ids []string) {
	rank := func(id string) (int, string, int, int) {
		g := CriterionGroup(id)
		order := map[string]int{"A1": 10, "C1": 11, "PI1": 12, "P": 13}
		o, ok := order[g]
		if !ok {
			o = 0
		}
		var a, b int
		prefix := strings.TrimRight(strings.SplitN(id, ".", 2)[0], "0123456789")
		fmt.Sscanf(strings.TrimPrefix(id, prefix), "%d.%d", &a, &b)
		return o, prefix, a, b
	}
	sort.SliceStable(ids, func(i, j int) bool {
		oi, pi, ai, bi := rank(ids[i])
		oj, pj, aj, bj := rank(ids[j])
		if oi != oj {
			return oi < oj
		}
		if pi != pj {
			return pi < pj
		}
		if ai != aj {
			return ai < aj
		}
		return bi < bj
	})
}
