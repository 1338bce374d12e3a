package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/remediation"
)

// stubExempter is a stubReverter that tags: it records each exemption.
type stubExempter struct {
	*stubReverter
	exempted []remediation.ExemptRequest
}

func (s *stubExempter) Exempt(_ context.Context, req remediation.ExemptRequest) remediation.ExemptResult {
	s.exempted = append(s.exempted, req)
	return remediation.ExemptResult{Tags: map[string]string{"keep": "off"}, Reason: "tagged bucket " + req.Outcome.ResourceID + " keep=off"}
}

// By default undo asks for the exemption; --no-exempt does not, and says
// the pipeline will fix the resource again.
func TestUndoExemptsUnlessNoExempt(t *testing.T) {
	ex := &stubExempter{stubReverter: &stubReverter{reverts: map[string]remediation.Result{"ok": {Action: remediation.ActionReverted, Reason: "restored"}}}}
	reg, err := remediation.NewRegistry(ex)
	if err != nil {
		t.Fatal(err)
	}
	h := &remediation.Handler{Registry: reg, Publisher: stubPublisher{}}
	run := func(u undoRun) (int, remediation.Outcome, string) {
		t.Helper()
		ex.exempted, ex.got = nil, nil
		c, stdout, stderr := testCLI("", nil)
		code := u.all(context.Background(), c, h, []remediation.Outcome{sampleOutcome("ok", "e1")})
		var o remediation.Outcome
		if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
			t.Fatalf("stdout %q: %v", stdout.String(), err)
		}
		return code, o, stderr.String()
	}

	code, o, stderr := run(undoRun{mode: remediation.ModeEnforce, exemptKey: "keep"})
	if code != exitOK || o.Action != remediation.ActionReverted || len(ex.exempted) != 1 || ex.exempted[0].Outcome.ResourceID != "ok" {
		t.Fatalf("exit %d, outcome %+v, exempted %+v", code, o, ex.exempted)
	}
	if tags, _ := o.After[remediation.ExemptTagsKey].(map[string]any); tags["keep"] != "off" || !strings.Contains(o.Reason, "tagged bucket ok keep=off") {
		t.Errorf("outcome after %v, reason %q", o.After, o.Reason)
	}
	if !strings.Contains(stderr, "1 reverted resource(s) tagged keep=off") || !strings.Contains(stderr, "remove the tag to hand one back") ||
		strings.Contains(stderr, "fixes them again") {
		t.Errorf("stderr %q", stderr)
	}

	code, o, stderr = run(undoRun{mode: remediation.ModeEnforce, exemptKey: "keep", noExempt: true})
	if code != exitOK || o.Action != remediation.ActionReverted || len(ex.exempted) != 0 || o.After[remediation.ExemptTagsKey] != nil {
		t.Fatalf("--no-exempt: exit %d, outcome %+v, exempted %+v", code, o, ex.exempted)
	}
	if !strings.Contains(stderr, "1 reverted resource(s) not tagged (--no-exempt): the pipeline fixes them again") || !strings.Contains(stderr, "tag it keep=off") {
		t.Errorf("--no-exempt stderr %q", stderr)
	}

	// dry-run: the check only, the exemption described, no note
	ex.reverts["ok"] = remediation.Result{Action: remediation.ActionDryRun, Reason: "would restore"}
	code, o, stderr = run(undoRun{mode: remediation.ModeDryRun, exemptKey: "keep"})
	if code != exitOK || o.Action != remediation.ActionDryRun || len(ex.got) != 1 || ex.got[0].Mode != remediation.ModeDryRun ||
		len(ex.exempted) != 1 || ex.exempted[0].Mode != remediation.ModeDryRun || strings.Contains(stderr, "note:") {
		t.Errorf("dry-run: exit %d, outcome %+v, reverts %+v, exempted %+v, stderr %q", code, o, ex.got, ex.exempted, stderr)
	}
}

func TestUndoHelpNamesNoExempt(t *testing.T) {
	c, stdout, _ := testCLI("", nil)
	if code := run(context.Background(), []string{"undo", "--help"}, c); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"[--no-exempt]", "-no-exempt", "EXEMPT_TAG_KEY=off", "autoremediate:reverted-at"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help does not say %q", want)
		}
	}
}
