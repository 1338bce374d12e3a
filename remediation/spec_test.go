package remediation

import (
	"reflect"
	"strings"
	"testing"
)

func TestExpandConditionsFillsPlaceholders(t *testing.T) {
	in := []Condition{
		{Test: "StringLike", Variable: "kms:ViaService", Values: []string{"ec2.{region}.amazonaws.com"}},
		{Test: "ArnEquals", Variable: "aws:SourceArn", Values: []string{"arn:{partition}:iam::{account}:role/a", "literal"}},
	}
	got := ExpandConditions(in, "aws-cn", "cn-north-1", "123456789012")
	want := []Condition{
		{Test: "StringLike", Variable: "kms:ViaService", Values: []string{"ec2.cn-north-1.amazonaws.com"}},
		{Test: "ArnEquals", Variable: "aws:SourceArn", Values: []string{"arn:aws-cn:iam::123456789012:role/a", "literal"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExpandConditions = %+v, want %+v", got, want)
	}
	if in[0].Values[0] != "ec2.{region}.amazonaws.com" {
		t.Errorf("ExpandConditions changed its input: %+v", in[0])
	}
}

func TestValidateChecksConditions(t *testing.T) {
	spec := func(c Condition) Catalog {
		return Catalog{{Name: "x", ResourceTypes: []string{"AWS::EC2::Volume"}, Permissions: []Permission{{
			Sid: "Use", Actions: []string{"kms:Decrypt"}, Resources: []string{"*"}, Conditions: []Condition{c},
		}}}}
	}
	twice := Condition{Test: "Bool", Variable: "kms:GrantIsForAWSResource", Values: []string{"true"}}
	cat := spec(twice)
	cat[0].Permissions[0].Conditions = append(cat[0].Permissions[0].Conditions, twice)
	if err := cat.Validate(); err == nil || !strings.Contains(err.Error(), "two conditions") {
		t.Errorf("two conditions on the same operator and key: %v", err)
	}
	for _, tc := range []struct {
		c       Condition
		wantErr string
	}{
		{Condition{Test: "StringLike", Variable: "kms:ViaService", Values: []string{"ec2.{region}.amazonaws.com"}}, ""},
		{Condition{Test: "StringLikeIfExists", Variable: "kms:ViaService", Values: []string{"ec2.{region}.amazonaws.com"}}, ""},
		{Condition{Test: "Bool", Variable: "kms:GrantIsForAWSResource", Values: []string{"true"}}, ""},
		// The member role fills {region} with "*", which StringEquals
		// compares literally.
		{Condition{Test: "StringEquals", Variable: "kms:ViaService", Values: []string{"ec2.{region}.amazonaws.com"}}, "use StringLike"},
		{Condition{Test: "Bool", Variable: "kms:GrantIsForAWSResource"}, "lacks"},
		{Condition{Variable: "kms:GrantIsForAWSResource", Values: []string{"true"}}, "lacks"},
	} {
		err := spec(tc.c).Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", tc.c, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%+v: error %v, want one saying %q", tc.c, err, tc.wantErr)
		}
	}
}
