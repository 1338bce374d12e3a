package sweep

import (
	"context"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediators"
)

const (
	// listedMaxAge is how long the listing's description of an instance
	// stands for the remediator's read. A check that starts later (in a
	// sweep paced by the write limits, the checks of a large fleet start
	// over many minutes) reads the instance again, batched with the others.
	listedMaxAge = time.Minute
	// readWindow is how long a batched read waits for more IDs before it
	// is sent: the read-backs of the writes sent together (AWS's burst)
	// share one DescribeInstances, and a lone one waits this long at most.
	readWindow = 100 * time.Millisecond
)

// instanceReads keeps what the sweep's instance listing read (it is the
// listing's remediators.InstanceSink) and answers the IMDSv2 remediator's
// reads from it (remediators.InstanceReads): the decision from the
// listing's read, the read-backs after the writes batched into one
// DescribeInstances for many IDs. A check waiting for a batch gives up its
// concurrency slot meanwhile.
type instanceReads struct {
	// ctx is the sweep's: a batched call serves many checks, so no one
	// check's context may end it.
	ctx    context.Context
	client func() ec2.DescribeInstancesAPIClient
	now    func() time.Time
	maxAge time.Duration
	window time.Duration

	mu      sync.Mutex
	listed  map[string]listedInstance // by region and ID
	pending map[string]*readBatch     // the batch being filled, by region
}

type listedInstance struct {
	inst ec2types.Instance
	at   time.Time
}

type readBatch struct {
	region string
	ids    []string
	done   chan struct{}
	found  map[string]ec2types.Instance
	err    error
}

func newInstanceReads(ctx context.Context, client func() ec2.DescribeInstancesAPIClient) *instanceReads {
	return &instanceReads{ctx: ctx, client: client, now: time.Now, maxAge: listedMaxAge, window: readWindow,
		listed: map[string]listedInstance{}, pending: map[string]*readBatch{}}
}

func readKey(region, id string) string { return region + "\x00" + id }

// ListedInstances implements remediators.InstanceSink.
func (r *instanceReads) ListedInstances(region string, instances []ec2types.Instance) {
	at := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, inst := range instances {
		if inst.InstanceId != nil {
			// What the remediator reads of it; the rest of a description
			// (interfaces, volumes, ...) would only weigh on a large fleet.
			kept := ec2types.Instance{InstanceId: inst.InstanceId, State: inst.State, MetadataOptions: inst.MetadataOptions, Tags: inst.Tags}
			r.listed[readKey(region, *inst.InstanceId)] = listedInstance{inst: kept, at: at}
		}
	}
}

// Listed implements remediators.InstanceReads.
func (r *instanceReads) Listed(region, id string) (ec2types.Instance, bool) {
	r.mu.Lock()
	l, ok := r.listed[readKey(region, id)]
	r.mu.Unlock()
	if !ok || r.now().Sub(l.at) > r.maxAge {
		return ec2types.Instance{}, false
	}
	return l.inst, true
}

// Read implements remediators.InstanceReads: the read joins the batch being
// filled for the region, which is sent after the window or once full.
func (r *instanceReads) Read(ctx context.Context, region, id string) (ec2types.Instance, bool, error) {
	r.mu.Lock()
	b := r.pending[region]
	if b == nil {
		b = &readBatch{region: region, done: make(chan struct{})}
		r.pending[region] = b
		time.AfterFunc(r.window, func() { r.send(region, b) })
	}
	b.ids = append(b.ids, id)
	full := len(b.ids) >= remediators.DescribeInstancesByIDMax
	if full {
		delete(r.pending, region)
	}
	r.mu.Unlock()
	if full {
		go r.describe(b)
	}
	resume := park(ctx)
	defer resume()
	select {
	case <-b.done:
	case <-ctx.Done():
		return ec2types.Instance{}, false, context.Cause(ctx)
	}
	if b.err != nil {
		return ec2types.Instance{}, false, b.err
	}
	inst, found := b.found[id]
	return inst, found, nil
}

// send describes the batch when its window ends, unless it was sent as
// soon as it was full.
func (r *instanceReads) send(region string, b *readBatch) {
	r.mu.Lock()
	if r.pending[region] != b {
		r.mu.Unlock()
		return
	}
	delete(r.pending, region)
	r.mu.Unlock()
	r.describe(b)
}

// describe reads the batch's instances; b is no longer pending, so nothing
// is added to it any more.
func (r *instanceReads) describe(b *readBatch) {
	b.found, b.err = remediators.DescribeInstancesByID(r.ctx, r.client(), b.region, b.ids)
	close(b.done)
}
