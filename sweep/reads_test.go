package sweep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// describer answers DescribeInstances by instance-id filter from the
// instances it knows, and records each call's IDs; it refuses any other
// request, since the batched reads may only ask by filter.
type describer struct {
	t     *testing.T
	mu    sync.Mutex
	known map[string]ec2types.Instance
	asked [][]string
	err   error
}

func (d *describer) DescribeInstances(_ context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(in.InstanceIds) > 0 || len(in.Filters) != 1 || aws.ToString(in.Filters[0].Name) != "instance-id" {
		d.t.Errorf("DescribeInstances %+v, want an instance-id filter", *in)
	}
	d.asked = append(d.asked, slices.Clone(in.Filters[0].Values))
	if d.err != nil {
		return nil, d.err
	}
	var res ec2types.Reservation
	for _, id := range in.Filters[0].Values {
		if i, ok := d.known[id]; ok {
			res.Instances = append(res.Instances, i)
		}
	}
	return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{res}}, nil
}

func (d *describer) calls() [][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.asked)
}

func knownInstances(n int) map[string]ec2types.Instance {
	m := map[string]ec2types.Instance{}
	for i := range n {
		id := fmt.Sprintf("i-%017x", i)
		m[id] = ec2types.Instance{InstanceId: aws.String(id), MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{HttpTokens: ec2types.HttpTokensStateRequired}}
	}
	return m
}

func testReads(d *describer, window time.Duration) *instanceReads {
	r := newInstanceReads(context.Background(), func() ec2.DescribeInstancesAPIClient { return d })
	r.window = window
	return r
}

// Reads made together are answered by one DescribeInstances; an instance
// EC2 does not list is not found, and the others still are.
func TestReadsAreBatched(t *testing.T) {
	d := &describer{t: t, known: knownInstances(30)}
	r := testReads(d, time.Hour) // sent when the last read asks, below
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range d.known {
			if !yield(id) {
				return
			}
		}
	})
	ids = append(ids, "i-0000000000000ffff")
	type answer struct {
		id    string
		found bool
		err   error
	}
	answers := make(chan answer, len(ids))
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst, found, err := r.Read(context.Background(), "eu-west-1", id)
			if found && aws.ToString(inst.InstanceId) != id {
				t.Errorf("Read(%s) returned %s", id, aws.ToString(inst.InstanceId))
			}
			answers <- answer{id, found, err}
		}()
	}
	// Send the batch once every read has joined it (as the window's timer
	// would): no read is answered before.
	sendWhen(t, r, "eu-west-1", len(ids))
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.err != nil || a.found != (a.id != "i-0000000000000ffff") {
			t.Errorf("Read(%s): found %t, %v", a.id, a.found, a.err)
		}
	}
	if calls := d.calls(); len(calls) != 1 || len(calls[0]) != len(ids) {
		t.Errorf("%d DescribeInstances calls (%v), want one for all %d reads", len(calls), calls, len(ids))
	}
}

// sendWhen sends the region's pending batch, as its window's end would,
// once n reads have joined it.
func sendWhen(t *testing.T, r *instanceReads, region string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		b := r.pending[region]
		joined := 0
		if b != nil {
			joined = len(b.ids)
		}
		r.mu.Unlock()
		if joined == n {
			r.send(region, b)
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d reads never joined the pending batch", n)
}

// A batch is sent as soon as it is full, without waiting for its window,
// and a lone read is sent when its window ends.
func TestFullBatchIsSentAtOnce(t *testing.T) {
	d := &describer{t: t, known: knownInstances(250)}
	r := testReads(d, time.Hour)
	var wg sync.WaitGroup
	for id := range d.known {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, found, err := r.Read(context.Background(), "eu-west-1", id); !found || err != nil {
				t.Errorf("Read(%s): %t %v", id, found, err)
			}
		}()
	}
	// The first 200 reads fill a batch, sent at once; the other 50 wait
	// for their batch's window (an hour, cut short here).
	sendWhen(t, r, "eu-west-1", 50)
	wg.Wait()
	calls := d.calls()
	if len(calls) != 2 || len(calls[0])+len(calls[1]) != 250 || max(len(calls[0]), len(calls[1])) != 200 {
		t.Errorf("calls asked for %d and %d IDs, want a full batch of 200 and the other 50", len(calls[0]), len(calls[len(calls)-1]))
	}

	lone := testReads(d, time.Millisecond)
	if _, found, err := lone.Read(context.Background(), "eu-west-1", "i-00000000000000001"); !found || err != nil {
		t.Errorf("lone read: %t %v", found, err)
	}
}

// A failed batch fails each of its reads with the call's error; a read
// whose check ends stops waiting.
func TestReadErrors(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "no"}
	d := &describer{t: t, known: knownInstances(2), err: denied}
	r := testReads(d, time.Millisecond)
	_, _, err := r.Read(context.Background(), "eu-west-1", "i-00000000000000001")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnauthorizedOperation" || !strings.Contains(err.Error(), "describing 1 EC2 instances in region eu-west-1") {
		t.Errorf("error %v", err)
	}

	r = testReads(d, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Read(ctx, "eu-west-1", "i-00000000000000001"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
}

// The listing's description stands for a read for listedMaxAge only.
func TestListedExpires(t *testing.T) {
	now := time.Unix(1000, 0)
	r := testReads(&describer{t: t}, time.Hour)
	r.now = func() time.Time { return now }
	r.ListedInstances("eu-west-1", []ec2types.Instance{{InstanceId: aws.String("i-1")}, {}})
	if inst, ok := r.Listed("eu-west-1", "i-1"); !ok || aws.ToString(inst.InstanceId) != "i-1" {
		t.Errorf("Listed = %+v, %t", inst, ok)
	}
	if _, ok := r.Listed("us-east-1", "i-1"); ok {
		t.Error("listed in another region")
	}
	now = now.Add(listedMaxAge + time.Second)
	if _, ok := r.Listed("eu-west-1", "i-1"); ok {
		t.Error("a listing older than listedMaxAge still stands for a read")
	}
}
