package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// InitClient is the part of the DynamoDB API Init calls. The store itself
// never needs these actions.
type InitClient interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTimeToLive(ctx context.Context, in *dynamodb.DescribeTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTimeToLiveOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// InitResult says what Init did.
type InitResult struct {
	// Created: the table did not exist and was created; otherwise it
	// existed with the right key schema.
	Created bool
	// TTLEnabled: TTL was switched on; otherwise it was already on (or
	// being switched on) on TTLAttribute.
	TTLEnabled bool
}

// maxPoll is the longest pause between two reads of a table's status.
const maxPoll = 5 * time.Second

// Init makes table ready for the store: it creates it (partition key
// KeyAttribute of type S, no sort key, on-demand billing) unless it exists,
// waits until it is ACTIVE, and enables TTL on TTLAttribute. It is
// idempotent; a table with another key schema, or with TTL on another
// attribute, is an error. How long it waits is the context's business.
func Init(ctx context.Context, c InitClient, table string) (InitResult, error) {
	var res InitResult
	desc, err := describe(ctx, c, table)
	if err != nil {
		return res, err
	}
	if desc == nil {
		_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(table),
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(KeyAttribute), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(KeyAttribute), KeyType: types.KeyTypeHash}},
			BillingMode:          types.BillingModePayPerRequest,
		})
		var inUse *types.ResourceInUseException
		switch {
		case errors.As(err, &inUse):
			// Created meanwhile by someone else: check it like any other.
		case err != nil:
			return res, fmt.Errorf("creating DynamoDB table %q: %w", table, err)
		default:
			res.Created = true
		}
	}
	for delay := 200 * time.Millisecond; ; delay = min(2*delay, maxPoll) {
		desc, err = describe(ctx, c, table)
		if err != nil {
			return res, err
		}
		if desc != nil {
			if err := checkKeySchema(table, desc); err != nil {
				return res, err
			}
			if desc.TableStatus == types.TableStatusActive {
				break
			}
			if desc.TableStatus != types.TableStatusCreating && desc.TableStatus != types.TableStatusUpdating {
				return res, fmt.Errorf("waiting for DynamoDB table %q to become ACTIVE: it is %s", table, desc.TableStatus)
			}
		}
		// desc == nil: DescribeTable is eventually consistent and may not
		// know a table that CreateTable just accepted.
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("waiting for DynamoDB table %q to become ACTIVE: %w", table, ctx.Err())
		case <-time.After(delay):
		}
	}
	ttl, err := c.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return res, fmt.Errorf("reading the TTL of DynamoDB table %q: %w", table, err)
	}
	var status types.TimeToLiveStatus
	var attr string
	if d := ttl.TimeToLiveDescription; d != nil {
		status, attr = d.TimeToLiveStatus, aws.ToString(d.AttributeName)
	}
	switch status {
	case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
		if attr != TTLAttribute {
			return res, fmt.Errorf("DynamoDB table %q has TTL on attribute %q; the state store needs it on %q", table, attr, TTLAttribute)
		}
		return res, nil
	case types.TimeToLiveStatusDisabling:
		// AWS refuses to change TTL while a change is in progress.
		return res, fmt.Errorf("DynamoDB table %q: TTL is being disabled; run again once that is done (it can take up to an hour)", table)
	}
	// On AWS, enabling TTL when it is already enabled is a
	// ValidationException, hence the DescribeTimeToLive above.
	if _, err := c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(TTLAttribute), Enabled: aws.Bool(true)},
	}); err != nil {
		return res, fmt.Errorf("enabling TTL on attribute %q of DynamoDB table %q: %w", TTLAttribute, table, err)
	}
	res.TTLEnabled = true
	return res, nil
}

// describe returns the table's description, nil when it does not exist.
func describe(ctx context.Context, c InitClient, table string) (*types.TableDescription, error) {
	out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describing DynamoDB table %q: %w", table, err)
	}
	if out.Table == nil {
		return nil, fmt.Errorf("describing DynamoDB table %q: the answer has no table", table)
	}
	return out.Table, nil
}

// checkKeySchema refuses a table whose key is not exactly KeyAttribute (S).
func checkKeySchema(table string, d *types.TableDescription) error {
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, a := range d.AttributeDefinitions {
		attrTypes[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	var keys []string
	for _, k := range d.KeySchema {
		keys = append(keys, fmt.Sprintf("%s %s (%s)", k.KeyType, aws.ToString(k.AttributeName), attrTypes[aws.ToString(k.AttributeName)]))
	}
	ok := len(d.KeySchema) == 1 && aws.ToString(d.KeySchema[0].AttributeName) == KeyAttribute &&
		d.KeySchema[0].KeyType == types.KeyTypeHash && attrTypes[KeyAttribute] == types.ScalarAttributeTypeS
	if !ok {
		return fmt.Errorf("DynamoDB table %q exists with key schema [%s]; the state store needs partition key %q of type S and no sort key: use another table name", table, strings.Join(keys, ", "), KeyAttribute)
	}
	return nil
}
