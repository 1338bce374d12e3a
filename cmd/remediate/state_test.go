package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autoremediate/autoremediate/internal/emulator"
)

func TestStateBadArgs(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"state"}, nil, "Usage: remediate state init"},
		{[]string{"state", "drop"}, nil, `remediate state: unknown subcommand "drop"`},
		{[]string{"state", "init"}, nil, "no table named: pass --table NAME or set STATE_TABLE"},
		{[]string{"state", "init"}, map[string]string{"STATE_TABLE": "  "}, "no table named"},
		{[]string{"state", "init", "--table", "t", "extra"}, nil, `unexpected argument "extra"`},
		{[]string{"state", "init", "--tabel", "t"}, nil, "flag provided but not defined: -tabel"},
		{[]string{"state", "init", "--table", "T"}, nil, `"T" is not a DynamoDB table name (3 to 255`},
		{[]string{"state", "init"}, map[string]string{"STATE_TABLE": "my table"}, `"my table" is not a DynamoDB table name`},
	} {
		c, stdout, stderr := testCLI("", tc.env)
		if code := run(context.Background(), tc.args, c); code != exitBadArgs {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitBadArgs)
		}
		if !strings.Contains(stderr.String(), tc.want) || stdout.Len() > 0 {
			t.Errorf("%v: stderr %q, stdout %q; want %q", tc.args, stderr.String(), stdout.String(), tc.want)
		}
	}
	for _, args := range [][]string{{"state", "--help"}, {"state", "init", "--help"}} {
		c, stdout, stderr := testCLI("", nil)
		if code := run(context.Background(), args, c); code != exitOK || !strings.Contains(stdout.String(), "Usage: remediate state init") || stderr.Len() > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}

// remediate state init against the emulator, as a user runs it: creates,
// then finds the table ready; refuses a table keyed otherwise.
func TestStateInitOnEmulator(t *testing.T) {
	srv := emulator.StartT(t)
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
		env[k] = v
	}
	ctx := context.Background()
	env["STATE_TABLE"] = "autoremediate-state"
	c, stdout, stderr := testCLI("", env)
	if code := run(ctx, []string{"state", "init"}, c); code != exitOK {
		t.Fatalf("state init: exit %d\n%s", code, stderr.String())
	}
	if want := "created DynamoDB table \"autoremediate-state\" (partition key pk, type S; on-demand)\nenabled TTL on expiresAt\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	db := dynamodb.NewFromConfig(srv.AWSConfig())
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("autoremediate-state")})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Errorf("TTL after state init: %+v, %v", ttl, err)
	}

	// --table wins over STATE_TABLE; running again changes nothing.
	c, stdout, stderr = testCLI("", map[string]string{"STATE_TABLE": "other"})
	if code := run(ctx, []string{"state", "init", "--table", "autoremediate-state"}, c); code != exitOK {
		t.Fatalf("state init again: exit %d\n%s", code, stderr.String())
	}
	if want := "DynamoDB table \"autoremediate-state\" exists with partition key pk (type S)\nTTL already enabled on expiresAt\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}

	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("keyed-by-id"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	c, stdout, stderr = testCLI("", nil)
	if code := run(ctx, []string{"state", "init", "--table", "keyed-by-id"}, c); code != exitFailed {
		t.Errorf("state init on a table keyed by id: exit %d, want %d", code, exitFailed)
	}
	if !strings.Contains(stderr.String(), `remediate state init: DynamoDB table "keyed-by-id" exists with key schema [HASH id (S)]`) || stdout.Len() > 0 {
		t.Errorf("stderr %q, stdout %q", stderr.String(), stdout.String())
	}
}
