package fakeaws

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Org is an organisation's accounts: a central account, whose credentials
// Config hands out, and members, whose role RoleName the central
// credentials may assume. Every call is signed (SigV4) and answered by the
// Region of the signing access key's account and of the credential scope's
// region, as AWS does; STS answers AssumeRole and GetCallerIdentity itself.
// Its calls are answered concurrently, each after Latency.
type Org struct {
	Central  string
	RoleName string
	// Latency is how long each call takes (set before the first call).
	Latency time.Duration

	t TB

	mu      sync.Mutex
	members []string
	regions map[string]*Region   // by "account/region"
	keys    map[string]*identity // by access key ID
	assumed []sts.AssumeRoleInput
	calls   map[string]int // STS's, by "STS.Operation"
}

// identity is what an access key signs as.
type identity struct {
	account, arn, userID string
	token                string // the session token that must come with it ("" long-term keys)
}

// NewOrg returns an organisation of central and members, with no
// resources. Central's access key is CentralKey.
func NewOrg(t TB, central, roleName string, members ...string) *Org {
	o := &Org{t: t, Central: central, RoleName: roleName, members: slices.Clone(members),
		regions: map[string]*Region{}, keys: map[string]*identity{}, calls: map[string]int{}}
	o.keys[CentralKey] = &identity{account: central, userID: "AROAFAKECENTRAL:fakeaws",
		arn: fmt.Sprintf("arn:aws:sts::%s:assumed-role/autoremediate-sweep/fakeaws", central)}
	return o
}

// CentralKey is the access key ID of an Org's central credentials.
const CentralKey = "AKIAFAKECENTRAL00001"

// Region returns account's region, creating it empty on first use. Each
// Region's instances and volumes are numbered apart from the others', and
// its buckets are named after the account and region.
func (o *Org) Region(account, region string) *Region {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := account + "/" + region
	r := o.regions[key]
	if r == nil {
		r = newRegion(o.t, account, region, "bench-"+account+"-"+region+"-%04d", (len(o.regions)+1)*0x100000)
		o.regions[key] = r
	}
	return r
}

// Config returns an SDK configuration in region with the central account's
// credentials, whose calls the Org answers; opts change it first.
func (o *Org) Config(region string, opts ...func(*aws.Config)) aws.Config {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(CentralKey, "fake-central-secret", "")}
	for _, opt := range opts {
		opt(&cfg)
	}
	cfg.APIOptions = append(cfg.APIOptions, answer(o.serve))
	return cfg
}

// AssumeRoles returns the AssumeRole requests the Org granted, in order.
func (o *Org) AssumeRoles() []sts.AssumeRoleInput {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.assumed)
}

// AccountOf returns the account an access key ID belongs to ("" unknown).
func (o *Org) AccountOf(accessKey string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if id := o.keys[accessKey]; id != nil {
		return id.account
	}
	return ""
}

// Count returns how many STS op ("STS.Operation") calls the Org answered.
func (o *Org) Count(op string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[op]
}

func (o *Org) serve(ctx context.Context, op string, params, request any) (any, error) {
	if err := sleep(ctx, o.Latency); err != nil {
		return nil, err
	}
	req, _ := request.(*smithyhttp.Request)
	if req == nil {
		o.t.Errorf("fake AWS: %s: no HTTP request to read the signature from (%T)", op, request)
		return nil, apiError("MissingAuthenticationToken")
	}
	key, region, err := signedBy(req)
	if err != nil {
		o.t.Errorf("fake AWS: %s: %v", op, err)
		return nil, apiError("MissingAuthenticationToken")
	}
	o.mu.Lock()
	id := o.keys[key]
	o.mu.Unlock()
	if id == nil || req.Header.Get("X-Amz-Security-Token") != id.token {
		// What AWS answers a key it does not know or a session token that
		// is not the key's.
		return nil, &smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid. (fake)", Fault: smithy.FaultClient}
	}
	if service, _, _ := strings.Cut(op, "."); service == "STS" {
		return o.serveSTS(op, params, id)
	}
	return o.Region(id.account, region).serve(op, params, key)
}

// signedBy reads the access key ID and the region of a SigV4
// Authorization header: "AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=..., Signature=...".
func signedBy(req *smithyhttp.Request) (key, region string, err error) {
	auth := req.Header.Get("Authorization")
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || !ok {
		return "", "", fmt.Errorf("not signed with SigV4 (Authorization %q)", auth)
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || parts[2] == "" {
		return "", "", fmt.Errorf("malformed SigV4 credential scope %q", cred)
	}
	return parts[0], parts[2], nil
}

// AssumeRole's RoleSessionName: [\w+=,.@-], 2 to 64 characters.
var sessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (o *Org) serveSTS(op string, params any, caller *identity) (any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls[op]++
	switch in := params.(type) {
	case *sts.GetCallerIdentityInput:
		return &sts.GetCallerIdentityOutput{Account: aws.String(caller.account), Arn: aws.String(caller.arn), UserId: aws.String(caller.userID)}, nil
	case *sts.AssumeRoleInput:
		role := aws.ToString(in.RoleArn)
		session := aws.ToString(in.RoleSessionName)
		if !sessionName.MatchString(session) {
			o.t.Errorf("AssumeRole %s: RoleSessionName %q is not valid", role, session)
			return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "invalid RoleSessionName (fake)", Fault: smithy.FaultClient}
		}
		d := aws.ToInt32(in.DurationSeconds)
		if in.DurationSeconds == nil {
			d = 3600
		}
		if d < 900 || d > 3600 {
			// A role chained from the central role's session lasts an hour
			// at most.
			o.t.Errorf("AssumeRole %s: DurationSeconds %d outside 900-3600", role, d)
			return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "invalid DurationSeconds (fake)", Fault: smithy.FaultClient}
		}
		a, err := arn.Parse(role)
		name, isRole := strings.CutPrefix(a.Resource, "role/")
		if err != nil || a.Service != "iam" || !isRole || name != o.RoleName || caller.account != o.Central || !slices.Contains(o.members, a.AccountID) {
			return nil, &smithy.GenericAPIError{Code: "AccessDenied", Fault: smithy.FaultClient,
				Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s (fake)", caller.arn, role)}
		}
		o.assumed = append(o.assumed, *in)
		n := len(o.assumed)
		key := fmt.Sprintf("ASIAFAKE%012d", n)
		o.keys[key] = &identity{account: a.AccountID, token: fmt.Sprintf("fake-session-token-%d", n),
			arn: fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", a.AccountID, name, session), userID: fmt.Sprintf("AROAFAKE%012d:%s", n, session)}
		return &sts.AssumeRoleOutput{
			Credentials: &ststypes.Credentials{AccessKeyId: aws.String(key), SecretAccessKey: aws.String("fake-secret-" + key),
				SessionToken: aws.String(o.keys[key].token), Expiration: aws.Time(time.Now().Add(time.Duration(d) * time.Second))},
			AssumedRoleUser: &ststypes.AssumedRoleUser{Arn: aws.String(o.keys[key].arn), AssumedRoleId: aws.String(o.keys[key].userID)},
		}, nil
	}
	o.t.Errorf("fake AWS: %s (%T) is not faked", op, params)
	return nil, apiError("NotImplemented")
}
