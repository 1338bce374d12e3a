package state

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autoremediate/autoremediate/remediation"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeDB answers with the test's functions and checks what every request
// has in common: the table, a prefixed key, strongly consistent reads, and
// expressions whose placeholders are all defined and all used (DynamoDB
// refuses a request with an unused one).
type fakeDB struct {
	t      *testing.T
	calls  []string // operation and resolved key, in order
	get    func(in *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error)
	put    func(in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error)
	update func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
}

func (f *fakeDB) check(op, table string, key map[string]types.AttributeValue) {
	f.t.Helper()
	if table != "state" {
		f.t.Errorf("%s on table %q", op, table)
	}
	k := getStr(key, KeyAttribute)
	if len(key) != 1 || !(strings.HasPrefix(k, "event#") || strings.HasPrefix(k, "resource#")) {
		f.t.Errorf("%s key %v: want only pk, with an event# or resource# prefix", op, key)
	}
	f.calls = append(f.calls, op+" "+k)
}

func (f *fakeDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.t.Helper()
	f.check("GetItem", aws.ToString(in.TableName), in.Key)
	if !aws.ToBool(in.ConsistentRead) {
		f.t.Error("GetItem without ConsistentRead")
	}
	if f.get == nil {
		f.t.Fatal("unexpected GetItem")
	}
	return f.get(in)
}

func (f *fakeDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.t.Helper()
	f.check("PutItem", aws.ToString(in.TableName), map[string]types.AttributeValue{KeyAttribute: in.Item[KeyAttribute]})
	resolve(f.t, in.ExpressionAttributeNames, in.ExpressionAttributeValues, aws.ToString(in.ConditionExpression))
	if f.put == nil {
		f.t.Fatal("unexpected PutItem")
	}
	return f.put(in)
}

func (f *fakeDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.t.Helper()
	f.check("UpdateItem", aws.ToString(in.TableName), in.Key)
	resolve(f.t, in.ExpressionAttributeNames, in.ExpressionAttributeValues, aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression))
	if in.ConditionExpression == nil {
		f.t.Error("UpdateItem without a condition")
	}
	if f.update == nil {
		f.t.Fatal("unexpected UpdateItem")
	}
	return f.update(in)
}

var placeholder = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)

// resolve returns the expressions with their placeholders replaced by what
// they stand for (strings quoted), failing the test on an undefined or an
// unused placeholder.
func resolve(t *testing.T, names map[string]string, values map[string]types.AttributeValue, exprs ...string) []string {
	t.Helper()
	used := map[string]bool{}
	var out []string
	for _, e := range exprs {
		out = append(out, placeholder.ReplaceAllStringFunc(e, func(p string) string {
			used[p] = true
			if p[0] == '#' {
				n, ok := names[p]
				if !ok {
					t.Errorf("%s is not defined in %q", p, e)
				}
				return n
			}
			v, ok := values[p]
			if !ok {
				t.Errorf("%s is not defined in %q", p, e)
			}
			return show(v)
		}))
	}
	for n := range names {
		if !used[n] {
			t.Errorf("ExpressionAttributeNames %s unused in %q", n, exprs)
		}
	}
	for v := range values {
		if !used[v] {
			t.Errorf("ExpressionAttributeValues %s unused in %q", v, exprs)
		}
	}
	return out
}

func show(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return fmt.Sprintf("%q", v.Value)
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberBOOL:
		return fmt.Sprint(v.Value)
	case *types.AttributeValueMemberL:
		var parts []string
		for _, e := range v.Value {
			parts = append(parts, show(e))
		}
		return "[" + strings.Join(parts, " ") + "]"
	case *types.AttributeValueMemberM:
		var parts []string
		for k, e := range v.Value {
			parts = append(parts, k+":"+show(e))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, " ") + "}"
	}
	return fmt.Sprintf("%T", v)
}

func newFake(t *testing.T) (*fakeDB, *Store) {
	f := &fakeDB{t: t}
	s := New(f, "state")
	s.Now = func() time.Time { return t0 }
	return f, s
}

var errCCF = &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}

func ms(t time.Time) string   { return fmt.Sprint(t.UnixMilli()) }
func secs(t time.Time) string { return fmt.Sprint(t.Unix()) }

func TestClaimWritesAConditionalPut(t *testing.T) {
	f, s := newFake(t)
	var put *dynamodb.PutItemInput
	f.put = func(in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
		put = in
		return &dynamodb.PutItemOutput{}, nil
	}
	c, err := s.Claim(context.Background(), "k1", "me", 90*time.Second)
	if err != nil || !c.Owned {
		t.Fatalf("Claim = %+v, %v; want owned", c, err)
	}
	cond := resolve(t, put.ExpressionAttributeNames, put.ExpressionAttributeValues, aws.ToString(put.ConditionExpression))[0]
	want := `attribute_not_exists(pk) OR (status = "claimed" AND leaseUntil < ` + ms(t0) + `) OR action = "failed"`
	if cond != want {
		t.Errorf("condition\n%s\nwant\n%s", cond, want)
	}
	item := map[string]string{}
	for k, v := range put.Item {
		item[k] = show(v)
	}
	wantItem := map[string]string{
		"pk": `"event#k1"`, "status": `"claimed"`, "owner": `"me"`, "leaseUntil": ms(t0.Add(90 * time.Second)),
		"published": "false", "expiresAt": secs(t0.Add(14 * 24 * time.Hour)),
	}
	if fmt.Sprint(item) != fmt.Sprint(wantItem) {
		t.Errorf("item %v\nwant %v", item, wantItem)
	}
}

func eventItem(attrs map[string]types.AttributeValue) *dynamodb.GetItemOutput {
	return &dynamodb.GetItemOutput{Item: attrs}
}

func TestClaimRefusedReadsWhatIsRecorded(t *testing.T) {
	recorded := sampleOutcome(remediation.ActionRemediated)
	body := `{"remediator":"s3-public-access-block","action":"remediated","actor":"arn:aws:iam::123456789012:role/Admin/alice","before":{},"after":{}}`
	for _, tc := range []struct {
		name string
		item map[string]types.AttributeValue
		want remediation.Claim
	}{
		{"another owner's live lease", map[string]types.AttributeValue{"status": str("claimed"), "owner": str("other"), "leaseUntil": num(t0.Add(time.Minute).UnixMilli())},
			remediation.Claim{LeaseUntil: t0.Add(time.Minute)}},
		// The SDK retried the put after a lost answer: the claim is ours.
		{"our own claim", map[string]types.AttributeValue{"status": str("claimed"), "owner": str("me"), "leaseUntil": num(t0.Add(time.Minute).UnixMilli())},
			remediation.Claim{Owned: true}},
		{"a recorded outcome", map[string]types.AttributeValue{"status": str("done"), "owner": str("other"), "outcome": str(body), "action": str("remediated"),
			"published":  &types.AttributeValueMemberBOOL{Value: true},
			"detectedAt": str("2026-03-01T12:00:00.123456789Z"), "completedAt": str("2026-03-01T12:00:04.987654321Z")},
			remediation.Claim{Done: true, Published: true, Outcome: remediation.Outcome{Remediator: "s3-public-access-block", Action: "remediated",
				Actor: recorded.Actor, Before: map[string]any{}, After: map[string]any{}, DetectedAt: recorded.DetectedAt, CompletedAt: recorded.CompletedAt}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s := newFake(t)
			f.put = func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) { return nil, errCCF }
			f.get = func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) { return eventItem(tc.item), nil }
			c, err := s.Claim(context.Background(), "k1", "me", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(c) != fmt.Sprint(tc.want) {
				t.Errorf("Claim = %+v\nwant %+v", c, tc.want)
			}
			if want := "PutItem event#k1,GetItem event#k1"; strings.Join(f.calls, ",") != want {
				t.Errorf("calls %v, want %s", f.calls, want)
			}
		})
	}
}

// The put is refused, and by the time of the read the item no longer
// refuses it (the lease ran out, or TTL deleted it): the claim is tried
// again.
func TestClaimRetriesWhenTheItemChanged(t *testing.T) {
	f, s := newFake(t)
	puts := 0
	f.put = func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
		puts++
		if puts < 3 {
			return nil, errCCF
		}
		return &dynamodb.PutItemOutput{}, nil
	}
	gets := []map[string]types.AttributeValue{
		{"status": str("claimed"), "owner": str("other"), "leaseUntil": num(t0.Add(-time.Millisecond).UnixMilli())},
		nil,
	}
	f.get = func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		item := gets[0]
		gets = gets[1:]
		return eventItem(item), nil
	}
	if c, err := s.Claim(context.Background(), "k1", "me", time.Minute); err != nil || !c.Owned {
		t.Fatalf("Claim = %+v, %v; want owned on the third put", c, err)
	}

	f, s = newFake(t)
	f.put = func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) { return nil, errCCF }
	f.get = func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) { return eventItem(nil), nil }
	if _, err := s.Claim(context.Background(), "k1", "me", time.Minute); err == nil || !strings.Contains(err.Error(), `claiming event "k1" in table "state"`) {
		t.Errorf("Claim that keeps being refused: %v", err)
	}
}

func TestClaimErrorsNameTheEventAndTable(t *testing.T) {
	throttled := &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	for _, tc := range []struct {
		name string
		put  error
		get  func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error)
		want string
	}{
		{"put fails", throttled, nil, "slow down"},
		{"read fails", errCCF, func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) { return nil, throttled }, "slow down"},
		{"corrupt outcome", errCCF, func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
			return eventItem(map[string]types.AttributeValue{"status": str("done"), "outcome": str("{")}), nil
		}, "decoding the recorded outcome"},
		{"corrupt time", errCCF, func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
			return eventItem(map[string]types.AttributeValue{"status": str("done"), "outcome": str("{}"), "detectedAt": str("yesterday")}), nil
		}, "detectedAt"},
		{"unknown status", errCCF, func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
			return eventItem(map[string]types.AttributeValue{"status": str("odd")}), nil
		}, `unexpected status "odd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, s := newFake(t)
			f.put = func(*dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) { return nil, tc.put }
			f.get = tc.get
			_, err := s.Claim(context.Background(), "k1", "me", time.Minute)
			if err == nil || !strings.Contains(err.Error(), `claiming event "k1" in table "state": `) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want the action, event, table and %q", err, tc.want)
			}
		})
	}
}

func TestRecord(t *testing.T) {
	f, s := newFake(t)
	var up *dynamodb.UpdateItemInput
	f.update = func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		up = in
		return &dynamodb.UpdateItemOutput{}, nil
	}
	o := sampleOutcome(remediation.ActionRemediated)
	if err := s.Record(context.Background(), "k1", "me", o); err != nil {
		t.Fatal(err)
	}
	r := resolve(t, up.ExpressionAttributeNames, up.ExpressionAttributeValues, aws.ToString(up.UpdateExpression), aws.ToString(up.ConditionExpression))
	if r[1] != `owner = "me"` {
		t.Errorf("condition %s", r[1])
	}
	for _, want := range []string{`status = "done"`, `action = "remediated"`, `published = false`, "expiresAt = " + secs(t0.Add(14*24*time.Hour)),
		`detectedAt = "2026-03-01T12:00:00.123456789Z"`, `completedAt = "2026-03-01T12:00:04.987654321Z"`, `\"actor\":\"arn:aws:iam::123456789012:role/Admin/alice\"`} {
		if !strings.Contains(r[0], want) {
			t.Errorf("update %s\nlacks %s", r[0], want)
		}
	}
	if up.Key["pk"].(*types.AttributeValueMemberS).Value != "event#k1" {
		t.Errorf("key %v", up.Key)
	}

	// Unknown times are removed, not stored as year 1.
	o.DetectedAt, o.CompletedAt = time.Time{}, time.Time{}
	if err := s.Record(context.Background(), "k1", "me", o); err != nil {
		t.Fatal(err)
	}
	r = resolve(t, up.ExpressionAttributeNames, up.ExpressionAttributeValues, aws.ToString(up.UpdateExpression), aws.ToString(up.ConditionExpression))
	if !strings.HasSuffix(r[0], "REMOVE detectedAt, completedAt, warning") {
		t.Errorf("update %s", r[0])
	}
	// A warning is kept beside the outcome JSON, which leaves it out.
	o.Warning = "reserving a write in the state store: throttled"
	if err := s.Record(context.Background(), "k1", "me", o); err != nil {
		t.Fatal(err)
	}
	r = resolve(t, up.ExpressionAttributeNames, up.ExpressionAttributeValues, aws.ToString(up.UpdateExpression), aws.ToString(up.ConditionExpression))
	if !strings.Contains(r[0], `warning = "reserving a write in the state store: throttled"`) {
		t.Errorf("update %s lacks the warning", r[0])
	}
	o.Warning = ""

	f.update = func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) { return nil, errCCF }
	if err := s.Record(context.Background(), "k1", "me", o); !errors.Is(err, remediation.ErrClaimLost) || !strings.Contains(err.Error(), `recording the outcome of event "k1" in table "state"`) {
		t.Errorf("Record under a lost claim: %v", err)
	}
}

func TestPublishClaims(t *testing.T) {
	f, s := newFake(t)
	var got []string
	answer := error(nil)
	f.update = func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		got = append(got, strings.Join(resolve(t, in.ExpressionAttributeNames, in.ExpressionAttributeValues, aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression)), " IF "))
		return &dynamodb.UpdateItemOutput{}, answer
	}
	ctx := context.Background()
	if ok, err := s.ClaimPublish(ctx, "k1", "me", 30*time.Second); !ok || err != nil {
		t.Errorf("ClaimPublish = %v, %v", ok, err)
	}
	if err := s.MarkPublished(ctx, "k1", "me"); err != nil {
		t.Error(err)
	}
	if err := s.ReleasePublish(ctx, "k1", "me"); err != nil {
		t.Error(err)
	}
	want := []string{
		`SET pubOwner = "me", pubLeaseUntil = ` + ms(t0.Add(30*time.Second)) +
			` IF status = "done" AND published = false AND (attribute_not_exists(pubLeaseUntil) OR pubLeaseUntil < ` + ms(t0) + ` OR pubOwner = "me")`,
		`SET published = true IF pubOwner = "me"`,
		`REMOVE pubOwner, pubLeaseUntil IF pubOwner = "me"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("updates\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	answer = errCCF
	if ok, err := s.ClaimPublish(ctx, "k1", "me", time.Second); ok || err != nil {
		t.Errorf("refused ClaimPublish = %v, %v; want false, nil", ok, err)
	}
	if err := s.MarkPublished(ctx, "k1", "me"); !errors.Is(err, remediation.ErrClaimLost) || !strings.Contains(err.Error(), `marking event "k1" published in table "state"`) {
		t.Errorf("refused MarkPublished: %v", err)
	}
	if err := s.ReleasePublish(ctx, "k1", "me"); err != nil {
		t.Errorf("refused ReleasePublish (nothing to release): %v", err)
	}
	answer = &types.InternalServerError{Message: aws.String("boom")}
	if _, err := s.ClaimPublish(ctx, "k1", "me", time.Second); err == nil || !strings.Contains(err.Error(), `claiming the publication of event "k1" in table "state": `) {
		t.Errorf("failed ClaimPublish: %v", err)
	}
	if err := s.ReleasePublish(ctx, "k1", "me"); err == nil || !strings.Contains(err.Error(), `releasing the publication of event "k1" in table "state": `) {
		t.Errorf("failed ReleasePublish: %v", err)
	}
}

func writesItem(version int64, expires time.Time, ws ...remediation.Write) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("resource#r"), "version": num(version), "expiresAt": num(expires.Unix()), "writes": encodeWrites(ws)}
}

func TestAddWrite(t *testing.T) {
	f, s := newFake(t)
	old := remediation.Write{At: t0.Add(-2 * time.Hour), Actor: "a0", EventID: "e0"}
	kept := remediation.Write{At: t0.Add(-30 * time.Minute), Actor: "a1", EventID: "e1"}
	f.get = func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		return &dynamodb.GetItemOutput{Item: writesItem(4, t0.Add(time.Hour), old, kept)}, nil
	}
	var r []string
	f.update = func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		r = resolve(t, in.ExpressionAttributeNames, in.ExpressionAttributeValues, aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression))
		return &dynamodb.UpdateItemOutput{}, nil
	}
	// An earlier write than the kept one: the list stays in time order.
	w := remediation.Write{At: t0.Add(-45 * time.Minute), Actor: "a2", EventID: "e2"}
	if err := s.AddWrite(context.Background(), "r", w, t0.Add(-time.Hour), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`SET writes = [{actor:"a2" at:%s eventId:"e2"} {actor:"a1" at:%s eventId:"e1"}], version = 5, expiresAt = %s`, ms(w.At), ms(kept.At), secs(t0.Add(2*time.Hour)))
	if r[0] != want || r[1] != "version = 4" {
		t.Errorf("update %s IF %s\nwant   %s IF version = 4", r[0], r[1], want)
	}

	// A new item: the condition is that nobody created it meanwhile.
	f.get = func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) { return &dynamodb.GetItemOutput{}, nil }
	if err := s.AddWrite(context.Background(), "r", w, t0.Add(-time.Hour), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r[1] != "attribute_not_exists(pk)" || !strings.Contains(r[0], "version = 1") {
		t.Errorf("first write: %s IF %s", r[0], r[1])
	}
}

// Conflicts are retried on a fresh read; a write found already in the list
// (the SDK retried an update whose answer was lost) is not added again.
func TestAddWriteConflicts(t *testing.T) {
	f, s := newFake(t)
	w := remediation.Write{At: t0, Actor: "a", EventID: "e"}
	reads := []map[string]types.AttributeValue{writesItem(1, t0.Add(time.Hour)), writesItem(2, t0.Add(time.Hour)), writesItem(3, t0.Add(time.Hour), w)}
	f.get = func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		item := reads[0]
		reads = reads[1:]
		return &dynamodb.GetItemOutput{Item: item}, nil
	}
	f.update = func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) { return nil, errCCF }
	if err := s.AddWrite(context.Background(), "r", w, t0.Add(-time.Hour), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if want := "GetItem resource#r,UpdateItem resource#r,GetItem resource#r,UpdateItem resource#r,GetItem resource#r"; strings.Join(f.calls, ",") != want {
		t.Errorf("calls %v\nwant %s", f.calls, want)
	}

	f, s = newFake(t)
	f.get = func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		return &dynamodb.GetItemOutput{Item: writesItem(1, t0.Add(time.Hour))}, nil
	}
	f.update = func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) { return nil, errCCF }
	err := s.AddWrite(context.Background(), "r", w, t0.Add(-time.Hour), t0.Add(time.Hour))
	if err == nil || !strings.Contains(err.Error(), `reserving a write on resource "r" in table "state": `) || len(f.calls) != 2*addWriteAttempts {
		t.Errorf("endless conflicts: %v after %d calls", err, len(f.calls))
	}
}

func TestWrites(t *testing.T) {
	f, s := newFake(t)
	a := remediation.Write{At: t0.Add(-time.Minute), Actor: "x", EventID: "1"}
	b := remediation.Write{At: t0.Add(-2 * time.Minute), Actor: "y", EventID: "2"}
	item := writesItem(2, t0.Add(time.Hour), a, b)
	f.get = func(*dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		return &dynamodb.GetItemOutput{Item: item}, nil
	}
	ws, err := s.Writes(context.Background(), "r")
	if err != nil || fmt.Sprint(ws) != fmt.Sprint([]remediation.Write{b, a}) {
		t.Errorf("Writes = %v, %v; want oldest first", ws, err)
	}
	// Expired but not yet deleted by TTL: nothing is recorded.
	item = writesItem(2, t0.Add(-time.Second), a, b)
	if ws, err := s.Writes(context.Background(), "r"); err != nil || len(ws) != 0 {
		t.Errorf("Writes on an expired item = %v, %v", ws, err)
	}
	item = map[string]types.AttributeValue{"writes": &types.AttributeValueMemberL{Value: []types.AttributeValue{str("x")}}}
	if _, err := s.Writes(context.Background(), "r"); err == nil || !strings.Contains(err.Error(), `reading the writes on resource "r" in table "state": `) {
		t.Errorf("Writes on a corrupt item: %v", err)
	}
}
