package remediators

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/remediation"
)

// Definitions is the registry: every remediator, one line each, in the
// order of settings, tables and reports.
func Definitions() []Definition {
	return []Definition{
		S3PublicAccessBlockDefinition(),
		S3EncryptionDefinition(),
		EC2IMDSv2Definition(),
		EBSEncryptionDefinition(),
		S3SSLRequestsOnlyDefinition(),
		EC2SecurityGroupIngressDefinition(),
	}
}

// Definition is everything about one remediator: its Spec (names, managed
// rules, controls, CloudTrail triggers, permissions), how the sweep finds
// its resources, and how to build it. Each remediator's file declares its
// own; Definitions lists them.
type Definition struct {
	remediation.Spec
	// Sweep lists the checks the sweep runs: every resource a lister
	// returns is checked as if Config had reported the check's rule for it.
	Sweep []SweepCheck
	// New builds the remediator with its SDK clients.
	New func(c Clients, o Options) remediation.Remediator
}

// SweepCheck is one rule the sweep checks the listed resources against.
type SweepCheck struct {
	// Rule is the managed rule the check stands for; it goes into the
	// request and the outcome as if Config had reported it.
	Rule   string
	Lister Lister
}

// Lister finds the resources of one type in a region. Listings with the same
// Key run once per sweep, however many checks use them.
type Lister struct {
	Key          string
	ResourceType string
	// Description says what the listing returns, as a noun phrase ("S3
	// buckets in the region"): `remediate sweep --help` is built from it.
	Description string
	// Permissions are the IAM statements List needs.
	Permissions []remediation.Permission
	// List returns the IDs of the resources in the account and region of
	// the clients.
	List func(ctx context.Context, c Clients, account, region string) ([]string, error)
}

// Clients hands out SDK clients, built on first use.
type Clients interface {
	S3() *s3.Client
	EC2() *ec2.Client
	CloudWatch() *cloudwatch.Client
	KMS() *kms.Client
}

// Catalog returns the specs of the definitions.
func Catalog(defs []Definition) remediation.Catalog {
	c := make(remediation.Catalog, len(defs))
	for i, d := range defs {
		c[i] = d.Spec
	}
	return c
}

// Registry returns a registry of the enabled remediators (all when enabled
// is empty; names or aliases), each built with its SDK clients only when
// first used.
func Registry(defs []Definition, c Clients, o Options, enabled []string) (*remediation.Registry, error) {
	cat := Catalog(defs)
	if err := cat.Validate(); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range enabled {
		name, ok := cat.Canonical(n)
		if !ok {
			return nil, fmt.Errorf("unknown remediator %q (known: %s)", n, strings.Join(cat.Names(), ", "))
		}
		want[name] = true
	}
	var picked []remediation.Remediator
	for _, d := range defs {
		if len(enabled) > 0 && !want[d.Name] {
			continue
		}
		d := d
		picked = append(picked, remediation.Lazy(d.Name, d.ResourceTypes, func() remediation.Remediator { return d.New(c, o) }))
	}
	return remediation.NewRegistry(picked...)
}

// Enabled returns the definitions named in enabled (names, not aliases),
// in the registry's order; all of them when enabled is empty.
func Enabled(defs []Definition, enabled []string) []Definition {
	if len(enabled) == 0 {
		return defs
	}
	var out []Definition
	for _, d := range defs {
		if slices.Contains(enabled, d.Name) {
			out = append(out, d)
		}
	}
	return out
}

// Permissions returns the IAM statements each remediator needs to
// remediate, by name (SweepPermissions has its listings'). It builds no
// client.
func Permissions(defs []Definition) map[string][]remediation.Permission {
	out := map[string][]remediation.Permission{}
	for _, d := range defs {
		out[d.Name] = append([]remediation.Permission(nil), d.Permissions...)
	}
	return out
}

// SweepPermissions returns the IAM statements the sweep's listings need,
// each listing once.
func SweepPermissions(defs []Definition) []remediation.Permission {
	seen := map[string]bool{}
	var out []remediation.Permission
	for _, d := range defs {
		for _, c := range d.Sweep {
			if seen[c.Lister.Key] {
				continue
			}
			seen[c.Lister.Key] = true
			out = append(out, c.Lister.Permissions...)
		}
	}
	return out
}
