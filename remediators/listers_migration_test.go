package remediators

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// volumeFilterFake answers DescribeVolumes by the filters it receives.
type volumeFilterFake struct {
	attached, migrating []string
	calls               [][]ec2types.Filter
}

func (f *volumeFilterFake) DescribeVolumes(_ context.Context, in *ec2.DescribeVolumesInput, _ ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error) {
	f.calls = append(f.calls, in.Filters)
	var ids []string
	for _, fl := range in.Filters {
		switch aws.ToString(fl.Name) {
		case "attachment.status":
			ids = f.attached
		case "tag-key":
			if !reflect.DeepEqual(fl.Values, []string{tagStep}) {
				return nil, nil
			}
			ids = f.migrating
		}
	}
	out := &ec2.DescribeVolumesOutput{}
	for _, id := range ids {
		out.Volumes = append(out.Volumes, ec2types.Volume{VolumeId: aws.String(id)})
	}
	return out, nil
}

// The originals of migrations under way are listed even when detached, once.
func TestAttachedListingIncludesMigratingVolumes(t *testing.T) {
	f := &volumeFilterFake{attached: []string{"vol-a", "vol-b"}, migrating: []string{"vol-b", "vol-detached"}}
	ids, err := listAttachedUnencryptedVolumes(context.Background(), f, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vol-a", "vol-b", "vol-detached"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("listed %v, want %v", ids, want)
	}
	if len(f.calls) != 2 {
		t.Errorf("%d DescribeVolumes calls, want 2", len(f.calls))
	}
}
