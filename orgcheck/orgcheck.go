// Package orgcheck verifies that member accounts are ready for the
// pipeline (`remediate org check`): for each account it assumes the member
// role, and in each region it runs the sweep's listings (the read calls the
// pipeline makes there) and asks IAM's policy simulator whether the role is
// allowed every action the enabled remediators need, without changing
// anything. Each finding says what works, what is missing and how to fix it.
package orgcheck

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
	"github.com/autoremediate/autoremediate/sweep"
)

// Permissions are the IAM statements the check needs in a member account,
// on top of the remediators' and the sweep's: the policy simulator, for the
// member role itself. The member module and the StackSet template grant
// them.
func Permissions() []remediation.Permission {
	return []remediation.Permission{{
		Sid:       "OrgCheckSimulate",
		Actions:   []string{"iam:SimulatePrincipalPolicy"},
		Resources: []string{"arn:{partition}:iam::{account}:role/*"},
	}}
}

// MemberPermissions are the IAM statements a member role grants for the
// given (enabled) remediators: their own, the sweep's listings (the sweep
// acts in members too) and the check's (Permissions), with their
// placeholders unfilled. The member module, the StackSet template and the
// check's simulation all use this list.
func MemberPermissions(defs []remediators.Definition) []remediation.Permission {
	var out []remediation.Permission
	for _, d := range defs {
		out = append(out, d.Permissions...)
	}
	out = append(out, sweep.Permissions(defs)...)
	return append(out, Permissions()...)
}

// The statuses of a finding.
const (
	StatusOK        = "ok"
	StatusMissing   = "missing"   // something the pipeline needs is not there or not allowed
	StatusUnchecked = "unchecked" // the check itself could not run; nothing is known
)

// Finding is one thing checked in one account and region.
type Finding struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// Check names what was checked: "member role", "listing S3 buckets in
	// the region", "permissions".
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// SimulateAPI is the part of the IAM client the permission check uses.
type SimulateAPI interface {
	SimulatePrincipalPolicy(ctx context.Context, in *iam.SimulatePrincipalPolicyInput, optFns ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// Scope is one account and region as the pipeline acts in it: its clients
// (with the member role's credentials in a member account) and the role.
type Scope struct {
	Account, Region string
	// Role is the member role's ARN; "" in the central account, which is
	// acted in with the functions' own roles.
	Role string
	// ActedAs is the role session's ARN.
	ActedAs string
	// Clients serve the listings; Config builds the policy simulator's
	// client.
	Clients remediators.Clients
	Config  aws.Config
}

// Scoper hands out the scope of an account and region, assuming the member
// role (session named after sessionID); its error says what is wrong with
// the member (app.Scopes.OrgCheck).
type Scoper func(ctx context.Context, account, region, sessionID string) (Scope, error)

// Checker checks member accounts.
type Checker struct {
	Scopes Scoper
	// Definitions are the enabled remediators: their permissions are
	// simulated and their listings run.
	Definitions []remediators.Definition
	// RunID names the role sessions (autoremediate-org-check-<RunID>).
	RunID string
	// Concurrency bounds the account-regions checked at once (8 when 0).
	Concurrency int
	// Simulator returns the policy simulator client of a scope (the
	// scope's IAM client when nil).
	Simulator func(sc Scope) SimulateAPI
	// Progress, when set, is called after each account-region.
	Progress func(done, total int)
}

// Run checks every account in every region and returns the findings,
// ordered by account, region and check.
func (c *Checker) Run(ctx context.Context, accounts, regions []string) []Finding {
	type job struct{ account, region string }
	var jobs []job
	for _, a := range accounts {
		for _, r := range regions {
			jobs = append(jobs, job{a, r})
		}
	}
	n := c.Concurrency
	if n <= 0 {
		n = 8
	}
	var (
		mu   sync.Mutex
		out  []Finding
		done int
		wg   sync.WaitGroup
		sem  = make(chan struct{}, n)
	)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fs := c.check(ctx, j.account, j.region)
			mu.Lock()
			out = append(out, fs...)
			done++
			if c.Progress != nil {
				c.Progress(done, len(jobs))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	order := map[string]int{}
	for i, j := range jobs {
		order[j.account+"/"+j.region] = i
	}
	sort.SliceStable(out, func(i, k int) bool {
		return order[out[i].Account+"/"+out[i].Region] < order[out[k].Account+"/"+out[k].Region]
	})
	return out
}

func (c *Checker) check(ctx context.Context, account, region string) []Finding {
	f := func(check, status, detail string) Finding {
		return Finding{Account: account, Region: region, Check: check, Status: status, Detail: detail}
	}
	sc, err := c.Scopes(ctx, account, region, "org-check-"+c.RunID)
	if err != nil {
		return []Finding{f("member role", StatusMissing, err.Error())}
	}
	var out []Finding
	if sc.Role == "" {
		out = append(out, f("member role", StatusOK, "the central account itself: acted in with the functions' own roles (no member role needed)"))
	} else {
		detail := "assumed " + sc.Role
		if sc.ActedAs != "" {
			detail += " as " + sc.ActedAs
		}
		out = append(out, f("member role", StatusOK, detail))
	}
	seen := map[string]bool{}
	for _, d := range c.Definitions {
		for _, chk := range d.Sweep {
			l := chk.Lister
			if seen[l.Key] {
				continue
			}
			seen[l.Key] = true
			what := "listing " + cmp.Or(l.Description, l.ResourceType)
			ids, err := l.List(ctx, sc.Clients, account, region)
			switch {
			case err == nil:
				out = append(out, f(what, StatusOK, fmt.Sprintf("%d found", len(ids))))
			case awserr.Denied(err):
				out = append(out, f(what, StatusMissing, fmt.Sprintf("%s is not allowed %s: %v", roleName(sc), cmp.Or(awserr.Action(err), "a listing call"), err)))
			default:
				out = append(out, f(what, StatusUnchecked, err.Error()))
			}
		}
	}
	if sc.Role != "" {
		out = append(out, c.simulate(ctx, sc, f))
	}
	return out
}

// simulate asks IAM's policy simulator, as the member role, whether the
// role may call every action of the enabled remediators (on the resources
// they name, in this region) and of the check itself.
func (c *Checker) simulate(ctx context.Context, sc Scope, f func(check, status, detail string) Finding) Finding {
	const what = "permissions"
	sim := SimulateAPI(nil)
	if c.Simulator != nil {
		sim = c.Simulator(sc)
	} else {
		// One retry: the check runs for every account-region, and a
		// simulator that fails twice will not answer on the twentieth.
		sim = iam.NewFromConfig(sc.Config, func(o *iam.Options) { o.RetryMaxAttempts = 2 })
	}
	partition := strings.Split(sc.Role, ":")[1]
	perms := MemberPermissions(c.Definitions)
	var missing, withContext []string
	checked := 0
	for _, p := range perms {
		in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(sc.Role), ActionNames: p.Actions}
		for _, r := range p.Resources {
			if r != "*" {
				in.ResourceArns = append(in.ResourceArns, remediation.ExpandResource(r, partition, sc.Region, sc.Account))
			}
		}
		// A conditioned statement matches only a request that carries the
		// condition keys: without them the simulator answers implicitDeny
		// for what the role does allow.
		if entries, said := ContextEntries(remediation.ExpandConditions(p.Conditions, partition, sc.Region, sc.Account)); len(said) > 0 {
			in.ContextEntries = entries
			withContext = append(withContext, strings.Join(p.Actions, ", ")+" with "+strings.Join(said, ", "))
		}
		pages := iam.NewSimulatePrincipalPolicyPaginator(sim, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				if awserr.Denied(err) {
					return f(what, StatusMissing, fmt.Sprintf("%s may not use IAM's policy simulator on itself (iam:SimulatePrincipalPolicy), so its permissions cannot be checked: update the member stack in account %s: %v", roleName(sc), sc.Account, err))
				}
				return f(what, StatusUnchecked, fmt.Sprintf("IAM's policy simulator did not answer about %s (%s), so its permissions are not checked: %v", sc.Role, cmp.Or(awserr.Code(err), "no AWS error code"), err))
			}
			for _, r := range page.EvaluationResults {
				checked++
				if r.EvalDecision != "allowed" {
					missing = append(missing, aws.ToString(r.EvalActionName)+" ("+string(r.EvalDecision)+")")
				}
			}
		}
	}
	ctxNote := ""
	if len(withContext) > 0 {
		ctxNote = " (conditioned actions simulated with the context their conditions ask for: " + strings.Join(withContext, "; ") + ")"
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		return f(what, StatusMissing, fmt.Sprintf("%s is not allowed %s: update the member stack in account %s (terraform/modules/member, or the StackSet template) so that it grants the enabled remediators' permissions%s",
			roleName(sc), strings.Join(missing, ", "), sc.Account, ctxNote))
	}
	return f(what, StatusOK, fmt.Sprintf("all %d simulated action-resource pairs allowed%s", checked, ctxNote))
}

// ContextEntries returns the context keys of a request that the
// conditions (placeholders filled) match, for IAM's policy simulator, and
// says what it set ("kms:ViaService=ec2.eu-west-1.amazonaws.com"). A key
// under a negated operator, or under Null "true", is left out: IAM's
// negated operators match a request without the key. A *Like pattern is
// matched by the value with its wildcards replaced by "x"; Null "false" by
// any value.
func ContextEntries(cs []remediation.Condition) ([]iamtypes.ContextEntry, []string) {
	var (
		out  []iamtypes.ContextEntry
		said []string
		seen = map[string]bool{}
	)
	for _, c := range cs {
		test := c.Test
		for _, p := range []string{"ForAnyValue:", "ForAllValues:"} {
			test = strings.TrimPrefix(test, p)
		}
		test = strings.TrimSuffix(test, "IfExists")
		if len(c.Values) == 0 || seen[c.Variable] || strings.Contains(test, "Not") {
			continue
		}
		v := c.Values[0]
		typ := iamtypes.ContextKeyTypeEnumString
		switch {
		case test == "Null":
			if v != "false" {
				continue
			}
			v = "present"
		case test == "Bool":
			typ = iamtypes.ContextKeyTypeEnumBoolean
		case strings.HasPrefix(test, "Numeric"):
			typ = iamtypes.ContextKeyTypeEnumNumeric
		case strings.HasPrefix(test, "Date"):
			typ = iamtypes.ContextKeyTypeEnumDate
		case test == "IpAddress":
			typ = iamtypes.ContextKeyTypeEnumIp
			v, _, _ = strings.Cut(v, "/")
		case strings.HasSuffix(test, "Like"):
			v = strings.NewReplacer("*", "x", "?", "x").Replace(v)
		}
		seen[c.Variable] = true
		out = append(out, iamtypes.ContextEntry{ContextKeyName: aws.String(c.Variable), ContextKeyType: typ, ContextKeyValues: []string{v}})
		said = append(said, c.Variable+"="+v)
	}
	return out, said
}

func roleName(sc Scope) string {
	if sc.Role == "" {
		return "the function's role"
	}
	return "the member role " + sc.Role
}

// Failed reports whether any finding is missing (what `remediate org check`
// exits non-zero for); unchecked findings are warnings.
func Failed(fs []Finding) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Status == StatusMissing })
}
