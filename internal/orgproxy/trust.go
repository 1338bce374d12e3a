package orgproxy

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// caller is who asks to assume a role, as a trust policy sees it.
type caller struct {
	// Account is the caller's account (aws:PrincipalAccount).
	Account string
	// PrincipalARN is aws:PrincipalArn: a role's ARN (with its path) for
	// a session of that role, the user's ARN for an IAM user.
	PrincipalARN string
	// ARN is what STS names the caller by in its denial message: the
	// session ARN (arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION) for an
	// assumed role, the user's ARN for a user.
	ARN string
}

// assumeRequest is what an AssumeRole call gives the trust policy to
// evaluate besides the caller.
type assumeRequest struct {
	ExternalID  string // "" when the call passes none
	SessionName string
}

// trustPolicy is an IAM role's trust policy (AssumeRolePolicyDocument).
type trustPolicy struct {
	Statement statements
}

type statement struct {
	Effect       string
	Principal    *principal
	NotPrincipal json.RawMessage
	Action       stringList
	NotAction    json.RawMessage
	Condition    map[string]map[string]stringList
}

// statements is a policy's Statement: one statement or a list of them.
type statements = oneOrMany[statement]

// stringList is a policy value that is one string or a list of strings.
type stringList = oneOrMany[string]

// oneOrMany is a policy element that IAM takes as one value or a list of
// them.
type oneOrMany[T any] []T

func (l *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '[' && string(b) != "null" {
		var one T
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*l = oneOrMany[T]{one}
		return nil
	}
	var many []T
	err := json.Unmarshal(b, &many)
	*l = many
	return err
}

// principal is a statement's Principal: "*" or {"AWS": ..., "Service": ...}.
type principal struct {
	Any bool
	AWS stringList
}

func (p *principal) UnmarshalJSON(b []byte) error {
	if string(b) == `"*"` {
		p.Any = true
		return nil
	}
	var m map[string]stringList
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("a Principal is \"*\" or an object: %w", err)
	}
	p.AWS = m["AWS"]
	return nil
}

// parseTrustPolicy reads a trust policy as IAM returns it: GetRole's
// AssumeRolePolicyDocument is URL-encoded JSON (moto returns it as plain
// JSON; both are read).
func parseTrustPolicy(doc string) (trustPolicy, error) {
	var p trustPolicy
	if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
		decoded, err := url.QueryUnescape(doc)
		if err != nil {
			return p, fmt.Errorf("the trust policy is neither JSON nor URL-encoded JSON: %w", err)
		}
		doc = decoded
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return p, fmt.Errorf("reading the trust policy: %w", err)
	}
	return p, nil
}

// admits evaluates the policy for sts:AssumeRole by c as IAM does for a
// role's trust policy: an explicit Deny wins, else one matching Allow
// admits, else the call is denied. The caller's own policies are taken to
// allow sts:AssumeRole (the central functions' roles do).
//
// What the stand-in does not evaluate admits no one: NotPrincipal and
// NotAction statements, Service and Federated principals, and condition
// operators other than the String and Arn ones. Condition keys it knows:
// aws:PrincipalArn, aws:PrincipalAccount, sts:ExternalId and
// sts:RoleSessionName; any other key is absent from the request (so only
// ...IfExists and the Not operators can hold on it).
func (p trustPolicy) admits(c caller, req assumeRequest) bool {
	allowed := false
	for _, s := range p.Statement {
		if !s.applies(c, req) {
			continue
		}
		switch s.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

func (s statement) applies(c caller, req assumeRequest) bool {
	if s.NotPrincipal != nil || s.NotAction != nil || s.Principal == nil {
		return false
	}
	if !s.Principal.matches(c) {
		return false
	}
	action := false
	for _, a := range s.Action {
		if glob(strings.ToLower(a), "sts:assumerole") {
			action = true
		}
	}
	if !action {
		return false
	}
	keys := map[string]string{
		"aws:principalarn":     c.PrincipalARN,
		"aws:principalaccount": c.Account,
		"sts:rolesessionname":  req.SessionName,
	}
	if req.ExternalID != "" {
		keys["sts:externalid"] = req.ExternalID
	}
	for op, conds := range s.Condition {
		for key, values := range conds {
			v, present := keys[strings.ToLower(key)]
			if !condition(op, v, present, values) {
				return false
			}
		}
	}
	return true
}

// matches reports whether the Principal names the caller: "*", the
// caller's account (its root ARN or its ID), or its own ARN (the role's,
// for a session of it, or the session's).
func (p *principal) matches(c caller) bool {
	if p.Any {
		return true
	}
	for _, v := range p.AWS {
		switch {
		case v == "*", v == c.Account, v == c.PrincipalARN, v == c.ARN:
			return true
		case strings.HasPrefix(v, "arn:") && strings.HasSuffix(v, ":root") && arnAccount(v) == c.Account:
			return true
		}
	}
	return false
}

// condition evaluates one condition operator on one key: the key's value
// (present or not) against the policy's values, any of which may match.
func condition(op, value string, present bool, values stringList) bool {
	base, ifExists := strings.CutSuffix(op, "IfExists")
	if !present {
		// A missing key satisfies ...IfExists and the negated operators
		// only.
		return ifExists || strings.Contains(base, "Not")
	}
	var match func(pattern, v string) bool
	negate := false
	switch base {
	case "StringEquals":
		match = func(p, v string) bool { return p == v }
	case "StringNotEquals":
		match, negate = func(p, v string) bool { return p == v }, true
	case "StringEqualsIgnoreCase":
		match = strings.EqualFold
	case "StringLike":
		match = glob
	case "StringNotLike":
		match, negate = glob, true
	case "ArnEquals", "ArnLike":
		match = arnLike
	case "ArnNotEquals", "ArnNotLike":
		match, negate = arnLike, true
	default:
		return false
	}
	matched := false
	for _, p := range values {
		if match(p, value) {
			matched = true
			break
		}
	}
	return matched != negate
}

// arnLike matches an ARN against a pattern component by component (the
// six colon-separated parts), each with * and ? wildcards; ArnEquals
// matches the same way.
func arnLike(pattern, a string) bool {
	pp, ap := strings.SplitN(pattern, ":", 6), strings.SplitN(a, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return false
	}
	for i := range pp {
		if !glob(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// glob matches s against a pattern with * (any run of characters, / and :
// included) and ? (one character).
func glob(pattern, s string) bool {
	// path.Match's * stops at '/': escape the slashes away on both sides.
	const slash = "\x00"
	p := strings.ReplaceAll(pattern, "/", slash)
	for _, special := range []string{`\`, "[", "]"} {
		p = strings.ReplaceAll(p, special, `\`+special)
	}
	ok, err := path.Match(p, strings.ReplaceAll(s, "/", slash))
	return err == nil && ok
}

// arnAccount is the account field of an ARN ("" when it has none).
func arnAccount(a string) string {
	parts := strings.SplitN(a, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
