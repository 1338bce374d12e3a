package remediation

import (
	"fmt"
	"sort"
	"strings"
)

// Names of the remediators. Aliases accepted in settings map onto these.
const (
	S3PublicAccessBlock = "s3-public-access-block"
	S3Encryption        = "s3-encryption"
	EC2IMDSv2           = "ec2-imdsv2"
	EBSEncryption       = "ebs-encryption"
)

var aliases = map[string]string{
	"s3-default-encryption":     S3Encryption,
	"s3-bucket-encryption":      S3Encryption,
	"imdsv2":                    EC2IMDSv2,
	"ebs-encryption-by-default": EBSEncryption,
}

// CanonicalName maps a remediator name or one of its aliases to its name.
func CanonicalName(s string) string {
	s = strings.TrimSpace(s)
	if c, ok := aliases[s]; ok {
		return c
	}
	return s
}

// ManagedRules maps the AWS Config managed rules the remediators handle to
// the remediator that handles them.
func ManagedRules() map[string]string {
	return map[string]string{
		"s3-bucket-public-read-prohibited":         S3PublicAccessBlock,
		"s3-bucket-public-write-prohibited":        S3PublicAccessBlock,
		"s3-bucket-level-public-access-prohibited": S3PublicAccessBlock,
		"s3-bucket-server-side-encryption-enabled": S3Encryption,
		"s3-default-encryption-kms":                S3Encryption,
		"ec2-imdsv2-check":                         EC2IMDSv2,
		"encrypted-volumes":                        EBSEncryption,
		"ec2-ebs-encryption-by-default":            EBSEncryption,
	}
}

// RuleResolver decides which remediator handles a Config rule.
type RuleResolver struct {
	managed   map[string]string
	overrides map[string]string
	longest   []string // managed rule names, longest first
}

// NewRuleResolver returns a resolver for the managed rules plus the given
// overrides (exact rule name -> remediator name), which take precedence.
func NewRuleResolver(overrides map[string]string) *RuleResolver {
	r := &RuleResolver{managed: ManagedRules(), overrides: map[string]string{}}
	for k, v := range overrides {
		r.overrides[k] = CanonicalName(v)
	}
	for k := range r.managed {
		r.longest = append(r.longest, k)
	}
	sort.Slice(r.longest, func(i, j int) bool {
		if len(r.longest[i]) != len(r.longest[j]) {
			return len(r.longest[i]) > len(r.longest[j])
		}
		return r.longest[i] < r.longest[j]
	})
	return r
}

// Resolve returns the remediator for a rule name and the managed rule it was
// recognised as ("" for a configured override). Besides exact managed rule
// names it recognises the generated names Security Hub and conformance packs
// deploy (securityhub-s3-bucket-public-write-prohibited-baa2cf8c,
// s3-bucket-public-read-prohibited-conformance-pack-x1y2z3): the managed
// name must appear as whole dash-separated words.
func (r *RuleResolver) Resolve(rule string) (remediator, managed string, ok bool) {
	if rem, ok := r.overrides[rule]; ok {
		return rem, "", true
	}
	if rem, ok := r.managed[rule]; ok {
		return rem, rule, true
	}
	for _, m := range r.longest {
		if containsWords(rule, m) {
			return r.managed[m], m, true
		}
	}
	return "", "", false
}

func containsWords(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); {
		j := strings.Index(s[i:], sub)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(sub)
		if (start == 0 || s[start-1] == '-') && (end == len(s) || s[end] == '-') {
			return true
		}
		i = start + 1
	}
	return false
}

// ParseRuleMap parses "rule=remediator,rule2=remediator2". Remediator names
// are checked against known.
func ParseRuleMap(s string, known func(string) bool) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		rule, rem, ok := strings.Cut(part, "=")
		rule, rem = strings.TrimSpace(rule), CanonicalName(rem)
		if !ok || rule == "" || rem == "" {
			return nil, fmt.Errorf("rule map entry %q: want rule-name=remediator", part)
		}
		if known != nil && !known(rem) {
			return nil, fmt.Errorf("rule map entry %q: unknown remediator %q", part, rem)
		}
		out[rule] = rem
	}
	return out, nil
}

// Registry holds the remediators by name, in registration order.
type Registry struct {
	order  []Remediator
	byName map[string]Remediator
}

// NewRegistry builds a registry; names must be unique.
func NewRegistry(rs ...Remediator) (*Registry, error) {
	reg := &Registry{byName: map[string]Remediator{}}
	for _, r := range rs {
		if _, dup := reg.byName[r.Name()]; dup {
			return nil, fmt.Errorf("remediator %q registered twice", r.Name())
		}
		reg.byName[r.Name()] = r
		reg.order = append(reg.order, r)
	}
	return reg, nil
}

// Get returns the remediator with that name or alias.
func (r *Registry) Get(name string) (Remediator, bool) {
	rem, ok := r.byName[CanonicalName(name)]
	return rem, ok
}

// Has reports whether a remediator of that name or alias is registered.
func (r *Registry) Has(name string) bool { _, ok := r.Get(name); return ok }

// All returns the remediators in registration order.
func (r *Registry) All() []Remediator { return append([]Remediator(nil), r.order...) }

// Names returns the remediator names in registration order.
func (r *Registry) Names() []string {
	names := make([]string, len(r.order))
	for i, rem := range r.order {
		names[i] = rem.Name()
	}
	return names
}
