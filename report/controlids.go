package report

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"
)

//go:embed standard_controls.csv
var standardControlsCSV []byte

// StandardControl is a control as one standard names it, in findings
// generated while consolidated control findings is turned off: the
// standard's path as Security Hub writes it in ARNs and generator IDs
// ("pci-dss/v/3.2.1") and the control's ID in that standard
// ("PCI.CloudTrail.1", "2.7" for CIS v1.2.0).
type StandardControl struct {
	Standard, ID string
}

// String is the path form used in the standard's control ARNs:
// "pci-dss/v/3.2.1/PCI.CloudTrail.1".
func (s StandardControl) String() string {
	if s.ID == "" {
		return ""
	}
	return s.Standard + "/" + s.ID
}

// standardControlHeader is the header of standard_controls.csv.
var standardControlHeader = []string{"standard", "control_id", "security_control_id"}

// ParseStandardControls reads a table in the layout of
// standard_controls.csv: lines starting with # are comments; each row maps
// a standard's control ID to a security control ID.
func ParseStandardControls(r io.Reader) (map[StandardControl]string, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = len(standardControlHeader)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the standard control table header: %w", err)
	}
	if strings.Join(header, ",") != strings.Join(standardControlHeader, ",") {
		return nil, fmt.Errorf("standard control table header is %q, want %q", strings.Join(header, ","), strings.Join(standardControlHeader, ","))
	}
	out := map[StandardControl]string{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the standard control table: %w", err)
		}
		line, _ := cr.FieldPos(0)
		sc := StandardControl{Standard: strings.TrimSpace(rec[0]), ID: strings.TrimSpace(rec[1])}
		id := strings.TrimSpace(rec[2])
		switch {
		case !strings.Contains(sc.Standard, "/v/") || sc.ID == "":
			return nil, fmt.Errorf("standard control table line %d: %q is not a standard path and control ID", line, sc.String())
		case !ControlIDPattern.MatchString(id):
			return nil, fmt.Errorf("standard control table line %d (%s): security control ID %q is not like S3.1", line, sc, id)
		}
		if _, dup := out[sc]; dup {
			return nil, fmt.Errorf("standard control table line %d: %s appears twice", line, sc)
		}
		out[sc] = id
	}
}

// standardControlTable is the embedded table, parsed once. The file is
// part of the binary and covered by a test, so a parse error is a
// programming error.
var standardControlTable = sync.OnceValue(func() map[StandardControl]string {
	m, err := ParseStandardControls(bytes.NewReader(standardControlsCSV))
	if err != nil {
		panic(err)
	}
	return m
})

// standardControlPath matches the end of a generator ID or control ARN
// that names a standard: "pci-dss/v/3.2.1/PCI.S3.4",
// "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0/rule/2.1",
// "cis-aws-foundations-benchmark/v/1.4.0/2.1.1".
var standardControlPath = regexp.MustCompile(`(?:^|[/:])([a-z0-9][a-z0-9-]*/v/[0-9][0-9.]*)/(?:rule/)?([^/]+)$`)

// standardControlOf returns the standard-specific control a finding was
// generated for, or the zero value for consolidated control findings
// (GeneratorId "security-control/S3.1") and findings of other products.
func standardControlOf(a shtypes.AwsSecurityFinding) StandardControl {
	for _, s := range []string{aws.ToString(a.GeneratorId), a.ProductFields["StandardsControlArn"]} {
		if m := standardControlPath.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
			return StandardControl{Standard: m[1], ID: m[2]}
		}
	}
	id := strings.TrimSpace(a.ProductFields["ControlId"])
	if id == "" {
		id = strings.TrimSpace(a.ProductFields["RuleId"]) // CIS v1.2.0
	}
	for _, arn := range []string{a.ProductFields["StandardsArn"], a.ProductFields["StandardsGuideArn"]} {
		for _, sep := range []string{":standards/", ":ruleset/"} {
			if _, path, ok := strings.Cut(arn, sep); ok && id != "" && strings.Contains(path, "/v/") {
				return StandardControl{Standard: path, ID: id}
			}
		}
	}
	return StandardControl{}
}

// controlIDOf finds a finding's security control ID (S3.1) and the
// standard-specific control it was generated for, if any.
//
// Compliance.SecurityControlId is authoritative when present (every control
// finding since the consolidated controls view of February 2023). Older
// findings, and those of Regions without consolidation (GovCloud, China),
// carry only the standard's own ID, translated with standard_controls.csv:
// PCI DSS and CIS IDs are never the security control ID (PCI.S3.1 is S3.3,
// CIS v1.2.0 2.1 is CloudTrail.1), FSBP IDs mostly are, and Control Tower
// IDs are after dropping "CT.". Findings of products without controls
// (GuardDuty, Inspector) give "".
func controlIDOf(a shtypes.AwsSecurityFinding) (string, StandardControl) {
	sc := standardControlOf(a)
	if a.Compliance != nil {
		if id := strings.TrimSpace(aws.ToString(a.Compliance.SecurityControlId)); ControlIDPattern.MatchString(id) {
			return id, sc
		}
	}
	if sc.ID != "" {
		if id, ok := standardControlTable()[sc]; ok {
			return id, sc
		}
		family, _, _ := strings.Cut(sc.Standard, "/v/")
		if family == "pci-dss" || family == "cis-aws-foundations-benchmark" {
			return "", sc // not in the table: unknown, not guessed
		}
		if id := strings.TrimPrefix(sc.ID, "CT."); ControlIDPattern.MatchString(id) {
			return id, sc
		}
		return "", sc
	}
	// No standard named: a bare control ID in ProductFields or GeneratorId.
	candidates := []string{a.ProductFields["ControlId"]}
	gen := aws.ToString(a.GeneratorId)
	if i := strings.LastIndex(gen, "/"); i >= 0 {
		candidates = append(candidates, gen[i+1:])
	}
	for _, c := range candidates {
		if c = strings.TrimSpace(c); ControlIDPattern.MatchString(c) {
			return c, sc
		}
	}
	return "", sc
}

// standardFamilies names the standards Security Hub offers by the first
// segment of their path.
var standardFamilies = map[string]string{
	"aws-foundational-security-best-practices": "AWS FSBP",
	"cis-aws-foundations-benchmark":            "CIS AWS Foundations Benchmark",
	"pci-dss":                                  "PCI DSS",
	"nist-800-53":                              "NIST SP 800-53",
	"nist-800-171":                             "NIST SP 800-171",
	"service-managed-aws-control-tower":        "AWS Control Tower",
	"aws-resource-tagging-standard":            "AWS Resource Tagging Standard",
}

// StandardName names a standard from its path: "pci-dss/v/3.2.1" ->
// "PCI DSS v3.2.1".
func StandardName(path string) string {
	family, version, ok := strings.Cut(path, "/v/")
	name := standardFamilies[family]
	if name == "" {
		name = family
	}
	if ok && version != "" {
		name += " v" + version
	}
	return name
}

// stripControlPrefix removes a leading control ID from a finding title:
// standard-specific findings are titled "PCI.CloudTrail.1 CloudTrail logs
// should be encrypted..." or "2.7 Ensure CloudTrail logs...", and the
// report shows the ID in its own column.
func stripControlPrefix(title string, ids ...string) string {
	for _, id := range ids {
		if id == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(title, id+" "); ok && strings.TrimSpace(rest) != "" {
			return strings.TrimSpace(rest)
		}
	}
	return title
}
