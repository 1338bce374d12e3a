package app

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autoremediate/autoremediate/state"
)

func TestNewStateStore(t *testing.T) {
	c := NewClients(aws.Config{Region: "us-east-1"})
	if s := NewStateStore(c, ""); s != nil {
		t.Errorf("NewStateStore without a table = %#v, want nil (stateless)", s)
	}
	if s, ok := NewStateStore(c, "t").(*state.Store); !ok || s == nil {
		t.Errorf("NewStateStore with a table = %#v, want a *state.Store", s)
	}
	if c.DynamoDB() != c.DynamoDB() {
		t.Error("DynamoDB builds a new client on every call")
	}
}
