package terraform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/autoremediate/autoremediate/orgcheck"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

//go:generate go run ../internal/tools/genmember cloudformation/member.json

// MemberTemplatePath is where go generate writes the member stack's
// CloudFormation template, relative to this directory.
const MemberTemplatePath = "cloudformation/member.json"

// MemberOptions choose what the member stack's template grants and
// forwards, as the central deployment's variables do for the member module.
type MemberOptions struct {
	// Enabled are the enabled remediators (enabled_remediators); empty
	// means every one of the definitions.
	Enabled []string
	// ConfigRuleNames are the exact Config rule names whose compliance
	// changes are forwarded (config_rule_names); nil means the managed
	// rule names of the enabled remediators.
	ConfigRuleNames []string
	// SkipGeneratedRuleNames leaves out the rule names Security Hub,
	// conformance packs, organisation rules and Control Tower give the
	// managed rules (match_generated_rule_names = false).
	SkipGeneratedRuleNames bool
}

// MemberPermissions returns the IAM statements of the member role: the
// enabled remediators' permissions, the sweep's (its listings of every
// remediator, as the central deployment grants them, and
// GetCallerIdentity) and `remediate org check`'s (orgcheck.Permissions():
// the policy simulator, which the check asks as the member role), with
// their placeholders unfilled.
func MemberPermissions(defs []remediators.Definition, enabled []string) ([]remediation.Permission, error) {
	cat := remediators.Catalog(defs)
	for _, n := range enabled {
		if !slices.Contains(cat.Names(), n) {
			return nil, fmt.Errorf("unknown remediator %q (known: %s)", n, strings.Join(cat.Names(), ", "))
		}
	}
	return orgcheck.MemberPermissions(remediators.Enabled(defs, enabled)), nil
}

// cfn is a CloudFormation template value: a JSON object.
type cfn = map[string]any

func sub(s string) any {
	if strings.Contains(s, "${") {
		return cfn{"Fn::Sub": s}
	}
	return s
}

func ref(name string) any { return cfn{"Ref": name} }

// ignoreSentinel stands for the actors' list while the CloudTrail pattern
// is rendered, and is replaced by the template's expression of it.
const ignoreSentinel = "\x00ignore-actor-arns\x00"

// MemberTemplate renders the CloudFormation template of the member stack,
// for a service-managed StackSet deployed to every account and region of
// an organisation (or for one stack): in the RoleRegion of an account other
// than the central one, the member role with exactly MemberPermissions,
// trusted like the member module's; in every region but the central
// account's own, the rules that forward the events of the central
// deployment's patterns to the central bus, with their role. It is what
// terraform/modules/member creates, as a test checks.
func MemberTemplate(defs []remediators.Definition, o MemberOptions) ([]byte, error) {
	perms, err := MemberPermissions(defs, o.Enabled)
	if err != nil {
		return nil, fmt.Errorf("rendering the member template: %w", err)
	}
	var handled []remediation.ManagedRule
	var enabledNames []string
	for _, d := range remediators.Enabled(defs, o.Enabled) {
		handled = append(handled, d.Rules...)
		enabledNames = append(enabledNames, d.Name)
	}
	deployed := o.ConfigRuleNames
	if deployed == nil {
		for _, r := range handled {
			deployed = append(deployed, r.Name)
		}
	}
	generated := handled
	if o.SkipGeneratedRuleNames {
		generated = nil
	}
	configPatterns, err := EventPatterns(deployed, generated)
	if err != nil {
		return nil, fmt.Errorf("rendering the member template: %w", err)
	}
	ctPatterns, err := CloudTrailPatterns(TriggerCalls(enabledNames), []string{ignoreSentinel})
	if err != nil {
		return nil, fmt.Errorf("rendering the member template: %w", err)
	}

	var statements []any
	for _, p := range perms {
		var res []any
		for _, r := range p.Resources {
			// One role serves every region.
			res = append(res, sub(remediation.ExpandResource(r, "${AWS::Partition}", "*", "${AWS::AccountId}")))
		}
		st := cfn{"Sid": p.Sid, "Effect": "Allow", "Action": p.Actions, "Resource": res}
		if len(p.Conditions) > 0 {
			cond := cfn{}
			for _, c := range remediation.ExpandConditions(p.Conditions, "${AWS::Partition}", "*", "${AWS::AccountId}") {
				if cond[c.Test] == nil {
					cond[c.Test] = cfn{}
				}
				var vals []any
				for _, v := range c.Values {
					vals = append(vals, sub(v))
				}
				cond[c.Test].(cfn)[c.Variable] = vals
			}
			st["Condition"] = cond
		}
		statements = append(statements, st)
	}

	tags := []any{cfn{"Key": "managed-by", "Value": "cloudformation"}, cfn{"Key": "application", "Value": "autoremediate"}}
	busARN := "arn:${AWS::Partition}:events:${CentralRegion}:${CentralAccountId}:event-bus/default"
	trustCondition := func(withExternalID bool) cfn {
		c := cfn{"ArnEquals": cfn{"aws:PrincipalArn": ref("CentralRoleArns")}}
		if withExternalID {
			c["StringEquals"] = cfn{"sts:ExternalId": ref("ExternalId")}
		}
		return c
	}
	resources := cfn{
		// The central account's own region gets neither the role nor the
		// rules; a stack needs a resource all the same.
		"StackAnchor": cfn{
			"Type":     "AWS::CloudFormation::WaitConditionHandle",
			"Metadata": cfn{"Purpose": "Keeps the stack valid where its conditions leave out every other resource (the central account's own region)."},
		},
		"MemberRole": cfn{
			"Type":      "AWS::IAM::Role",
			"Condition": "CreateRole",
			"Properties": cfn{
				"RoleName":    ref("RoleName"),
				"Description": sub("Assumed by the autoremediate functions of account ${CentralAccountId} to remediate in this account."),
				// The central account as the principal and its functions'
				// roles by aws:PrincipalArn: a role ARN as the principal
				// would be stored as the role's unique ID, and a central
				// role created again would no longer be trusted.
				"AssumeRolePolicyDocument": cfn{
					"Version": "2012-10-17",
					"Statement": []any{cfn{
						"Sid":       "CentralFunctions",
						"Effect":    "Allow",
						"Principal": cfn{"AWS": sub("arn:${AWS::Partition}:iam::${CentralAccountId}:root")},
						"Action":    "sts:AssumeRole",
						"Condition": cfn{"Fn::If": []any{"HasExternalId", trustCondition(true), trustCondition(false)}},
					}},
				},
				"Policies": []any{cfn{
					"PolicyName":     "least-privilege",
					"PolicyDocument": cfn{"Version": "2012-10-17", "Statement": statements},
				}},
				"Tags": tags,
			},
		},
		"ForwardingRole": cfn{
			"Type":      "AWS::IAM::Role",
			"Condition": "Forward",
			"Properties": cfn{
				// One role per region, so that each stack stands alone.
				"RoleName":    sub("${Name}-forward-${AWS::Region}"),
				"Description": sub("Lets EventBridge forward the ${AWS::Region} events autoremediate handles to the bus of account ${CentralAccountId}."),
				"AssumeRolePolicyDocument": cfn{
					"Version": "2012-10-17",
					"Statement": []any{cfn{
						"Effect":    "Allow",
						"Principal": cfn{"Service": "events.amazonaws.com"},
						"Action":    "sts:AssumeRole",
						"Condition": cfn{"StringEquals": cfn{"aws:SourceAccount": ref("AWS::AccountId")}},
					}},
				},
				"Policies": []any{cfn{
					"PolicyName": "put-events",
					"PolicyDocument": cfn{"Version": "2012-10-17", "Statement": []any{cfn{
						"Sid": "ForwardToCentralBus", "Effect": "Allow", "Action": []string{"events:PutEvents"}, "Resource": []any{sub(busARN)},
					}}},
				}},
				"Tags": tags,
			},
		},
	}
	rule := func(key, condition, description string, pattern any) {
		resources[logicalID("Forward", key)] = cfn{
			"Type":      "AWS::Events::Rule",
			"Condition": condition,
			"Properties": cfn{
				"Name":         sub("${Name}-forward-" + key),
				"Description":  sub(description),
				"EventPattern": pattern,
				"State":        "ENABLED",
				// EventBridge requires a role on a rule whose target is
				// another account's bus when that bus admits an
				// organisation.
				"Targets": []any{cfn{"Id": "central-bus", "Arn": sub(busARN), "RoleArn": cfn{"Fn::GetAtt": []any{"ForwardingRole", "Arn"}}}},
			},
		}
	}
	for kind, p := range configPatterns {
		var v any
		if err := json.Unmarshal(p, &v); err != nil {
			return nil, fmt.Errorf("rendering the member template: the %s pattern: %w", kind, err)
		}
		rule("config-"+kind, "Forward", "Forwards the AWS Config compliance changes ("+kind+" rule names) that autoremediate handles to account ${CentralAccountId}.", v)
	}
	// The member role's calls (the central functions' fixes here) and, in
	// the central account's other regions, the central roles' own calls are
	// not forwarded; nor are IgnoreActorArns'.
	own := []any{sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RoleName}"), cfn{"Fn::Join": []any{",", ref("CentralRoleArns")}}}
	actors := cfn{"Fn::Split": []any{",", cfn{"Fn::If": []any{"HasIgnoreActorArns",
		cfn{"Fn::Join": []any{",", append(slices.Clone(own), cfn{"Fn::Join": []any{",", ref("IgnoreActorArns")}})}},
		cfn{"Fn::Join": []any{",", own}},
	}}}}
	for svc, p := range ctPatterns {
		var v any
		if err := json.Unmarshal(p, &v); err != nil {
			return nil, fmt.Errorf("rendering the member template: the %s CloudTrail pattern: %w", svc, err)
		}
		n := 0
		v = replaceSentinel(v, actors, &n)
		if n == 0 {
			return nil, fmt.Errorf("rendering the member template: the %s CloudTrail pattern has no list of actors to ignore", svc)
		}
		rule("cloudtrail-"+svc, "ForwardCloudTrail", "Forwards the "+svc+" API calls that autoremediate handles to account ${CentralAccountId}.", v)
	}

	doc := struct {
		Version     string `json:"AWSTemplateFormatVersion"`
		Description string
		Metadata    cfn
		Parameters  cfn
		Conditions  cfn
		Resources   cfn
		Outputs     cfn
	}{
		Version: "2010-09-09",
		Description: "autoremediate member stack: the role the central functions assume (in RoleRegion) and the rules that forward this region's events to the central bus. " +
			"Generated by go generate ./terraform from the remediator definitions; do not edit.",
		Metadata: cfn{"AWS::CloudFormation::Interface": cfn{"ParameterGroups": []any{
			cfn{"Label": cfn{"default": "Central deployment (its member_settings output)"}, "Parameters": []string{"CentralAccountId", "CentralRegion", "CentralRoleArns", "ExternalId", "RoleName"}},
			cfn{"Label": cfn{"default": "This stack"}, "Parameters": []string{"RoleRegion", "EnableCloudTrailPath", "IgnoreActorArns", "Name"}},
		}}},
		Parameters: cfn{
			"CentralAccountId": cfn{"Type": "String", "AllowedPattern": "^[0-9]{12}$",
				"Description": "ID of the central account, where the functions run."},
			"CentralRegion": cfn{"Type": "String", "AllowedPattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$",
				"Description": "Region of the central deployment, whose default event bus receives the forwarded events."},
			"CentralRoleArns": cfn{"Type": "CommaDelimitedList",
				"Description": "ARNs of the central functions' roles allowed to assume the member role (the central deployment's member_trust_role_arns output), comma-separated."},
			"ExternalId": cfn{"Type": "String", "Default": "", "AllowedPattern": "^([A-Za-z0-9+=,.@:/_-]{2,1224})?$",
				"Description": "External ID the central functions present (member_role_external_id); required by the trust policy when set."},
			"RoleName": cfn{"Type": "String", "Default": "autoremediate-member", "AllowedPattern": "^[A-Za-z0-9+=,.@_-]{1,64}$",
				"Description": "Name of the member role (the central deployment's member_role_name)."},
			"RoleRegion": cfn{"Type": "String", "AllowedPattern": "^[a-z]{2}(-[a-z]+)+-[0-9]$",
				"Description": "The one region whose stack creates the member role (IAM is global); put it first in the StackSet's region order."},
			"EnableCloudTrailPath": cfn{"Type": "String", "Default": "true", "AllowedValues": []string{"true", "false"},
				"Description": "Also forward the API calls the remediators are triggered by (the central deployment's enable_cloudtrail_path)."},
			"IgnoreActorArns": cfn{"Type": "CommaDelimitedList", "Default": "",
				"Description": "IAM role or user ARNs whose API calls are not forwarded, besides the member role's and the central roles' (the central deployment's ignore_actor_arns), comma-separated."},
			"Name": cfn{"Type": "String", "Default": "autoremediate", "AllowedPattern": "^[a-z][a-z0-9-]{0,19}$",
				"Description": "Name prefix of the forwarding rules and their role."},
		},
		Conditions: cfn{
			"IsCentralAccount": cfn{"Fn::Equals": []any{ref("AWS::AccountId"), ref("CentralAccountId")}},
			"IsCentralRegion":  cfn{"Fn::Equals": []any{ref("AWS::Region"), ref("CentralRegion")}},
			// The central account acts in itself with its functions' own
			// roles, and its own region's events are on the central bus.
			"CreateRole":         cfn{"Fn::And": []any{cfn{"Fn::Equals": []any{ref("AWS::Region"), ref("RoleRegion")}}, cfn{"Fn::Not": []any{cfn{"Condition": "IsCentralAccount"}}}}},
			"Forward":            cfn{"Fn::Not": []any{cfn{"Fn::And": []any{cfn{"Condition": "IsCentralAccount"}, cfn{"Condition": "IsCentralRegion"}}}}},
			"ForwardCloudTrail":  cfn{"Fn::And": []any{cfn{"Condition": "Forward"}, cfn{"Fn::Equals": []any{ref("EnableCloudTrailPath"), "true"}}}},
			"HasExternalId":      cfn{"Fn::Not": []any{cfn{"Fn::Equals": []any{ref("ExternalId"), ""}}}},
			"HasIgnoreActorArns": cfn{"Fn::Not": []any{cfn{"Fn::Equals": []any{cfn{"Fn::Join": []any{"", ref("IgnoreActorArns")}}, ""}}}},
		},
		Resources: resources,
		Outputs: cfn{
			"MemberRoleArn": cfn{"Condition": "CreateRole", "Description": "ARN of the member role.",
				"Value": cfn{"Fn::GetAtt": []any{"MemberRole", "Arn"}}},
			"ForwardingRoleArn": cfn{"Condition": "Forward", "Description": "ARN of the role EventBridge forwards with in this region.",
				"Value": cfn{"Fn::GetAtt": []any{"ForwardingRole", "Arn"}}},
		},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("rendering the member template: %w", err)
	}
	return buf.Bytes(), nil
}

// replaceSentinel replaces every list that is exactly [ignoreSentinel]
// with with, counting the replacements.
func replaceSentinel(v, with any, n *int) any {
	switch x := v.(type) {
	case []any:
		if len(x) == 1 && x[0] == ignoreSentinel {
			*n++
			return with
		}
		for i := range x {
			x[i] = replaceSentinel(x[i], with, n)
		}
	case map[string]any:
		for k := range x {
			x[k] = replaceSentinel(x[k], with, n)
		}
	}
	return v
}

// logicalID turns a rule key (config-conformance-pack, cloudtrail-s3) into
// a CloudFormation logical ID (ForwardConfigConformancePack,
// ForwardCloudtrailS3): letters and digits only.
func logicalID(prefix, key string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, part := range strings.FieldsFunc(key, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
