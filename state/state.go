// Package state is the DynamoDB state store of the remediation pipeline
// (remediation.StateStore): which events were handled and with what outcome,
// whether that outcome was published, and the recent writes on each
// resource for flap protection. Every item expires through the table's TTL.
package state

import (
	"fmt"
	"regexp"
)

// The table's schema: one string partition key and no sort key; TTL on a
// number attribute holding epoch seconds. Terraform and `remediate state
// init` create the table with exactly these.
const (
	KeyAttribute = "pk"
	TTLAttribute = "expiresAt"
)

// tableName is DynamoDB's rule for table names.
var tableName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// CheckTableName says what is wrong with a table name, if anything:
// DynamoDB takes 3 to 255 letters, digits, '_', '-' and '.'.
func CheckTableName(name string) error {
	if !tableName.MatchString(name) {
		return fmt.Errorf("%q is not a DynamoDB table name (3 to 255 letters, digits, '_', '-' and '.')", name)
	}
	return nil
}

// Actions lists the DynamoDB actions the store calls on its table: what the
// function's role needs there, and nothing else.
func Actions() []string {
	return []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
}
