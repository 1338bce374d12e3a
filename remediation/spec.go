package remediation

import (
	"fmt"
	"sort"
	"strings"
)

// Spec is what the rest of the system knows about one remediator: its
// names, the AWS Config managed rules and Security Hub controls it answers
// for, the CloudTrail calls that can break what it fixes, and the IAM
// permissions it needs. It is plain data; each remediator declares its own
// in its file (package remediators), and everything else (rule resolution,
// settings validation, the sweep, the generated Terraform inputs, the SOC 2
// report) is derived from the list of them.
type Spec struct {
	// Name is the stable identifier used in outcomes, metrics and settings.
	Name string
	// Aliases are other names accepted in settings.
	Aliases []string
	// Summary says in one line what the remediator changes.
	Summary string
	// ResourceTypes are the AWS Config resource types it handles.
	ResourceTypes []string
	// Rules are the AWS Config managed rules whose NON_COMPLIANT results it
	// fixes.
	Rules []ManagedRule
	// Controls are the Security Hub security control IDs whose failed
	// findings it fixes (e.g. "S3.8").
	Controls []string
	// Triggers are the API calls, as CloudTrail records them, that can make
	// a resource non-compliant with its rules.
	Triggers []APICall
	// Permissions are the IAM statements Remediate needs.
	Permissions []Permission
}

// ManagedRule is an AWS Config managed rule as the module deploys it.
type ManagedRule struct {
	// Name is the rule's name when deployed under its default name (the
	// name in AWS's managed rule list, e.g. "restricted-ssh").
	Name string
	// Identifier is the managed rule's source identifier
	// (e.g. "INCOMING_SSH_DISABLED").
	Identifier string
	// ResourceTypes is the rule's scope; empty for periodic rules that
	// evaluate the account (AWS::::Account).
	ResourceTypes []string
	// InputParameters are the rule's parameters, as Config takes them
	// (string values); nil for none.
	InputParameters map[string]string
}

// APICall names an API call as a CloudTrail event records it.
type APICall struct {
	Source string // eventSource, e.g. "s3.amazonaws.com"
	Name   string // eventName, e.g. "PutBucketPolicy"
}

// Permission is one IAM statement: actions on resources, under
// conditions. Resources are ARN patterns with the placeholders {partition},
// {region} and {account}, or "*" for actions that have no resource type in
// the Service Authorization Reference.
type Permission struct {
	Sid       string
	Actions   []string
	Resources []string
	// Conditions all have to hold (IAM ANDs a statement's conditions).
	Conditions []Condition
}

// Condition is one condition of an IAM statement, as Terraform's
// aws_iam_policy_document writes a condition block: the operator (Test,
// e.g. "StringEquals", "Bool"), the context key (Variable) and the values,
// any of which matches. Values take the placeholders of resources. The
// member role serves every region, so {region} becomes "*" there: a value
// with {region} needs a *Like operator (Validate checks it).
type Condition struct {
	Test     string
	Variable string
	Values   []string
}

// ExpandResource fills the placeholders of a resource pattern.
func ExpandResource(pattern, partition, region, account string) string {
	return strings.NewReplacer("{partition}", partition, "{region}", region, "{account}", account).Replace(pattern)
}

// ExpandConditions returns the conditions with the placeholders of their
// values filled.
func ExpandConditions(cs []Condition, partition, region, account string) []Condition {
	var out []Condition
	for _, c := range cs {
		e := Condition{Test: c.Test, Variable: c.Variable}
		for _, v := range c.Values {
			e.Values = append(e.Values, ExpandResource(v, partition, region, account))
		}
		out = append(out, e)
	}
	return out
}

// validate checks that the condition names its operator, key and values,
// and that a value with {region} sits under an operator that takes the
// "*" the member role puts there.
func (c Condition) validate() error {
	if c.Test == "" || c.Variable == "" || len(c.Values) == 0 {
		return fmt.Errorf("condition %s %s lacks its operator, key or values", c.Test, c.Variable)
	}
	for _, v := range c.Values {
		if strings.Contains(v, "{region}") && !strings.Contains(strings.TrimSuffix(c.Test, "IfExists"), "Like") {
			return fmt.Errorf("condition %s %s: value %q has {region}, which the member role fills with \"*\": use StringLike or ArnLike", c.Test, c.Variable, v)
		}
	}
	return nil
}

// PermissionActions returns the distinct actions of the permissions, sorted.
func PermissionActions(ps []Permission) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range ps {
		for _, a := range p.Actions {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Catalog is the list of remediators a build knows, in registry order.
type Catalog []Spec

// Names returns the remediator names in order.
func (c Catalog) Names() []string {
	names := make([]string, len(c))
	for i, s := range c {
		names[i] = s.Name
	}
	return names
}

// Canonical maps a remediator name or alias to the name; ok is false for a
// name the catalog does not know.
func (c Catalog) Canonical(name string) (string, bool) {
	name = strings.TrimSpace(name)
	for _, s := range c {
		if s.Name == name {
			return s.Name, true
		}
		for _, a := range s.Aliases {
			if a == name {
				return s.Name, true
			}
		}
	}
	return name, false
}

// Spec returns the spec of the named remediator (or alias).
func (c Catalog) Spec(name string) (Spec, bool) {
	name, ok := c.Canonical(name)
	if !ok {
		return Spec{}, false
	}
	for _, s := range c {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// ManagedRules maps every managed rule name to the remediator that handles
// it.
func (c Catalog) ManagedRules() map[string]string {
	m := map[string]string{}
	for _, s := range c {
		for _, r := range s.Rules {
			m[r.Name] = s.Name
		}
	}
	return m
}

// Validate checks that names, aliases and rule names are unique and that
// every spec has what the generated Terraform inputs need.
func (c Catalog) Validate() error {
	names := map[string]string{}
	rules := map[string]string{}
	for _, s := range c {
		if s.Name == "" {
			return fmt.Errorf("a remediator spec has no name")
		}
		for _, n := range append([]string{s.Name}, s.Aliases...) {
			if other, dup := names[n]; dup {
				return fmt.Errorf("remediator name %q is used by %s and %s", n, other, s.Name)
			}
			names[n] = s.Name
		}
		if len(s.ResourceTypes) == 0 {
			return fmt.Errorf("remediator %s declares no resource types", s.Name)
		}
		if len(s.Permissions) == 0 {
			return fmt.Errorf("remediator %s declares no permissions", s.Name)
		}
		for _, r := range s.Rules {
			if r.Name == "" || r.Identifier == "" {
				return fmt.Errorf("remediator %s: a managed rule lacks its name or identifier", s.Name)
			}
			if other, dup := rules[r.Name]; dup {
				return fmt.Errorf("managed rule %q is claimed by %s and %s", r.Name, other, s.Name)
			}
			rules[r.Name] = s.Name
		}
		for _, p := range s.Permissions {
			if len(p.Actions) == 0 || len(p.Resources) == 0 {
				return fmt.Errorf("remediator %s: permission %q lacks actions or resources", s.Name, p.Sid)
			}
			keys := map[string]bool{}
			for _, c := range p.Conditions {
				if err := c.validate(); err != nil {
					return fmt.Errorf("remediator %s: permission %q: %w", s.Name, p.Sid, err)
				}
				// A policy's Condition is a map of operators to maps of
				// keys: a second condition on the same pair cannot be
				// written (put its values in the first).
				k := c.Test + " " + c.Variable
				if keys[k] {
					return fmt.Errorf("remediator %s: permission %q: two conditions %s on %s", s.Name, p.Sid, c.Test, c.Variable)
				}
				keys[k] = true
			}
		}
	}
	return nil
}
