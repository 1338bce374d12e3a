package remediators

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/autoremediate/autoremediate/remediation"
)

// The Revert methods read an outcome's before and after in either form:
// as a remediator returned them (bool, string, int32, []map[string]any) or
// as they come back from the outcome's JSON (bool, string, float64,
// []any of map[string]any).

// missingBefore is the failed result of an outcome whose before lacks what
// the revert needs.
func missingBefore(remediator string, o remediation.Outcome, what string) remediation.Result {
	return remediation.Failed(nil, fmt.Errorf("reverting %s on %s %q: the outcome's before has no %s, which undo needs to restore it (an outcome recorded by an older version, or edited)",
		remediator, o.ResourceType, o.ResourceID, what))
}

// stateBool reads a boolean field of a before/after map.
func stateBool(m map[string]any, key string) (bool, bool) {
	b, ok := m[key].(bool)
	return b, ok
}

// stateString reads a string field of a before/after map.
func stateString(m map[string]any, key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

// stateInt reads a whole number of a before/after map: any Go integer
// type, or a float64 without a fraction (JSON).
func stateInt(m map[string]any, key string) (int64, bool) {
	return asInt(m[key])
}

func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// stateList reads a list of objects of a before/after map.
func stateList(m map[string]any, key string) ([]map[string]any, bool) {
	switch l := m[key].(type) {
	case []map[string]any:
		return l, true
	case []any:
		out := make([]map[string]any, 0, len(l))
		for _, v := range l {
			o, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			out = append(out, o)
		}
		return out, true
	}
	return nil, false
}

// normalized is v as its JSON would read back, so that values from a
// remediator and from an outcome's JSON compare equal.
func normalized(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// changedSince lists the fields, of keys, in which the resource as read now
// differs from what the outcome left (its after); none when it is as the
// outcome left it.
func changedSince(now, after map[string]any, keys ...string) []string {
	var diffs []string
	for _, k := range keys {
		n, a := normalized(now[k]), normalized(after[k])
		if !reflect.DeepEqual(n, a) {
			diffs = append(diffs, fmt.Sprintf("%s is %s, the outcome left %s", k, show(n), show(a)))
		}
	}
	return diffs
}

func show(v any) string {
	if v == nil {
		return "(none)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// refuseChanged is the result of a revert that finds the resource changed
// since the outcome: nothing is written, a person decides (--force).
func refuseChanged(what string, now map[string]any, diffs []string) remediation.Result {
	return remediation.Result{Action: remediation.ActionNeedsManual, Before: now, After: now,
		Reason: fmt.Sprintf("not reverted: %s changed since the outcome (%s); check who changed it and why, then undo with --force to restore the outcome's before anyway",
			what, strings.Join(diffs, "; "))}
}

// wrapIf names the action and resource of a failed call; nil stays nil.
func wrapIf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
