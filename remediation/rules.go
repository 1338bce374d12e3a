package remediation

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// RuleResolver decides which remediator handles a Config rule.
type RuleResolver struct {
	managed      map[string]string // managed rule name -> remediator
	controlTower map[string]string // Control Tower rule suffix -> managed rule name
	overrides    map[string]string
	longest      []string             // managed rule names, longest first
	calls        map[APICall][]string // CloudTrail call -> remediators, in catalog order
}

// ControlTowerPrefix starts the names of the Config rules AWS Control Tower
// deploys for its detective controls: AWSControlTower_AWS-GR_<SUFFIX>, where
// the suffix is the managed rule's identifier (ENCRYPTED_VOLUMES) or its name
// in upper snake case (RESTRICTED_SSH for restricted-ssh, whose identifier
// is INCOMING_SSH_DISABLED).
const ControlTowerPrefix = "AWSControlTower_AWS-GR_"

// ControlTowerSuffixes returns the suffixes a Control Tower rule name may
// carry for a managed rule (see ControlTowerPrefix).
func ControlTowerSuffixes(r ManagedRule) []string {
	snake := strings.ToUpper(strings.ReplaceAll(r.Name, "-", "_"))
	if snake == r.Identifier {
		return []string{r.Identifier}
	}
	return []string{r.Identifier, snake}
}

// NewRuleResolver returns a resolver for the managed rules of the catalog
// plus the given overrides (exact rule name -> remediator name), which take
// precedence. Override values may be aliases.
func NewRuleResolver(c Catalog, overrides map[string]string) *RuleResolver {
	r := &RuleResolver{managed: map[string]string{}, controlTower: map[string]string{}, overrides: map[string]string{},
		calls: map[APICall][]string{}}
	for _, s := range c {
		for _, call := range s.Triggers {
			if !slices.Contains(r.calls[call], s.Name) {
				r.calls[call] = append(r.calls[call], s.Name)
			}
		}
		for _, m := range s.Rules {
			r.managed[m.Name] = s.Name
			for _, suffix := range ControlTowerSuffixes(m) {
				r.controlTower[suffix] = m.Name
			}
		}
	}
	for k, v := range overrides {
		r.overrides[k], _ = c.Canonical(v)
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
// names it recognises exactly the generated names the EventBridge patterns
// deliver: Security Hub's securityhub-<managed rule>-<suffix>, conformance
// packs' <managed rule>-conformance-pack-<suffix> (organisation conformance
// packs' too), an organisation rule's OrgConfigRule-<managed rule>-<suffix>
// (see OrgConfigRulePrefix), and AWS Control Tower's
// AWSControlTower_AWS-GR_<SUFFIX>. Nothing looser: a Security Hub rule
// such as securityhub-vpc-sg-restricted-common-ports-<suffix> is another
// rule (other parameters) that merely contains a managed rule's name.
func (r *RuleResolver) Resolve(rule string) (remediator, managed string, ok bool) {
	if rem, ok := r.overrides[rule]; ok {
		return rem, "", true
	}
	if rem, ok := r.managed[rule]; ok {
		return rem, rule, true
	}
	if suffix, ok := strings.CutPrefix(rule, ControlTowerPrefix); ok {
		if m, ok := r.controlTower[suffix]; ok {
			return r.managed[m], m, true
		}
		return "", "", false
	}
	for _, m := range r.longest {
		if generatedName(rule, SecurityHubPrefix+m+"-") || generatedName(rule, m+ConformancePackInfix) ||
			generatedName(rule, OrgConfigRulePrefix+m+"-") {
			return r.managed[m], m, true
		}
	}
	return "", "", false
}

// The generated name forms (see Resolve).
const (
	SecurityHubPrefix    = "securityhub-"
	ConformancePackInfix = "-conformance-pack-"
	// OrgConfigRulePrefix starts the name AWS Config gives, in each member
	// account, the rule it creates for an organisation rule
	// (PutOrganizationConfigRule): OrgConfigRule-<organisation rule
	// name>-<suffix>, e.g. OrgConfigRule-s3-bucket-versioning-enabled-dbgzf8ba
	// (AWS Audit Manager's documentation of service-linked rule names), the
	// suffix AWS Config's own. The organisation rule's name is its
	// creator's choice: it is recognised when it is a managed rule's name.
	OrgConfigRulePrefix = "OrgConfigRule-"
)

// generatedName reports whether rule is prefix followed by a non-empty
// suffix.
func generatedName(rule, prefix string) bool {
	return len(rule) > len(prefix) && strings.HasPrefix(rule, prefix)
}

// ForCall returns the remediators that check what an API call can break
// (those whose Spec.Triggers list it), in catalog order.
func (r *RuleResolver) ForCall(call APICall) []string {
	return append([]string(nil), r.calls[call]...)
}

// ParseRuleMap parses "rule=remediator,rule2=remediator2" (RULE_MAP).
// Remediator names and aliases are checked against the catalog and mapped to
// their names; a nil catalog takes any name.
func ParseRuleMap(s string, c Catalog) (map[string]string, error) {
	return parsePairs(s, "rule-name=remediator", func(rem string) (string, error) {
		if c == nil {
			return rem, nil
		}
		name, ok := c.Canonical(rem)
		if !ok {
			return "", fmt.Errorf("unknown remediator %q (known: %s)", rem, strings.Join(c.Names(), ", "))
		}
		return name, nil
	})
}

// ParseModes parses "remediator=mode,..." (REMEDIATOR_MODES): names and
// aliases are checked against the catalog and mapped to their names.
func ParseModes(s string, c Catalog) (map[string]Mode, error) {
	out := map[string]Mode{}
	pairs, err := parsePairs(s, "remediator=mode", func(mode string) (string, error) {
		m, err := ParseMode(mode)
		return string(m), err
	})
	if err != nil {
		return nil, err
	}
	for k, v := range pairs {
		name, ok := c.Canonical(k)
		if !ok {
			return nil, fmt.Errorf("unknown remediator %q (known: %s)", k, strings.Join(c.Names(), ", "))
		}
		out[name] = Mode(v)
	}
	return out, nil
}

// parsePairs parses "key=value,key2=value2"; value checks and maps each
// value. want names the form in errors.
func parsePairs(s, want string, value func(string) (string, error)) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("entry %q: want %s", part, want)
		}
		mapped, err := value(v)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", part, err)
		}
		out[k] = mapped
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

// Get returns the remediator with that name (settings map aliases to names
// when they are loaded).
func (r *Registry) Get(name string) (Remediator, bool) {
	rem, ok := r.byName[name]
	return rem, ok
}

// Has reports whether a remediator of that name is registered.
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
