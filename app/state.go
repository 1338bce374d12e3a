package app

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/state"
)

// DynamoDB returns the DynamoDB client.
func (c *Clients) DynamoDB() *dynamodb.Client {
	return Memo(c, "dynamodb", func(cfg aws.Config) *dynamodb.Client { return dynamodb.NewFromConfig(cfg) })
}

// NewStateStore returns the DynamoDB state store on table (STATE_TABLE), or
// nil when table is empty: the handler is then stateless.
func NewStateStore(c *Clients, table string) remediation.StateStore {
	if table == "" {
		// A nil *state.Store in the interface would not be a nil store.
		return nil
	}
	return state.New(c.DynamoDB(), table)
}
