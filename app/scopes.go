package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/orgcheck"
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/remediators"
)

// DefaultMemberRoleName is MEMBER_ROLE_NAME's default: the role the member
// module and the StackSet template create in every member account.
const DefaultMemberRoleName = "autoremediate-member"

// Member role sessions: AssumeRole's longest session for a chained role
// (the function's own credentials are a role session) is an hour, and
// credentials are renewed memberRenewal before they expire, so that no call
// starts with credentials about to lapse.
const (
	memberSessionDuration = time.Hour
	memberRenewal         = 5 * time.Minute
)

// AssumeRoleAPI is the part of the STS client the member roles are assumed
// with (the central account's credentials).
type AssumeRoleAPI interface {
	AssumeRole(ctx context.Context, params *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
	GetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Scopes hands out the clients and remediators of each account and region
// the pipeline acts in. The function's own account uses its own
// credentials; any other account is a member, acted in as the member role
// (arn:PARTITION:iam::ACCOUNT:role/RoleName, with ExternalID). Member
// credentials are cached per account and renewed shortly before they
// expire (one AssumeRole per account per hour, not per event); clients are
// built once per account and region.
type Scopes struct {
	base       aws.Config
	sts        AssumeRoleAPI
	own        func(ctx context.Context) (string, error)
	roleName   string
	externalID string
	registry   func(c *Clients, account, role string) (*remediation.Registry, error)
	// pathStyleS3 is the central clients' S3 addressing (emulators).
	pathStyleS3 bool
	// Configure, when set, changes each scope's SDK configuration before
	// its clients are built (the sweep gives every account and region its
	// own rate limiter). Set it before the first use.
	Configure func(cfg *aws.Config, account, region string)

	mu         sync.Mutex
	members    map[string]*memberCredentials
	scopes     map[string]*scopeEntry
	callerOnce sync.Once
	caller     string // the central principal, for error messages (callerRole)
}

type scopeEntry struct {
	once sync.Once
	sc   Scope
	err  error
}

// Scope is one account and region: its clients and remediators, and for a
// member account the role they act as.
type Scope struct {
	Account, Region string
	// Role is the member role's ARN; "" in the function's own account.
	Role     string
	Clients  *Clients
	Registry *remediation.Registry
	member   *memberCredentials
}

// ActedAs is the assumed-role session ARN the scope's calls are made as
// now; "" in the function's own account.
func (s Scope) ActedAs() string {
	if s.member == nil {
		return ""
	}
	return s.member.sessionARN()
}

// NewScopes returns the scopes of the deployment cfg describes: c are the
// central account's clients (their credentials assume the member roles;
// their S3 addressing carries over), and the remediators are cfg's enabled
// ones.
func NewScopes(cfg Config, c *Clients) *Scopes {
	s := newScopes(cfg, c.Config(), c.STS(), OwnAccount(c))
	s.pathStyleS3 = c.PathStyleS3
	return s
}

func newScopes(cfg Config, base aws.Config, stsClient AssumeRoleAPI, own func(context.Context) (string, error)) *Scopes {
	return &Scopes{
		base: base, sts: stsClient, own: own,
		roleName: cfg.MemberRoleName, externalID: cfg.MemberRoleExternalID,
		registry: func(c *Clients, account, role string) (*remediation.Registry, error) {
			return scopedRegistry(cfg, c, account, role)
		},
		members: map[string]*memberCredentials{},
		scopes:  map[string]*scopeEntry{},
	}
}

// For returns the scope of account and region, assuming the member role
// (session named after eventID) when account is not the function's own. Its
// errors say which account and role failed and how to fix it.
func (s *Scopes) For(ctx context.Context, account, region, eventID string) (Scope, error) {
	if !accountID.MatchString(account) {
		return Scope{}, fmt.Errorf("acting in account %q: not a 12-digit AWS account ID", account)
	}
	if region == "" {
		region = s.base.Region
	}
	own, err := s.own(ctx)
	if err != nil {
		return Scope{}, fmt.Errorf("finding the function's own account before acting in account %s: %w", account, err)
	}
	s.mu.Lock()
	key := account + "/" + region
	e := s.scopes[key]
	if e == nil {
		e = &scopeEntry{}
		s.scopes[key] = e
	}
	var m *memberCredentials
	if account != own {
		if m = s.members[account]; m == nil {
			m = &memberCredentials{sts: s.sts, role: s.RoleARN(account), externalID: s.externalID}
			m.cache = aws.NewCredentialsCache(m, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = memberRenewal })
			s.members[account] = m
		}
	}
	s.mu.Unlock()
	if m != nil {
		// Assume the role now rather than at the first call's signing, so
		// that a broken member fails here with a message that says so.
		if _, err := m.cache.Retrieve(withSession(ctx, eventID)); err != nil {
			return Scope{}, s.explainAssume(ctx, account, m.role, err)
		}
	}
	e.once.Do(func() { e.sc, e.err = s.build(account, region, m) })
	return e.sc, e.err
}

func (s *Scopes) build(account, region string, m *memberCredentials) (Scope, error) {
	cfg := s.base.Copy()
	cfg.Region = region
	// Copy shares the APIOptions array: clip it, so that a Configure hook
	// appending to one scope's options cannot write over another's.
	cfg.APIOptions = slices.Clip(cfg.APIOptions)
	sc := Scope{Account: account, Region: region, member: m}
	if m != nil {
		cfg.Credentials = m.cache
		sc.Role = m.role
	}
	if s.Configure != nil {
		s.Configure(&cfg, account, region)
	}
	sc.Clients = NewClients(cfg)
	sc.Clients.PathStyleS3 = sc.Clients.PathStyleS3 || s.pathStyleS3
	reg, err := s.registry(sc.Clients, account, sc.Role)
	if err != nil {
		return Scope{}, fmt.Errorf("building the remediators for account %s in %s: %w", account, region, err)
	}
	sc.Registry = reg
	return sc, nil
}

// RoleARN is the member role's ARN in account.
func (s *Scopes) RoleARN(account string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", remediators.Partition(s.base.Region), account, s.roleName)
}

// Handler returns the function the handler gets its scopes from
// (remediation.Handler.Scopes).
func (s *Scopes) Handler() func(ctx context.Context, account, region, eventID string) (remediation.Scope, error) {
	return func(ctx context.Context, account, region, eventID string) (remediation.Scope, error) {
		sc, err := s.For(ctx, account, region, eventID)
		if err != nil {
			return remediation.Scope{}, err
		}
		return remediation.Scope{Registry: sc.Registry, ActedAs: sc.ActedAs()}, nil
	}
}

// OrgCheck returns the function `remediate org check` gets its scopes from
// (orgcheck.Checker.Scopes).
func (s *Scopes) OrgCheck() orgcheck.Scoper {
	return func(ctx context.Context, account, region, sessionID string) (orgcheck.Scope, error) {
		sc, err := s.For(ctx, account, region, sessionID)
		if err != nil {
			return orgcheck.Scope{}, err
		}
		return orgcheck.Scope{Account: sc.Account, Region: sc.Region, Role: sc.Role, ActedAs: sc.ActedAs(),
			Clients: sc.Clients, Config: sc.Clients.Config()}, nil
	}
}

// explainAssume turns a failed AssumeRole into what to do about it.
func (s *Scopes) explainAssume(ctx context.Context, account, role string, err error) error {
	fix := fmt.Sprintf("deploy or update the member stack in account %s (terraform/modules/member, or the StackSet template), then check it with `remediate org check --accounts %s`", account, account)
	switch {
	case awserr.Denied(err):
		ext := "this function sends none: MEMBER_ROLE_EXTERNAL_ID is empty"
		if s.externalID != "" {
			ext = "this function sends the one in MEMBER_ROLE_EXTERNAL_ID"
		}
		return fmt.Errorf("cannot assume the member role %s in account %s (sts:AssumeRole denied): the role is missing, does not trust %s, or expects another external ID (%s); %s (MEMBER_ROLE_NAME names the role): %w",
			role, account, s.callerRole(ctx), ext, fix, err)
	case awserr.Is(err, "RegionDisabledException"):
		return fmt.Errorf("cannot assume the member role %s in account %s: STS is not activated in region %s of the central account; activate it (IAM account settings) or set AWS_REGION to a region where it is: %w", role, account, s.base.Region, err)
	case awserr.Is(err, "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"):
		return fmt.Errorf("cannot assume the member role %s in account %s: the function's own credentials are not valid (%s): %w", role, account, awserr.Code(err), err)
	}
	return fmt.Errorf("assuming the member role %s in account %s: %w", role, account, err)
}

// callerRole names the central principal for error messages: its role ARN
// when it is an assumed role, asked once (a failure too: the message then
// says "this function's role"). It has its own lock, so that scopes are
// handed out meanwhile.
func (s *Scopes) callerRole(ctx context.Context) string {
	s.callerOnce.Do(func() {
		s.caller = "this function's role"
		if out, err := s.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
			s.caller = roleOfSession(aws.ToString(out.Arn))
		}
	})
	return s.caller
}

// roleOfSession turns arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION into
// arn:aws:iam::ACCOUNT:role/NAME (without the role's path, which the
// session ARN does not carry).
func roleOfSession(a string) string {
	p, err := arn.Parse(a)
	if err != nil || p.Service != "sts" || !strings.HasPrefix(p.Resource, "assumed-role/") {
		return a
	}
	name := strings.SplitN(strings.TrimPrefix(p.Resource, "assumed-role/"), "/", 2)[0]
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", p.Partition, p.AccountID, name)
}

var accountID = regexp.MustCompile(`^\d{12}$`)

// scopedRegistry builds cfg's enabled remediators with c; in a member
// account (role set) each one's denied calls are explained (deniedInMember).
func scopedRegistry(cfg Config, c *Clients, account, role string) (*remediation.Registry, error) {
	reg, err := remediators.Registry(cfg.Definitions, c, cfg.Remediators, cfg.Enabled)
	if err != nil || role == "" {
		return reg, err
	}
	var rs []remediation.Remediator
	for _, r := range reg.All() {
		rs = append(rs, deniedInMember{Remediator: r, account: account, role: role})
	}
	return remediation.NewRegistry(rs...)
}

// deniedInMember says, when a remediator's call in a member account is
// denied, that the member role lacks the permission and how to grant it,
// instead of a bare AccessDenied.
type deniedInMember struct {
	remediation.Remediator
	account, role string
}

func (d deniedInMember) Remediate(ctx context.Context, req remediation.Request) remediation.Result {
	res := d.Remediator.Remediate(ctx, req)
	if res.Err == nil || !awserr.Denied(res.Err) {
		return res
	}
	action := awserr.Action(res.Err)
	if action == "" {
		action = "a permission it needs"
	}
	res.Err = fmt.Errorf("the member role %s in account %s is not allowed %s (needed by %s): update the member stack in account %s (terraform/modules/member, or the StackSet template) so that the role has the enabled remediators' permissions, then check it with `remediate org check --accounts %s`: %w",
		d.role, d.account, action, d.Name(), d.account, d.account, res.Err)
	res.Reason = res.Err.Error()
	return res
}

// memberCredentials assumes one account's member role. Its cache renews the
// credentials memberRenewal before they expire.
type memberCredentials struct {
	sts        AssumeRoleAPI
	role       string
	externalID string
	cache      *aws.CredentialsCache

	mu      sync.Mutex
	session string // the current session's ARN
}

// Retrieve assumes the role, naming the session after the event (or sweep
// run) in ctx (withSession), so that the member's CloudTrail shows what
// caused it. The credentials serve the account's later events until they
// are renewed, under that first name: each outcome's actedAs names the
// session its calls were made in.
func (m *memberCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(m.role),
		RoleSessionName: aws.String(sessionFrom(ctx)),
		DurationSeconds: aws.Int32(int32(memberSessionDuration / time.Second)),
	}
	if m.externalID != "" {
		in.ExternalId = aws.String(m.externalID)
	}
	out, err := m.sts.AssumeRole(ctx, in)
	if err != nil {
		return aws.Credentials{}, err
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.Expiration == nil {
		return aws.Credentials{}, errors.New("STS AssumeRole returned no credentials")
	}
	m.mu.Lock()
	if out.AssumedRoleUser != nil {
		m.session = aws.ToString(out.AssumedRoleUser.Arn)
	}
	m.mu.Unlock()
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken), CanExpire: true, Expires: *c.Expiration, Source: "autoremediate member role"}, nil
}

func (m *memberCredentials) sessionARN() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.session
}

type sessionKey struct{}

// withSession names the member role sessions assumed under ctx after the
// event (or sweep run) that needs them.
func withSession(ctx context.Context, eventID string) context.Context {
	return context.WithValue(ctx, sessionKey{}, eventID)
}

// sessionName characters: AssumeRole's RoleSessionName allows [\w+=,.@-]
// and at most 64 characters.
var sessionUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// sessionFrom is the RoleSessionName for ctx: "autoremediate-" and the event
// ID, cut to AssumeRole's 64 characters.
func sessionFrom(ctx context.Context) string {
	id, _ := ctx.Value(sessionKey{}).(string)
	name := "autoremediate"
	if id = sessionUnsafe.ReplaceAllString(id, "-"); id != "" {
		name += "-" + id
	}
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
