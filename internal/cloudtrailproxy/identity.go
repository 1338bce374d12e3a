package cloudtrailproxy

import (
	"crypto/sha256"
	"strings"
	"time"
)

// Identity types the proxy records (CloudTrail's userIdentity.type).
const (
	TypeAssumedRole = "AssumedRole"
	TypeIAMUser     = "IAMUser"
)

// Identity is the principal the proxy records for the calls signed with one
// access key ID.
type Identity struct {
	// Type is TypeAssumedRole or TypeIAMUser.
	Type string
	// ARN is the role's ARN (arn:aws:iam::ACCOUNT:role/[PATH/]NAME) for an
	// assumed role, the user's ARN for an IAM user.
	ARN string
	// SessionName is the role session's name (assumed roles only).
	SessionName string
}

// AssumedRole is the identity of a session of roleARN named session.
func AssumedRole(roleARN, session string) Identity {
	return Identity{Type: TypeAssumedRole, ARN: roleARN, SessionName: session}
}

// IAMUser is the identity of an IAM user with long-term access keys.
func IAMUser(userARN string) Identity { return Identity{Type: TypeIAMUser, ARN: userARN} }

// PrincipalID is the identity's unique ID as CloudTrail's
// userIdentity.principalId and STS's GetCallerIdentity UserId give it: the
// user's ID (AIDA...), or the role's ID and the session name
// (AROA...:SESSION) for an assumed role.
func (id Identity) PrincipalID() string {
	if id.Type != TypeAssumedRole {
		return uniqueID("AIDA", id.ARN)
	}
	return uniqueID("AROA", id.ARN) + ":" + id.SessionName
}

// userIdentity is CloudTrail's userIdentity element.
type userIdentity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId"`
	ARN            string          `json:"arn"`
	AccountID      string          `json:"accountId"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *sessionContext `json:"sessionContext,omitempty"`
}

type sessionContext struct {
	SessionIssuer       sessionIssuer     `json:"sessionIssuer"`
	WebIDFederationData struct{}          `json:"webIdFederationData"`
	Attributes          sessionAttributes `json:"attributes"`
}

type sessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

type sessionAttributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// record renders the identity as CloudTrail's userIdentity for a call
// signed with accessKeyID; sessionStart is the session's creationDate.
func (id Identity) record(accessKeyID string, sessionStart time.Time) userIdentity {
	account := arnAccount(id.ARN)
	name := id.ARN[strings.LastIndexByte(id.ARN, '/')+1:]
	if id.Type != TypeAssumedRole {
		return userIdentity{Type: TypeIAMUser, PrincipalID: id.PrincipalID(), ARN: id.ARN, AccountID: account,
			AccessKeyID: accessKeyID, UserName: name}
	}
	roleID := uniqueID("AROA", id.ARN)
	// The assumed-role ARN drops the role's path; the issuer's ARN keeps it.
	return userIdentity{
		Type:        TypeAssumedRole,
		PrincipalID: id.PrincipalID(),
		ARN:         "arn:aws:sts::" + account + ":assumed-role/" + name + "/" + id.SessionName,
		AccountID:   account,
		AccessKeyID: accessKeyID,
		SessionContext: &sessionContext{
			SessionIssuer: sessionIssuer{Type: "Role", PrincipalID: roleID, ARN: id.ARN, AccountID: account, UserName: name},
			Attributes:    sessionAttributes{CreationDate: sessionStart.UTC().Format(time.RFC3339), MFAAuthenticated: "false"},
		},
	}
}

// arnAccount is the account field of an ARN ("" when it has none).
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}

// uniqueID derives a stable IAM unique ID (prefix and 17 characters, like
// AROA... for roles and AIDA... for users) from an ARN.
func uniqueID(prefix, arn string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	sum := sha256.Sum256([]byte(arn))
	var b strings.Builder
	b.WriteString(prefix)
	for i := range 17 {
		b.WriteByte(alphabet[sum[i]%32])
	}
	return b.String()
}
