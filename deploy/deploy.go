// Package deploy drives the Terraform module in terraform/ (or any other)
// with terraform-exec: init, plan with a readable summary, confirmation,
// apply, outputs. `remediate deploy` and `remediate destroy` are built on it.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// ErrNotConfirmed is returned when the plan was not confirmed: nothing was
// applied.
var ErrNotConfirmed = errors.New("not applied: the plan was not confirmed (answer yes, or pass --auto-approve)")

// ErrTerraformMissing is returned when no terraform binary is found.
var ErrTerraformMissing = errors.New("terraform not found on PATH: install Terraform >= 1.5 (https://developer.hashicorp.com/terraform/install), " +
	"or `go install github.com/hashicorp/terraform@v1.5.7` (what `make tf-tools` does)")

// FindTerraform returns the path of the terraform binary; lookPath is
// exec.LookPath in production.
func FindTerraform(lookPath func(string) (string, error)) (string, error) {
	p, err := lookPath("terraform")
	if err != nil || p == "" {
		return "", ErrTerraformMissing
	}
	return p, nil
}

// Options is one deployment (or destruction) of a module.
type Options struct {
	// Dir is the Terraform module (root) directory.
	Dir string
	// Terraform is the path of the terraform binary.
	Terraform string
	// Vars ("name=value") and VarFiles pass through as -var and -var-file.
	Vars     []string
	VarFiles []string
	// Destroy plans the destruction of everything the state holds.
	Destroy bool
	// AutoApprove applies without asking.
	AutoApprove bool
	// Build, when set, runs before init (it brings the function zips up to
	// date).
	Build func(ctx context.Context) error
	// In answers the confirmation; Out gets the summary, the prompt and the
	// outputs; Log gets Terraform's own output.
	In       io.Reader
	Out, Log io.Writer
}

// Change is one resource the plan touches.
type Change struct {
	Address string
	// Action is create, update, replace or delete.
	Action string
}

// Summary is what a plan will do; a replacement counts in Add and Destroy,
// as Terraform counts it.
type Summary struct {
	Add, Change, Destroy int
	Changes              []Change
	// Outputs whose value changes.
	OutputChanges []string
}

// Empty reports whether the plan changes nothing.
func (s Summary) Empty() bool {
	return len(s.Changes) == 0 && len(s.OutputChanges) == 0
}

// Output is one output value of the module.
type Output struct {
	Name      string
	Value     json.RawMessage
	Sensitive bool
}

// Result is what Run did.
type Result struct {
	Plan    Summary
	Applied bool
	Outputs []Output
}

// Run initialises the module, plans, shows the summary, asks for
// confirmation (unless AutoApprove), applies the saved plan and returns the
// outputs (none after a destroy).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving module directory %q: %w", o.Dir, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("module directory %q: not a directory", o.Dir)
	}
	if o.Terraform == "" {
		return nil, ErrTerraformMissing
	}
	tf, err := tfexec.NewTerraform(dir, o.Terraform)
	if err != nil {
		return nil, fmt.Errorf("using terraform %q in %s: %w", o.Terraform, dir, err)
	}
	// Terraform's output goes to Log; its stderr is also kept to name the
	// error in what Run returns (terraform-exec does not always include it).
	stderr := &tail{max: 16 << 10}
	// Terraform's human output is progress worth showing; the JSON documents
	// terraform-exec asks for (version, show -json) are not, and the plan
	// JSON carries sensitive values in clear text.
	log := &textLines{w: o.Log}
	tf.SetStdout(log)
	tf.SetStderr(io.MultiWriter(log, stderr))
	fail := func(what string, err error) error {
		if d := stderr.diagnostic(); d != "" {
			// terraform-exec appends all of stderr (already shown on Log)
			// to the exit error: keep the exit status and the diagnostic.
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			return fmt.Errorf("%s: %w: %s", what, err, d)
		}
		return fmt.Errorf("%s: %w", what, err)
	}

	if o.Build != nil {
		if err := o.Build(ctx); err != nil {
			return nil, fmt.Errorf("building the function zips: %w", err)
		}
	}
	if err := tf.Init(ctx, tfexec.Upgrade(false)); err != nil {
		return nil, fail("terraform init in "+dir, err)
	}

	tmp, err := os.MkdirTemp("", "remediate-plan-")
	if err != nil {
		return nil, fmt.Errorf("creating a directory for the plan file: %w", err)
	}
	defer os.RemoveAll(tmp)
	planFile := filepath.Join(tmp, "tfplan")
	opts := []tfexec.PlanOption{tfexec.Out(planFile), tfexec.Destroy(o.Destroy)}
	for _, v := range o.Vars {
		if !strings.Contains(v, "=") {
			return nil, fmt.Errorf("-var %q: want name=value", v)
		}
		opts = append(opts, tfexec.Var(v))
	}
	for _, f := range o.VarFiles {
		// Terraform runs in the module directory: make the path absolute.
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("-var-file %q: %w", f, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("-var-file %q: %w", f, err)
		}
		opts = append(opts, tfexec.VarFile(abs))
	}
	if _, err := tf.Plan(ctx, opts...); err != nil {
		return nil, fail("terraform plan in "+dir, err)
	}
	plan, err := tf.ShowPlanFile(ctx, planFile)
	if err != nil {
		return nil, fail("reading the plan", err)
	}
	res := &Result{Plan: Summarize(plan)}
	WriteSummary(o.Out, res.Plan, o.Destroy)

	if !res.Plan.Empty() {
		if !o.AutoApprove {
			ok, err := confirm(o.In, o.Out, o.Destroy)
			if err != nil {
				return res, err
			}
			if !ok {
				return res, ErrNotConfirmed
			}
		}
		if err := tf.Apply(ctx, tfexec.DirOrPlan(planFile)); err != nil {
			return res, fail("terraform apply in "+dir, err)
		}
		res.Applied = true
	}
	if o.Destroy {
		if res.Applied {
			fmt.Fprintln(o.Out, "Destroyed.")
		}
		return res, nil
	}
	outs, err := tf.Output(ctx)
	if err != nil {
		return res, fail("terraform output in "+dir, err)
	}
	res.Outputs = OrderOutputs(outs)
	WriteOutputs(o.Out, res.Outputs)
	return res, nil
}

// Summarize counts the resource changes of a plan and lists them.
func Summarize(p *tfjson.Plan) Summary {
	var s Summary
	if p == nil {
		return s
	}
	for _, rc := range p.ResourceChanges {
		if rc.Change == nil || rc.Mode == tfjson.DataResourceMode {
			continue
		}
		a := rc.Change.Actions
		var action string
		switch {
		case a.Replace():
			action = "replace"
			s.Add++
			s.Destroy++
		case a.Create():
			action = "create"
			s.Add++
		case a.Update():
			action = "update"
			s.Change++
		case a.Delete():
			action = "delete"
			s.Destroy++
		default:
			continue // no-op, read
		}
		s.Changes = append(s.Changes, Change{Address: rc.Address, Action: action})
	}
	sort.Slice(s.Changes, func(i, j int) bool { return s.Changes[i].Address < s.Changes[j].Address })
	for name, oc := range p.OutputChanges {
		if oc != nil && !oc.Actions.NoOp() {
			s.OutputChanges = append(s.OutputChanges, name)
		}
	}
	sort.Strings(s.OutputChanges)
	return s
}

var actionSymbol = map[string]string{"create": "+", "update": "~", "replace": "-/+", "delete": "-"}

// WriteSummary prints the summary: the counts, then one line per resource.
func WriteSummary(w io.Writer, s Summary, destroy bool) {
	if s.Empty() {
		fmt.Fprintln(w, "No changes: the infrastructure matches the configuration.")
		return
	}
	verb := "Plan"
	if destroy {
		verb = "Destroy plan"
	}
	fmt.Fprintf(w, "%s: %d to add, %d to change, %d to destroy.\n", verb, s.Add, s.Change, s.Destroy)
	for _, c := range s.Changes {
		fmt.Fprintf(w, "  %-3s %s (%s)\n", actionSymbol[c.Action], c.Address, c.Action)
	}
	if len(s.OutputChanges) > 0 && len(s.Changes) == 0 {
		fmt.Fprintf(w, "  outputs only: %s\n", strings.Join(s.OutputChanges, ", "))
	}
}

func confirm(in io.Reader, out io.Writer, destroy bool) (bool, error) {
	if in == nil {
		return false, ErrNotConfirmed
	}
	q := "Apply these changes?"
	if destroy {
		q = "Destroy everything listed above?"
	}
	fmt.Fprintf(out, "%s Only 'yes' will be accepted: ", q)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading the confirmation: %w", err)
	}
	fmt.Fprintln(out)
	return strings.TrimSpace(line) == "yes", nil
}

// FirstOutput is printed before the others: where to look after a deploy.
const FirstOutput = "dashboard_url"

// OrderOutputs returns the outputs with FirstOutput first and the others
// by name.
func OrderOutputs(m map[string]tfexec.OutputMeta) []Output {
	out := make([]Output, 0, len(m))
	for name, meta := range m {
		out = append(out, Output{Name: name, Value: meta.Value, Sensitive: meta.Sensitive})
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == FirstOutput) != (out[j].Name == FirstOutput) {
			return out[i].Name == FirstOutput
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// WriteOutputs prints one "name = value" line per output; strings
// unquoted, sensitive values hidden.
func WriteOutputs(w io.Writer, outs []Output) {
	if len(outs) == 0 {
		return
	}
	fmt.Fprintln(w, "Outputs:")
	for _, o := range outs {
		fmt.Fprintf(w, "  %s = %s\n", o.Name, o.Display())
	}
}

// Display is the value as printed: strings unquoted, JSON otherwise.
func (o Output) Display() string {
	if o.Sensitive {
		return "(sensitive)"
	}
	var s string
	if err := json.Unmarshal(o.Value, &s); err == nil {
		return s
	}
	var b bytes.Buffer
	if err := json.Compact(&b, o.Value); err != nil {
		return string(o.Value)
	}
	return b.String()
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

// diagnostic returns the last "Error: ..." of Terraform's output with the
// lines of its paragraph after the title, joined on one line.
func (t *tail) diagnostic() string {
	text := string(t.buf)
	i := strings.LastIndex(text, "Error: ")
	if i < 0 {
		return ""
	}
	var parts []string
	blank := 0
	for _, line := range strings.Split(text[i:], "\n") {
		line = strings.TrimSpace(strings.TrimLeft(line, "│╷╵ "))
		if line == "" {
			if blank++; blank == 2 || len(parts) > 1 {
				break
			}
			continue
		}
		parts = append(parts, line)
		if len(parts) == 6 {
			break
		}
	}
	return strings.Join(parts, " ")
}

// textLines passes on whole lines of text and drops the JSON documents
// (single-line or pretty-printed) that appear among them.
type textLines struct {
	w       io.Writer
	partial []byte
	depth   int // open brackets of the JSON document being dropped
}

func (t *textLines) Write(p []byte) (int, error) {
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := t.partial[:i+1]
		t.partial = t.partial[i+1:]
		trimmed := bytes.TrimSpace(line)
		if t.depth == 0 && (len(trimmed) == 0 || (trimmed[0] != '{' && trimmed[0] != '[')) {
			if _, err := t.w.Write(line); err != nil {
				return len(p), err
			}
			continue
		}
		t.depth += bracketBalance(trimmed)
		if t.depth < 0 {
			t.depth = 0
		}
	}
}

// bracketBalance counts opening minus closing brackets outside JSON strings.
func bracketBalance(line []byte) int {
	n, inString, escaped := 0, false, false
	for _, c := range line {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			n++
		case c == '}' || c == ']':
			n--
		}
	}
	return n
}
