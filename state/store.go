package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autoremediate/autoremediate/remediation"
)

// Client is the part of the DynamoDB API the store calls: exactly the
// actions Actions lists.
type Client interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DefaultEventTTL is how long an event's item lives: longer than every
// redelivery of the event can arrive (EventBridge retries for up to 24
// hours, Lambda retries asynchronous invocations for up to 6 hours, and a
// dead-letter queue can be redriven within SQS's maximum retention of 14
// days).
const DefaultEventTTL = 14 * 24 * time.Hour

// Key prefixes: event and resource keys share the table's one partition key,
// and a key of one kind can never name an item of the other.
const (
	eventPrefix    = "event#"
	resourcePrefix = "resource#"
)

// The attributes of the items.
const (
	attrStatus        = "status"        // event: claimed | done
	attrOwner         = "owner"         // event: who claimed it
	attrLeaseUntil    = "leaseUntil"    // event: the claim's end, epoch ms
	attrAction        = "action"        // event: the recorded outcome's action (the claim condition reads it)
	attrOutcome       = "outcome"       // event: the recorded outcome as JSON
	attrDetectedAt    = "detectedAt"    // event: Outcome.DetectedAt, RFC 3339 (not in the outcome JSON)
	attrCompletedAt   = "completedAt"   // event: Outcome.CompletedAt, RFC 3339 (not in the outcome JSON)
	attrWarning       = "warning"       // event: Outcome.Warning (not in the outcome JSON)
	attrPublished     = "published"     // event: the outcome was delivered
	attrPubOwner      = "pubOwner"      // event: who holds the right to publish
	attrPubLeaseUntil = "pubLeaseUntil" // event: that right's end, epoch ms
	attrWrites        = "writes"        // resource: list of {at, actor, eventId}, oldest first
	attrVersion       = "version"       // resource: incremented by every write of the item
)

const (
	statusClaimed = "claimed"
	statusDone    = "done"
)

// addWriteAttempts bounds AddWrite's optimistic retries: each conflict means
// another write succeeded, so n writers racing on one resource all succeed
// within n attempts.
const addWriteAttempts = 10

// claimAttempts bounds Claim's retries when the item changes between the
// refused put and the read that explains it.
const claimAttempts = 3

// Store is the DynamoDB state store (remediation.StateStore) on one table.
// Every item it writes carries the TTL attribute.
type Store struct {
	client Client
	table  string
	// EventTTL is how long an event's item lives (DefaultEventTTL).
	EventTTL time.Duration
	// Now is the clock (time.Now). Leases compare the clocks of different
	// processes: they must agree to well within a lease.
	Now func() time.Time
	// CallTimeout bounds each store operation, its retries included
	// (DefaultCallTimeout): an unreachable table costs the event a few
	// seconds, not the function's whole retry budget, and the remediation
	// goes on without the store.
	CallTimeout time.Duration
}

// DefaultCallTimeout is Store.CallTimeout's default. DynamoDB answers in
// milliseconds; five seconds leave room for several throttled retries.
const DefaultCallTimeout = 5 * time.Second

// bound applies CallTimeout to one operation.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.CallTimeout
	if d <= 0 {
		d = DefaultCallTimeout
	}
	return context.WithTimeout(ctx, d)
}

// New returns the store on table.
func New(client Client, table string) *Store {
	return &Store{client: client, table: table, EventTTL: DefaultEventTTL, Now: time.Now, CallTimeout: DefaultCallTimeout}
}

var _ remediation.StateStore = (*Store)(nil)

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Store) eventTTL() time.Duration {
	if s.EventTTL <= 0 {
		return DefaultEventTTL
	}
	return s.EventTTL
}

func (s *Store) eventExpiry(now time.Time) types.AttributeValue {
	return num(now.Add(s.eventTTL()).Unix())
}

// Claim implements remediation.StateStore: one conditional put, and when it
// is refused, a strongly consistent read of what is recorded.
func (s *Store) Claim(ctx context.Context, key, owner string, lease time.Duration) (remediation.Claim, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	for range claimAttempts {
		now := s.now()
		e := newExpr()
		cond := fmt.Sprintf("attribute_not_exists(%s) OR (%s = %s AND %s < %s) OR %s = %s",
			e.n(KeyAttribute),
			e.n(attrStatus), e.v("claimed", str(statusClaimed)), e.n(attrLeaseUntil), e.v("now", num(now.UnixMilli())),
			e.n(attrAction), e.v("failed", str(string(remediation.ActionFailed))))
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item: map[string]types.AttributeValue{
				KeyAttribute:   str(eventPrefix + key),
				attrStatus:     str(statusClaimed),
				attrOwner:      str(owner),
				attrLeaseUntil: num(now.Add(lease).UnixMilli()),
				attrPublished:  &types.AttributeValueMemberBOOL{Value: false},
				TTLAttribute:   s.eventExpiry(now),
			},
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  e.names,
			ExpressionAttributeValues: e.values,
		})
		if err == nil {
			return remediation.Claim{Owned: true}, nil
		}
		if !conditionFailed(err) {
			return remediation.Claim{}, fmt.Errorf("claiming event %q in table %q: %w", key, s.table, err)
		}
		item, err := s.get(ctx, eventPrefix+key)
		if err != nil {
			return remediation.Claim{}, fmt.Errorf("claiming event %q in table %q: %w", key, s.table, err)
		}
		c, retry, err := readClaim(item, owner, s.now())
		if err != nil {
			return remediation.Claim{}, fmt.Errorf("claiming event %q in table %q: %w", key, s.table, err)
		}
		if !retry {
			return c, nil
		}
	}
	return remediation.Claim{}, fmt.Errorf("claiming event %q in table %q: the item kept changing between the claim and the read (%d attempts)", key, s.table, claimAttempts)
}

// readClaim explains a refused claim from the item. retry is true when the
// item, as read now, no longer refuses it (it changed after the put).
func readClaim(item map[string]types.AttributeValue, owner string, now time.Time) (c remediation.Claim, retry bool, err error) {
	if item == nil {
		return c, true, nil
	}
	status := getStr(item, attrStatus)
	switch status {
	case statusDone:
		o, err := decodeOutcome(item)
		if err != nil {
			return c, false, err
		}
		if o.Action == remediation.ActionFailed {
			return c, true, nil
		}
		published, _ := item[attrPublished].(*types.AttributeValueMemberBOOL)
		return remediation.Claim{Done: true, Outcome: o, Published: published != nil && published.Value}, false, nil
	case statusClaimed:
		// The SDK retries a put whose answer was lost (a timeout, a 5xx
		// after the write): the retry then finds this owner's own claim.
		if getStr(item, attrOwner) == owner {
			return remediation.Claim{Owned: true}, false, nil
		}
		until, ok := getNum(item, attrLeaseUntil)
		if !ok {
			return c, false, fmt.Errorf("the claim has no %s", attrLeaseUntil)
		}
		if until < now.UnixMilli() {
			return c, true, nil
		}
		return remediation.Claim{LeaseUntil: time.UnixMilli(until)}, false, nil
	}
	return c, false, fmt.Errorf("unexpected %s %q", attrStatus, status)
}

// Record implements remediation.StateStore.
func (s *Store) Record(ctx context.Context, key, owner string, o remediation.Outcome) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	body, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("recording the outcome of event %q in table %q: encoding it: %w", key, s.table, err)
	}
	e := newExpr()
	set := []string{
		e.n(attrStatus) + " = " + e.v("done", str(statusDone)),
		e.n(attrAction) + " = " + e.v("action", str(string(o.Action))),
		e.n(attrOutcome) + " = " + e.v("outcome", str(string(body))),
		e.n(attrPublished) + " = " + e.v("false", &types.AttributeValueMemberBOOL{Value: false}),
		e.n(TTLAttribute) + " = " + e.v("expires", s.eventExpiry(s.now())),
	}
	var remove []string
	for _, t := range []struct {
		attr string
		at   time.Time
	}{{attrDetectedAt, o.DetectedAt}, {attrCompletedAt, o.CompletedAt}} {
		if t.at.IsZero() {
			remove = append(remove, e.n(t.attr))
		} else {
			set = append(set, e.n(t.attr)+" = "+e.v(t.attr, str(t.at.UTC().Format(time.RFC3339Nano))))
		}
	}
	if o.Warning != "" {
		set = append(set, e.n(attrWarning)+" = "+e.v("warning", str(o.Warning)))
	} else {
		remove = append(remove, e.n(attrWarning))
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	cond := e.n(attrOwner) + " = " + e.v("me", str(owner))
	err = s.updateItem(ctx, eventPrefix+key, e, update, cond)
	if conditionFailed(err) {
		return fmt.Errorf("recording the outcome of event %q in table %q: %w", key, s.table, remediation.ErrClaimLost)
	}
	if err != nil {
		return fmt.Errorf("recording the outcome of event %q in table %q: %w", key, s.table, err)
	}
	return nil
}

// ClaimPublish implements remediation.StateStore. The right to publish
// exists only for a recorded outcome that is not yet published; its holder
// may claim it again (an SDK retry of this very call does).
func (s *Store) ClaimPublish(ctx context.Context, key, owner string, lease time.Duration) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now()
	e := newExpr()
	update := fmt.Sprintf("SET %s = %s, %s = %s",
		e.n(attrPubOwner), e.v("me", str(owner)), e.n(attrPubLeaseUntil), e.v("until", num(now.Add(lease).UnixMilli())))
	cond := fmt.Sprintf("%s = %s AND %s = %s AND (attribute_not_exists(%s) OR %s < %s OR %s = %s)",
		e.n(attrStatus), e.v("done", str(statusDone)),
		e.n(attrPublished), e.v("false", &types.AttributeValueMemberBOOL{Value: false}),
		e.n(attrPubLeaseUntil), e.n(attrPubLeaseUntil), e.v("now", num(now.UnixMilli())),
		e.n(attrPubOwner), e.v("me", str(owner)))
	err := s.updateItem(ctx, eventPrefix+key, e, update, cond)
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claiming the publication of event %q in table %q: %w", key, s.table, err)
	}
	return true, nil
}

// MarkPublished implements remediation.StateStore. It keeps the publish
// claim's owner, so that an SDK retry of the call after a lost answer still
// passes its condition; it fails with ErrClaimLost when another owner has
// taken the right to publish over.
func (s *Store) MarkPublished(ctx context.Context, key, owner string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	e := newExpr()
	update := "SET " + e.n(attrPublished) + " = " + e.v("true", &types.AttributeValueMemberBOOL{Value: true})
	cond := e.n(attrPubOwner) + " = " + e.v("me", str(owner))
	err := s.updateItem(ctx, eventPrefix+key, e, update, cond)
	if conditionFailed(err) {
		return fmt.Errorf("marking event %q published in table %q: the right to publish was taken over: %w", key, s.table, remediation.ErrClaimLost)
	}
	if err != nil {
		return fmt.Errorf("marking event %q published in table %q: %w", key, s.table, err)
	}
	return nil
}

// ReleasePublish implements remediation.StateStore. Releasing a right that
// owner no longer holds does nothing.
func (s *Store) ReleasePublish(ctx context.Context, key, owner string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	e := newExpr()
	update := "REMOVE " + e.n(attrPubOwner) + ", " + e.n(attrPubLeaseUntil)
	cond := e.n(attrPubOwner) + " = " + e.v("me", str(owner))
	err := s.updateItem(ctx, eventPrefix+key, e, update, cond)
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("releasing the publication of event %q in table %q: %w", key, s.table, err)
	}
	return nil
}

// Writes implements remediation.StateStore with a strongly consistent read.
func (s *Store) Writes(ctx context.Context, resource string) ([]remediation.Write, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	item, err := s.get(ctx, resourcePrefix+resource)
	if err != nil {
		return nil, fmt.Errorf("reading the writes on resource %q in table %q: %w", resource, s.table, err)
	}
	ws, _, err := decodeWrites(item, s.now())
	if err != nil {
		return nil, fmt.Errorf("reading the writes on resource %q in table %q: %w", resource, s.table, err)
	}
	return ws, nil
}

// ReserveWrite implements remediation.StateStore: it reads the item, drops
// the writes older than keepSince and, when fewer than limit are left, adds
// w in time order and writes the list back on the condition that the
// item's version is still the one read, retrying with a fresh read when
// another writer came first. Two processes reserving the last write at once
// cannot both succeed: one of the conditional writes is refused, and its
// retry finds the limit reached.
func (s *Store) ReserveWrite(ctx context.Context, resource string, w remediation.Write, limit int, keepSince, expires time.Time) ([]remediation.Write, bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var recent []remediation.Write
	var ok bool
	err := s.modifyWrites(ctx, resource, expires, "reserving a write", func(ws []remediation.Write) ([]remediation.Write, bool) {
		recent, ok = nil, false
		var kept []remediation.Write
		present := false
		for _, old := range ws {
			if sameWrite(old, w) {
				// A conditional write whose answer was lost is retried by
				// the SDK and then refused: this write is already in.
				present = true
				continue
			}
			if !old.At.Before(keepSince) {
				kept = append(kept, old)
			}
		}
		recent = kept
		if present {
			ok = true
			return nil, false
		}
		if len(kept) >= limit {
			return nil, false
		}
		ok = true
		next := append(append([]remediation.Write(nil), kept...), remediation.Write{At: time.UnixMilli(w.At.UnixMilli()), Actor: w.Actor, EventID: w.EventID})
		slices.SortStableFunc(next, func(a, b remediation.Write) int { return a.At.Compare(b.At) })
		return next, true
	})
	return recent, ok, err
}

// AddWrite records a write whatever the limit (ReserveWrite without one).
func (s *Store) AddWrite(ctx context.Context, resource string, w remediation.Write, keepSince, expires time.Time) error {
	_, _, err := s.ReserveWrite(ctx, resource, w, math.MaxInt, keepSince, expires)
	return err
}

// ReleaseWrite implements remediation.StateStore: it removes the write with
// w's event and time, under the same version condition.
func (s *Store) ReleaseWrite(ctx context.Context, resource string, w remediation.Write) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.modifyWrites(ctx, resource, time.Time{}, "giving back a write", func(ws []remediation.Write) ([]remediation.Write, bool) {
		var kept []remediation.Write
		for _, old := range ws {
			if !sameWrite(old, w) {
				kept = append(kept, old)
			}
		}
		return kept, len(kept) != len(ws)
	})
}

// sameWrite compares writes as stored (times in milliseconds).
func sameWrite(a, b remediation.Write) bool {
	return a.At.UnixMilli() == b.At.UnixMilli() && a.EventID == b.EventID && a.Actor == b.Actor
}

// modifyWrites reads a resource item's writes, lets change compute the new
// list (or say there is nothing to write), and writes it back on the
// condition that the version is unchanged, retrying from the read when it
// changed. expires zero keeps the item's expiry (or the event TTL for a new
// item).
func (s *Store) modifyWrites(ctx context.Context, resource string, expires time.Time, what string,
	change func([]remediation.Write) ([]remediation.Write, bool)) error {
	wrap := func(err error) error {
		return fmt.Errorf("%s on resource %q in table %q: %w", what, resource, s.table, err)
	}
	for attempt := range addWriteAttempts {
		if attempt > 0 {
			// Jitter spreads the racing writers apart.
			d := time.Duration(attempt)*10*time.Millisecond + rand.N(20*time.Millisecond)
			select {
			case <-ctx.Done():
				return wrap(ctx.Err())
			case <-time.After(d):
			}
		}
		item, err := s.get(ctx, resourcePrefix+resource)
		if err != nil {
			return wrap(err)
		}
		ws, version, err := decodeWrites(item, s.now())
		if err != nil {
			return wrap(err)
		}
		next, write := change(ws)
		if !write {
			return nil
		}
		exp := expires
		if exp.IsZero() {
			if old, ok := getNum(item, TTLAttribute); ok && old > s.now().Unix() {
				exp = time.Unix(old, 0)
			} else {
				// An expiry far in the past would keep the item for ever:
				// TTL skips items that expired more than five years ago.
				exp = s.now().Add(s.eventTTL())
			}
		}
		e := newExpr()
		update := fmt.Sprintf("SET %s = %s, %s = %s, %s = %s",
			e.n(attrWrites), e.v("writes", encodeWrites(next)),
			e.n(attrVersion), e.v("next", num(version+1)),
			e.n(TTLAttribute), e.v("expires", num(exp.Unix())))
		var cond string
		if item == nil {
			cond = "attribute_not_exists(" + e.n(KeyAttribute) + ")"
		} else {
			cond = e.n(attrVersion) + " = " + e.v("version", num(version))
		}
		err = s.updateItem(ctx, resourcePrefix+resource, e, update, cond)
		if err == nil {
			return nil
		}
		if !conditionFailed(err) {
			return wrap(err)
		}
	}
	return wrap(fmt.Errorf("other writers changed the item %d times in a row", addWriteAttempts))
}

// updateItem makes one conditional update of the item at key, with the
// expression's placeholders.
func (s *Store) updateItem(ctx context.Context, key string, e *expr, update, cond string) error {
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       pk(key),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	})
	return err
}

// get reads an item with a strongly consistent read: an eventually
// consistent one may miss a write acknowledged a moment ago. A missing item
// is nil.
func (s *Store) get(ctx context.Context, key string) (map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            pk(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

func decodeOutcome(item map[string]types.AttributeValue) (remediation.Outcome, error) {
	var o remediation.Outcome
	if err := json.Unmarshal([]byte(getStr(item, attrOutcome)), &o); err != nil {
		return o, fmt.Errorf("decoding the recorded outcome: %w", err)
	}
	for _, t := range []struct {
		attr string
		to   *time.Time
	}{{attrDetectedAt, &o.DetectedAt}, {attrCompletedAt, &o.CompletedAt}} {
		if v := getStr(item, t.attr); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return o, fmt.Errorf("decoding the recorded outcome's %s: %w", t.attr, err)
			}
			*t.to = at
		}
	}
	o.Warning = getStr(item, attrWarning)
	return o, nil
}

// decodeWrites returns a resource item's writes and version. TTL deletes
// an expired item only eventually (typically within a few days), and reads
// still return it until then: its writes are treated as gone.
func decodeWrites(item map[string]types.AttributeValue, now time.Time) ([]remediation.Write, int64, error) {
	if item == nil {
		return nil, 0, nil
	}
	version, _ := getNum(item, attrVersion)
	if exp, ok := getNum(item, TTLAttribute); ok && exp < now.Unix() {
		return nil, version, nil
	}
	list, _ := item[attrWrites].(*types.AttributeValueMemberL)
	if list == nil {
		return nil, version, nil
	}
	ws := make([]remediation.Write, 0, len(list.Value))
	for i, v := range list.Value {
		m, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			return nil, 0, fmt.Errorf("%s[%d] is not a map", attrWrites, i)
		}
		at, ok := getNum(m.Value, "at")
		if !ok {
			return nil, 0, fmt.Errorf("%s[%d] has no time", attrWrites, i)
		}
		ws = append(ws, remediation.Write{At: time.UnixMilli(at), Actor: getStr(m.Value, "actor"), EventID: getStr(m.Value, "eventId")})
	}
	slices.SortStableFunc(ws, func(a, b remediation.Write) int { return a.At.Compare(b.At) })
	return ws, version, nil
}

func encodeWrites(ws []remediation.Write) types.AttributeValue {
	l := make([]types.AttributeValue, len(ws))
	for i, w := range ws {
		l[i] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"at": num(w.At.UnixMilli()), "actor": str(w.Actor), "eventId": str(w.EventID),
		}}
	}
	return &types.AttributeValueMemberL{Value: l}
}

// expr collects an expression's placeholders. Every attribute goes through
// a name placeholder: status, owner and action are DynamoDB reserved words.
type expr struct {
	names  map[string]string
	values map[string]types.AttributeValue
}

func newExpr() *expr {
	return &expr{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (e *expr) n(attr string) string {
	e.names["#"+attr] = attr
	return "#" + attr
}

func (e *expr) v(name string, v types.AttributeValue) string {
	e.values[":"+name] = v
	return ":" + name
}

func pk(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: str(key)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func getStr(item map[string]types.AttributeValue, attr string) string {
	if v, ok := item[attr].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getNum(item map[string]types.AttributeValue, attr string) (int64, bool) {
	v, ok := item[attr].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	return n, err == nil
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
