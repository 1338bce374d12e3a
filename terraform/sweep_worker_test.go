package terraform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/sweep"
)

// fanOut are the variables that make the sweep fan out over the
// organisation.
func fanOut() map[string]cty.Value {
	return map[string]cty.Value{"sweep_accounts": cty.StringVal("all"), "sweep_regions": cty.StringVal("eu-west-1,us-east-1")}
}

// TestSweepFanOutPoliciesMatchCode: with the sweep fanning out, the
// planner's statements are exactly sweep.PlannerActions() (the accounts
// and regions on "*", the queue's send on the sweep queue) and the
// worker's queue statement exactly sweep.WorkerQueueActions() on the sweep
// queue; without it, neither grants anything and no worker is deployed.
func TestSweepFanOutPoliciesMatchCode(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, fanOut())
	planner, _ := docStatements(t, e, "sweep_planner")
	if d := sameSet(allActions(planner), sweep.PlannerActions()); d != "" {
		t.Errorf("sweep_planner vs sweep.PlannerActions(): %s", d)
	}
	checkScoped(t, "sweep_planner", planner)
	for _, s := range planner {
		if slices.Contains(s.actions, "sqs:SendMessage") && !slices.Equal(s.resources, []string{"?"}) {
			t.Errorf("sweep_planner: statement %s sends to %v, want the sweep queue only", s.sid, s.resources)
		}
	}
	queue, _ := docStatements(t, e, "sweep_worker_queue")
	if d := sameSet(allActions(queue), sweep.WorkerQueueActions()); d != "" || len(queue) != 1 {
		t.Errorf("sweep_worker_queue vs sweep.WorkerQueueActions(): %s (%d statements)", d, len(queue))
	}
	checkScoped(t, "sweep_worker_queue", queue)
	// The statements on the queue name it (the evaluator leaves the ARN
	// unknown, so the expression is read instead).
	for _, doc := range []string{"sweep_planner", "sweep_worker_queue"} {
		for _, b := range m.block(t, "data", "aws_iam_policy_document", doc).Body.Blocks {
			content := findBlock(b.Body, "content")
			res := content.Body.Attributes["resources"].Expr
			if !exprIsWildcard(res) && !refersToAddr(res, "aws_sqs_queue.sweep.arn") {
				t.Errorf("%s: statement at %s is on %s, want the sweep queue", doc, b.Range(), m.source(t, res.Range()))
			}
		}
	}
	if fns := ctyStrings(t, "local.functions", e.local("functions")); !slices.Contains(fns, "sweepworker") {
		t.Errorf("functions %v: no sweepworker with the sweep fanning out", fns)
	}

	off := newEval(t, m, nil)
	for _, doc := range []string{"sweep_planner", "sweep_worker_queue"} {
		if ss, _ := docStatements(t, off, doc); len(ss) > 0 {
			t.Errorf("%s grants %v without the organisation sweep", doc, statementStrings(ss))
		}
	}
	if fns := ctyStrings(t, "local.functions", off.local("functions")); slices.Contains(fns, "sweepworker") {
		t.Errorf("functions %v: a sweepworker without the organisation sweep", fns)
	}
	env := off.local("sweep_environment")
	for name, v := range env.AsValueMap() {
		if v.AsString() != "" {
			t.Errorf("without the organisation sweep, %s=%q; the sweep reads any value as organisation mode", name, v.AsString())
		}
	}
	// Without the sweep, no fan-out either.
	noSweep := map[string]cty.Value{"enable_sweep": cty.False}
	for k, v := range fanOut() {
		noSweep[k] = v
	}
	if newEval(t, m, noSweep).local("sweep_fanout").True() {
		t.Error("sweep_fanout with enable_sweep = false")
	}
}

// TestSweepQueueAndMapping: the worker takes one account-region per
// invocation from the sweep queue, reporting failed messages, which go to
// the sweep dead-letter queue after sweep_max_receives deliveries; both
// queues are encrypted with the module's key; the queue's visibility
// timeout is at least the worker's timeout (Lambda refuses the mapping
// otherwise), six times it as Lambda advises.
func TestSweepQueueAndMapping(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, fanOut())
	esm := m.block(t, "resource", "aws_lambda_event_source_mapping", "sweep")
	if v, _ := e.attr(esm.Body, "batch_size", nil); !v.Equals(cty.NumberIntVal(1)).True() {
		t.Errorf("batch_size %#v, want 1", v)
	}
	if v, _ := e.attr(esm.Body, "function_response_types", nil); !slices.Equal(ctyStrings(t, "function_response_types", v), []string{"ReportBatchItemFailures"}) {
		t.Errorf("function_response_types %#v, want ReportBatchItemFailures", v)
	}
	if !refersToAddr(esm.Body.Attributes["event_source_arn"].Expr, "aws_sqs_queue.sweep.arn") ||
		!strings.Contains(m.source(t, esm.Body.Attributes["function_name"].Expr.Range()), `function["sweepworker"]`) {
		t.Errorf("the mapping is from %s to %s, want the sweep queue to the sweepworker function",
			m.source(t, esm.Body.Attributes["event_source_arn"].Expr.Range()), m.source(t, esm.Body.Attributes["function_name"].Expr.Range()))
	}
	sc := findBlock(esm.Body, "scaling_config")
	if sc == nil || !referencesVar(sc.Body.Attributes["maximum_concurrency"].Expr, "sweep_worker_concurrency") {
		t.Error("the mapping's maximum concurrency is not sweep_worker_concurrency")
	}
	for _, q := range []string{"sweep", "sweep_dead_letters"} {
		b := m.block(t, "resource", "aws_sqs_queue", q)
		if !refersToAddr(b.Body.Attributes["kms_master_key_id"].Expr, "aws_kms_key.main") {
			t.Errorf("aws_sqs_queue.%s is not encrypted with the module's key", q)
		}
	}
	q := m.block(t, "resource", "aws_sqs_queue", "sweep")
	redrive := q.Body.Attributes["redrive_policy"].Expr
	if !refersToAddr(redrive, "aws_sqs_queue.sweep_dead_letters.arn") || !referencesVar(redrive, "sweep_max_receives") {
		t.Errorf("the sweep queue's redrive policy %s: want the sweep dead-letter queue after sweep_max_receives", m.source(t, redrive.Range()))
	}
	for _, timeout := range []int64{60, 300, 900} {
		vars := fanOut()
		vars["sweep_timeout_seconds"] = cty.NumberIntVal(timeout)
		v, _ := newEval(t, m, vars).attr(q.Body, "visibility_timeout_seconds", nil)
		got, _ := v.AsBigFloat().Int64()
		if got < min(6*timeout, 43200) || got > 43200 {
			t.Errorf("sweep_timeout_seconds %d: visibility timeout %d, want 6 times it (SQS's maximum 43200)", timeout, got)
		}
	}
	settings := objectItems(t, "local.function_settings", m.local(t, "function_settings"))
	w := objectItems(t, "local.function_settings.sweepworker", settings["sweepworker"])
	if !referencesVar(w["timeout"], "sweep_timeout_seconds") {
		t.Error("the worker's timeout is not sweep_timeout_seconds, which the queue's visibility timeout is made from")
	}
	// The key lets the worker read the queue and the planner send to it:
	// both roles are in aws_iam_role.function, whose roles may use the key
	// through SQS (FunctionsUseKey).
	found := false
	for _, s := range m.block(t, "data", "aws_iam_policy_document", "kms").Body.Blocks {
		if sid, _ := e.attr(s.Body, "sid", nil); s.Type == "statement" && sid.AsString() == "FunctionsUseKey" {
			found = strings.Contains(m.source(t, findBlock(s.Body, "principals").Body.Attributes["identifiers"].Expr.Range()), "aws_iam_role.function")
		}
	}
	if !found {
		t.Error("the key policy's FunctionsUseKey statement is not for every function's role")
	}
}

// TestSweepTargetVariablesAgreeWithCode: sweep_accounts and sweep_regions
// accept exactly what SWEEP_ACCOUNTS and SWEEP_REGIONS accept (bar the
// spaces Terraform removes).
func TestSweepTargetVariablesAgreeWithCode(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	for _, v := range []string{"", "all", "111122223333", "111122223333,444455556666", "11112222333", "ALL", "111122223333,", ",111122223333,,444455556666", ",", "all,111122223333", "x"} {
		if tf, code := validation(t, m, "sweep_accounts", cty.StringVal(v)), app.CheckSweepAccounts(v) == nil; tf != code {
			t.Errorf("sweep_accounts %q: Terraform accepts it: %t, the code: %t", v, tf, code)
		}
	}
	for _, v := range []string{"", "all", "eu-west-1", "eu-west-1,us-gov-west-1", "Ireland", "eu-west-1,", ",", "eu-west", "all,eu-west-1"} {
		if tf, code := validation(t, m, "sweep_regions", cty.StringVal(v)), app.CheckSweepRegions(v) == nil; tf != code {
			t.Errorf("sweep_regions %q: Terraform accepts it: %t, the code: %t", v, tf, code)
		}
	}
}

// TestTfsecCleanWithSweepFanOut: with the sweep fanning out (its
// resources have count 0 otherwise, and tfsec skips them), tfsec finds
// nothing; and it does look at them: a sweep queue without its key is
// found.
func TestTfsecCleanWithSweepFanOut(t *testing.T) {
	tfsec, err := exec.LookPath("tfsec")
	if err != nil {
		t.Skip("tfsec is not on PATH (make tf-tools installs it)")
	}
	vars := filepath.Join(t.TempDir(), "fanout.tfvars")
	if err := os.WriteFile(vars, []byte("sweep_accounts = \"all\"\nsweep_regions = \"all\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	findings := func(dir string) []string {
		out, err := exec.Command(tfsec, dir, "--no-colour", "--format", "json", "--minimum-severity", "LOW", "--tfvars-file", vars).Output()
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			t.Fatalf("running tfsec: %v", err)
		}
		var res struct {
			Results []struct {
				LongID   string `json:"long_id"`
				Location struct {
					Filename  string `json:"filename"`
					StartLine int    `json:"start_line"`
				} `json:"location"`
			} `json:"results"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("reading tfsec's JSON: %v\n%s", err, out)
		}
		var found []string
		for _, r := range res.Results {
			found = append(found, fmt.Sprintf("%s at %s:%d", r.LongID, filepath.Base(r.Location.Filename), r.Location.StartLine))
		}
		return found
	}
	if got := findings(moduleDir(t)); len(got) > 0 {
		t.Errorf("tfsec with the sweep fanning out: %v", got)
	}
	dir := copyModule(t)
	tf := filepath.Join(dir, "sweep_worker.tf")
	b, err := os.ReadFile(tf)
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(b, []byte(`resource "aws_sqs_queue" "sweep_dead_letters" {`))
	key := regexp.MustCompile(`\n\s*kms_master_key_id\s*=[^\n]*`).FindIndex(b[max(start, 0):])
	if start < 0 || key == nil {
		t.Fatal("the sweep dead-letter queue's kms_master_key_id was not found to take out")
	}
	unencrypted := slices.Concat(b[:start+key[0]], b[start+key[1]:])
	if err := os.WriteFile(tf, unencrypted, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := findings(dir); !slices.ContainsFunc(got, func(f string) bool { return strings.HasPrefix(f, "aws-sqs-enable-queue-encryption at sweep_worker.tf") }) {
		t.Errorf("tfsec does not see the sweep queues: with the dead-letter queue unencrypted it found %v", got)
	}
}
