// Package orgproxy stands between the AWS SDK and moto_server in the tests
// and the demo of an AWS Organization, for two things the emulator does
// not do:
//
//   - It records every signed request: the access key ID that signed it,
//     the account that key belongs to, the service and region of its
//     credential scope and the operation. moto lets any account's keys
//     write any S3 bucket and shares bucket names across accounts, so a
//     bucket's state cannot show whose credentials fixed it; the record
//     can. A key belongs to the account of the role an AssumeRole answer
//     that passed through the proxy issued it for; every other key is the
//     central account's (as moto too maps the keys it did not issue to its
//     default account).
//   - It stands in for STS's trust evaluation. moto grants AssumeRole into
//     any role ARN, even one that does not exist. The proxy answers an
//     AssumeRole into a role that does not exist in its account, or whose
//     trust policy does not admit the caller, as STS does: HTTP 403 with
//     the query protocol's AccessDenied error, "User: CALLER is not
//     authorized to perform: sts:AssumeRole on resource: ROLE". It reads
//     the role with IAM GetRole in the role's account (with credentials
//     from its own AssumeRole, which moto grants) and evaluates the trust
//     policy shape the member module writes (see trustPolicy.admits).
//
// It also answers GetCallerIdentity for the base keys given an identity
// (moto would name every such key arn:aws:sts::ACCOUNT:user/moto), so that
// the code under test sees the principal the key stands for.
package orgproxy

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autoremediate/autoremediate/internal/awserr"
	"github.com/autoremediate/autoremediate/internal/awsid"
	"github.com/autoremediate/autoremediate/internal/cloudtrailproxy"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/faultproxy"
	"github.com/autoremediate/autoremediate/internal/relay"
)

// maxBody is the largest request body the proxy reads to name a call; a
// larger one is forwarded with the call recorded without its parameters.
const maxBody = 8 << 20

// Options configure a Proxy.
type Options struct {
	// Target is the emulator's URL (required).
	Target string
	// Central is the account of every key the proxy did not see issued
	// (moto's default account, emulator.Account, when empty).
	Central string
	// Identities are the principals the base keys stand for: their ARN in
	// the trust evaluation (aws:PrincipalArn) and in STS's denial message,
	// and GetCallerIdentity's answer. A base key not listed is the IAM
	// user arn:aws:iam::CENTRAL:user/KEY.
	Identities map[string]cloudtrailproxy.Identity
	// OnError is told what the proxy could not do (a trust check that
	// could not read the role, an AssumeRole answer it could not read);
	// nil drops it.
	OnError func(error)
}

// Call is one signed request the proxy received.
type Call struct {
	At          time.Time
	AccessKeyID string
	// Account is the account the key belongs to; Role is the role the key
	// is a session of ("" for a base key that is not an assumed role) and
	// Principal the ARN STS names the signer by (the session's
	// arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION, or the user's ARN).
	Account, Role, Principal string
	// Service and Region are the SigV4 credential scope's.
	Service, Region string
	// Operation names the call (see faultproxy.Operation): "AssumeRole",
	// "ModifyInstanceMetadataOptions", "PUT ?publicAccessBlock".
	Operation string
	Method    string
	// Bucket is the S3 bucket a call addresses ("" for other services).
	Bucket string
	// Params are the query API's parameters (query string and form body):
	// Action, RoleArn, InstanceId.1, ...
	Params url.Values
	// Status is the HTTP status the caller got; Denied is set when the
	// proxy answered an AssumeRole with AccessDenied itself.
	Status int
	Denied bool
}

// Write reports whether the call changes something: S3 calls other than
// GET and HEAD, and the other services' calls whose names do not read
// (Describe..., Get..., List...). STS calls never write.
func (c Call) Write() bool {
	switch c.Service {
	case "s3":
		return c.Method != http.MethodGet && c.Method != http.MethodHead
	case "sts":
		return false
	}
	for _, p := range []string{"Describe", "Get", "List", "Head", "Search", "Lookup", "Query", "Scan", "BatchGet", "Select", "Simulate"} {
		if strings.HasPrefix(c.Operation, p) {
			return false
		}
	}
	return true
}

// RoleARN is the role an AssumeRole call asked for ("" for other calls).
func (c Call) RoleARN() string {
	if c.Service != "sts" || c.Operation != "AssumeRole" {
		return ""
	}
	return c.Params.Get("RoleArn")
}

// Proxy is the recording, trust-evaluating reverse proxy; it is an
// http.Handler.
type Proxy struct {
	rp         *httputil.ReverseProxy
	target     string
	central    string
	identities map[string]cloudtrailproxy.Identity
	onError    func(error)
	// getRole reads a role in its account: its ARN and trust policy
	// document, found false when it does not exist.
	getRole func(ctx context.Context, account, name string) (arn, doc string, found bool, err error)

	mu       sync.Mutex
	sessions map[string]session // keys issued by AssumeRole answers through the proxy
	calls    []Call
	lookup   map[string]aws.CredentialsProvider // the proxy's own credentials per account
}

// Server is a Proxy listening on a loopback port: its URL is what clients
// use as their endpoint URL, and Close stops it, letting calls in flight
// finish (at most 5 s).
type Server struct {
	*Proxy
	*relay.Server
}

// session is what the proxy knows of a key an AssumeRole answer issued.
type session struct{ account, role, arn string }

type callKey struct{}

// New returns a proxy forwarding to opts.Target.
func New(opts Options) (*Proxy, error) {
	target, err := url.Parse(opts.Target)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return nil, fmt.Errorf("the organisation proxy's target %q is not a URL", opts.Target)
	}
	p := &Proxy{target: opts.Target, central: opts.Central, identities: opts.Identities, onError: opts.OnError,
		sessions: map[string]session{}, lookup: map[string]aws.CredentialsProvider{}}
	if p.central == "" {
		p.central = emulator.Account
	}
	if p.onError == nil {
		p.onError = func(error) {}
	}
	p.getRole = p.emulatorRole
	p.rp = relay.ReverseProxy(target, p.readResponse, func(r *http.Request, err error) {
		p.onError(err)
		if c, ok := r.Context().Value(callKey{}).(*Call); ok {
			c.Status = http.StatusBadGateway
		}
	})
	return p, nil
}

// Calls returns the calls recorded so far, in the order they completed.
func (p *Proxy) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// ServeHTTP records the request, answers it itself when it is an
// AssumeRole STS would deny or a base key's GetCallerIdentity, and
// forwards it otherwise.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, region, service, signed := cloudtrailproxy.SignedWith(r)
	if !signed {
		// The emulator's own API (reset, data.json): not an AWS call.
		p.rp.ServeHTTP(w, r)
		return
	}
	body, complete, err := relay.ReadBody(r, maxBody)
	if err != nil {
		http.Error(w, fmt.Sprintf("reading the request body of %s %s: %v", r.Method, r.URL.Path, err), http.StatusBadRequest)
		return
	}
	c := &Call{At: time.Now(), AccessKeyID: key, Service: service, Region: region, Method: r.Method, Params: r.URL.Query()}
	if complete {
		c.Operation = faultproxy.Operation(r, body)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			if form, err := url.ParseQuery(string(body)); err == nil {
				for k, v := range form {
					c.Params[k] = v
				}
			}
		}
	}
	if service == "s3" {
		c.Bucket, _ = cloudtrailproxy.S3Target(r)
	}
	who := p.signer(key)
	c.Account, c.Role, c.Principal = who.Account, who.role, who.ARN
	defer p.record(c)
	if service == "sts" {
		switch c.Operation {
		case "AssumeRole":
			if denied, err := p.denies(r.Context(), who, c.Params); err != nil {
				p.onError(err)
				c.Status = http.StatusInternalServerError
				writeSTSError(w, c.Status, "Receiver", "InternalFailure", err.Error())
				return
			} else if denied {
				c.Status, c.Denied = http.StatusForbidden, true
				writeSTSError(w, c.Status, "Sender", "AccessDenied",
					fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", who.ARN, c.Params.Get("RoleArn")))
				return
			}
		case "GetCallerIdentity":
			if id, ok := p.identities[key]; ok {
				c.Status = http.StatusOK
				writeCallerIdentity(w, id, who)
				return
			}
		}
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
}

func (p *Proxy) record(c *Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, *c)
}

// signerInfo is who signs with a key: the caller a trust policy sees, and
// the role the key is a session of.
type signerInfo struct {
	caller
	role string
}

// signer is who signs with key: the session an AssumeRole answer issued it
// for, else the configured identity of a base key, else an IAM user of the
// central account named after the key.
func (p *Proxy) signer(key string) signerInfo {
	p.mu.Lock()
	s, issued := p.sessions[key]
	p.mu.Unlock()
	if issued {
		return signerInfo{caller: caller{Account: s.account, PrincipalARN: s.role, ARN: s.arn}, role: s.role}
	}
	id, ok := p.identities[key]
	if !ok {
		user := "arn:aws:iam::" + p.central + ":user/" + key
		return signerInfo{caller: caller{Account: p.central, PrincipalARN: user, ARN: user}}
	}
	account := cmp.Or(arnAccount(id.ARN), p.central)
	if id.Type != cloudtrailproxy.TypeAssumedRole {
		return signerInfo{caller: caller{Account: account, PrincipalARN: id.ARN, ARN: id.ARN}}
	}
	return signerInfo{caller: caller{Account: account, PrincipalARN: id.ARN, ARN: sessionARN(id.ARN, id.SessionName)}, role: id.ARN}
}

// sessionARN is the assumed-role ARN STS names a session of role by: the
// role's name without its path.
func sessionARN(role, name string) string {
	partition := "aws"
	if parts := strings.SplitN(role, ":", 3); len(parts) == 3 {
		partition = parts[1]
	}
	return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", partition, arnAccount(role), role[strings.LastIndexByte(role, '/')+1:], name)
}

// denies reports whether STS would deny who the AssumeRole call params
// make: the role does not exist in its account (or has another path), or
// its trust policy does not admit the caller. A RoleArn that is not a
// role's ARN is left to the emulator, which answers STS's validation
// error.
func (p *Proxy) denies(ctx context.Context, who signerInfo, params url.Values) (bool, error) {
	role := params.Get("RoleArn")
	account := arnAccount(role)
	_, rest, ok := strings.Cut(role, ":role/")
	if account == "" || !ok || rest == "" {
		return false, nil
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	arn, doc, found, err := p.getRole(ctx, account, name)
	if err != nil {
		return false, fmt.Errorf("checking the trust of role %s for %s: %w", role, who.ARN, err)
	}
	if !found || arn != role {
		return true, nil
	}
	policy, err := parseTrustPolicy(doc)
	if err != nil {
		// IAM never stores a policy it cannot read; one that cannot be read
		// here admits no one.
		p.onError(fmt.Errorf("role %s: %w", role, err))
		return true, nil
	}
	return !policy.admits(who.caller, assumeRequest{ExternalID: params.Get("ExternalId"), SessionName: params.Get("RoleSessionName")}), nil
}

// emulatorRole reads a role from the emulator with IAM GetRole, signed
// with credentials in the role's account: moto keeps IAM per account and
// grants the proxy's own AssumeRole into any account.
func (p *Proxy) emulatorRole(ctx context.Context, account, name string) (arn, doc string, found bool, err error) {
	creds, err := p.accountCredentials(ctx, account)
	if err != nil {
		return "", "", false, err
	}
	client := iam.NewFromConfig(aws.Config{Region: emulator.Region, Credentials: creds, BaseEndpoint: aws.String(p.target), RetryMaxAttempts: 3})
	out, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if awserr.Is(err, "NoSuchEntity") {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("reading role %s in account %s: %w", name, account, err)
	}
	return aws.ToString(out.Role.Arn), aws.ToString(out.Role.AssumeRolePolicyDocument), true, nil
}

// accountCredentials are the proxy's own credentials in account, from an
// AssumeRole made straight to the emulator (not recorded), once per
// account.
func (p *Proxy) accountCredentials(ctx context.Context, account string) (aws.CredentialsProvider, error) {
	p.mu.Lock()
	creds, ok := p.lookup[account]
	p.mu.Unlock()
	if ok {
		return creds, nil
	}
	client := sts.NewFromConfig(aws.Config{Region: emulator.Region, BaseEndpoint: aws.String(p.target), RetryMaxAttempts: 3,
		Credentials: credentials.NewStaticCredentialsProvider("orgproxy", "orgproxy", "")})
	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + account + ":role/orgproxy-trust-check"),
		RoleSessionName: aws.String("orgproxy")})
	if err != nil {
		return nil, fmt.Errorf("getting credentials in account %s to read its roles: %w", account, err)
	}
	c := out.Credentials
	creds = credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	p.mu.Lock()
	p.lookup[account] = creds
	p.mu.Unlock()
	return creds, nil
}

// readResponse records the status of a forwarded call and, for an
// AssumeRole that succeeded, which role and account the issued key
// belongs to.
func (p *Proxy) readResponse(resp *http.Response) error {
	c, _ := resp.Request.Context().Value(callKey{}).(*Call)
	if c == nil {
		return nil
	}
	c.Status = resp.StatusCode
	if c.Service != "sts" || c.Operation != "AssumeRole" || resp.StatusCode != http.StatusOK {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if err != nil {
		p.onError(fmt.Errorf("reading the AssumeRole answer for %s: %w", c.Params.Get("RoleArn"), err))
		return nil
	}
	var out struct {
		Result struct {
			Credentials     struct{ AccessKeyId string }
			AssumedRoleUser struct{ Arn string }
		} `xml:"AssumeRoleResult"`
	}
	if err := xml.Unmarshal(relay.Decoded(raw, resp.Header.Get("Content-Encoding"), maxBody), &out); err != nil || out.Result.Credentials.AccessKeyId == "" {
		p.onError(fmt.Errorf("reading the AssumeRole answer for %s: no credentials in it (%v)", c.Params.Get("RoleArn"), err))
		return nil
	}
	role := c.Params.Get("RoleArn")
	p.mu.Lock()
	p.sessions[out.Result.Credentials.AccessKeyId] = session{account: arnAccount(role), role: role, arn: out.Result.AssumedRoleUser.Arn}
	p.mu.Unlock()
	return nil
}

// stsNamespace is the XML namespace of STS's answers.
const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// writeSTSError answers as STS's query protocol answers an error:
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>.
func writeSTSError(w http.ResponseWriter, status int, typ, code, message string) {
	id := awsid.UUID()
	body, _ := xml.MarshalIndent(struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		NS      string   `xml:"xmlns,attr"`
		Error   struct {
			Type, Code, Message string
		}
		RequestID string `xml:"RequestId"`
	}{NS: stsNamespace, Error: struct{ Type, Code, Message string }{typ, code, message}, RequestID: id}, "", "  ")
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeCallerIdentity answers GetCallerIdentity for a base key's identity.
func writeCallerIdentity(w http.ResponseWriter, id cloudtrailproxy.Identity, who signerInfo) {
	userID := id.PrincipalID()
	rid := awsid.UUID()
	type result struct{ Arn, UserId, Account string }
	body, _ := xml.MarshalIndent(struct {
		XMLName  xml.Name `xml:"GetCallerIdentityResponse"`
		NS       string   `xml:"xmlns,attr"`
		Result   result   `xml:"GetCallerIdentityResult"`
		Metadata struct {
			RequestID string `xml:"RequestId"`
		} `xml:"ResponseMetadata"`
	}{NS: stsNamespace, Result: result{Arn: who.ARN, UserId: userID, Account: who.Account},
		Metadata: struct {
			RequestID string `xml:"RequestId"`
		}{rid}}, "", "  ")
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amzn-RequestId", rid)
	_, _ = w.Write(body)
}

// Start runs a proxy on a free loopback port.
func Start(opts Options) (*Server, error) {
	p, srv, err := relay.Start("organisation proxy", New, opts)
	if err != nil {
		return nil, err
	}
	return &Server{Proxy: p, Server: srv}, nil
}
