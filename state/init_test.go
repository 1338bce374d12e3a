package state

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// fakeInit plays a table through its states: each DescribeTable answers
// the next of statuses ("" = not found; the last one repeats).
type fakeInit struct {
	t         *testing.T
	statuses  []types.TableStatus
	keys      []types.KeySchemaElement
	attrs     []types.AttributeDefinition
	createErr error
	ttl       *types.TimeToLiveDescription
	created   *dynamodb.CreateTableInput
	ttlSet    *dynamodb.UpdateTimeToLiveInput
}

func (f *fakeInit) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	if aws.ToString(in.TableName) != "state" {
		f.t.Errorf("DescribeTable %q", aws.ToString(in.TableName))
	}
	st := f.statuses[0]
	if len(f.statuses) > 1 {
		f.statuses = f.statuses[1:]
	}
	if st == "" {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Requested resource not found")}
	}
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{TableName: in.TableName, TableStatus: st, KeySchema: f.keys, AttributeDefinitions: f.attrs}}, nil
}

func (f *fakeInit) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	f.created = in
	f.keys, f.attrs = in.KeySchema, in.AttributeDefinitions
	return &dynamodb.CreateTableOutput{}, f.createErr
}

func (f *fakeInit) DescribeTimeToLive(_ context.Context, in *dynamodb.DescribeTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error) {
	return &dynamodb.DescribeTimeToLiveOutput{TimeToLiveDescription: f.ttl}, nil
}

func (f *fakeInit) UpdateTimeToLive(_ context.Context, in *dynamodb.UpdateTimeToLiveInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error) {
	f.ttlSet = in
	return &dynamodb.UpdateTimeToLiveOutput{}, nil
}

var pkSchema = []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}}
var pkAttrs = []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}}

func TestInitCreatesAndWaits(t *testing.T) {
	// Not found, then (eventually consistent) still not found, creating,
	// active.
	f := &fakeInit{t: t, statuses: []types.TableStatus{"", "", types.TableStatusCreating, types.TableStatusActive},
		ttl: &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusDisabled}}
	res, err := Init(context.Background(), f, "state")
	if err != nil || !res.Created || !res.TTLEnabled {
		t.Fatalf("Init = %+v, %v", res, err)
	}
	c := f.created
	if c.BillingMode != types.BillingModePayPerRequest || len(c.KeySchema) != 1 || aws.ToString(c.KeySchema[0].AttributeName) != "pk" ||
		c.KeySchema[0].KeyType != types.KeyTypeHash || len(c.AttributeDefinitions) != 1 || c.AttributeDefinitions[0].AttributeType != types.ScalarAttributeTypeS {
		t.Errorf("CreateTable %+v", c)
	}
	if s := f.ttlSet.TimeToLiveSpecification; aws.ToString(f.ttlSet.TableName) != "state" || aws.ToString(s.AttributeName) != "expiresAt" || !aws.ToBool(s.Enabled) {
		t.Errorf("UpdateTimeToLive %+v", s)
	}
	if len(f.statuses) != 1 {
		t.Errorf("Init did not wait for ACTIVE: %v left", f.statuses)
	}
}

func TestInitExistingTable(t *testing.T) {
	for _, st := range []types.TimeToLiveStatus{types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling} {
		f := &fakeInit{t: t, statuses: []types.TableStatus{types.TableStatusActive}, keys: pkSchema, attrs: pkAttrs,
			ttl: &types.TimeToLiveDescription{TimeToLiveStatus: st, AttributeName: aws.String("expiresAt")}}
		res, err := Init(context.Background(), f, "state")
		if err != nil || res.Created || res.TTLEnabled || f.created != nil || f.ttlSet != nil {
			t.Errorf("TTL %s: Init = %+v, %v; created %v, TTL set %v: want nothing done", st, res, err, f.created != nil, f.ttlSet != nil)
		}
	}
	// Created by someone else between our DescribeTable and CreateTable.
	f := &fakeInit{t: t, statuses: []types.TableStatus{"", types.TableStatusActive}, createErr: &types.ResourceInUseException{Message: aws.String("Table already exists")},
		ttl: &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusEnabled, AttributeName: aws.String("expiresAt")}}
	if res, err := Init(context.Background(), f, "state"); err != nil || res.Created {
		t.Errorf("Init racing another creator = %+v, %v", res, err)
	}
}

func TestInitRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      *fakeInit
		wanted string
	}{
		{"sort key", &fakeInit{statuses: []types.TableStatus{types.TableStatusActive},
			keys:  append(pkSchema, types.KeySchemaElement{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}),
			attrs: append(pkAttrs, types.AttributeDefinition{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS})},
			`DynamoDB table "state" exists with key schema [HASH pk (S), RANGE sk (S)]; the state store needs partition key "pk" of type S and no sort key`},
		{"numeric key", &fakeInit{statuses: []types.TableStatus{types.TableStatusActive}, keys: pkSchema,
			attrs: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeN}}},
			`key schema [HASH pk (N)]`},
		{"TTL elsewhere", &fakeInit{statuses: []types.TableStatus{types.TableStatusActive}, keys: pkSchema, attrs: pkAttrs,
			ttl: &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusEnabled, AttributeName: aws.String("ttl")}},
			`DynamoDB table "state" has TTL on attribute "ttl"; the state store needs it on "expiresAt"`},
		{"TTL being disabled", &fakeInit{statuses: []types.TableStatus{types.TableStatusActive}, keys: pkSchema, attrs: pkAttrs,
			ttl: &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusDisabling, AttributeName: aws.String("expiresAt")}},
			`TTL is being disabled`},
		{"being deleted", &fakeInit{statuses: []types.TableStatus{types.TableStatusDeleting}, keys: pkSchema, attrs: pkAttrs},
			`waiting for DynamoDB table "state" to become ACTIVE: it is DELETING`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.t = t
			_, err := Init(context.Background(), tc.f, "state")
			if err == nil || !strings.Contains(err.Error(), tc.wanted) {
				t.Errorf("Init: %v\nwant %s", err, tc.wanted)
			}
			if tc.f.ttlSet != nil {
				t.Error("TTL changed on a refused table")
			}
		})
	}
}

func TestInitGivesUpWithTheContext(t *testing.T) {
	f := &fakeInit{t: t, statuses: []types.TableStatus{types.TableStatusCreating}, keys: pkSchema, attrs: pkAttrs}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Init(ctx, f, "state"); err == nil || !strings.Contains(err.Error(), "waiting for DynamoDB table") {
		t.Errorf("Init with a cancelled context: %v", err)
	}
}
