package cloudtrailproxy

import (
	"regexp"
	"testing"
	"time"
)

func TestPrincipalID(t *testing.T) {
	user := IAMUser("arn:aws:iam::123456789012:user/pipeline")
	role := AssumedRole("arn:aws:iam::123456789012:role/service-role/autoremediate-remediate", "autoremediate-remediate")
	for _, c := range []struct {
		id   Identity
		want *regexp.Regexp
	}{
		{user, regexp.MustCompile(`^AIDA[A-Z2-7]{17}$`)},
		{role, regexp.MustCompile(`^AROA[A-Z2-7]{17}:autoremediate-remediate$`)},
	} {
		got := c.id.PrincipalID()
		if !c.want.MatchString(got) {
			t.Errorf("%s: principal ID %q does not match %s", c.id.ARN, got, c.want)
		}
		if again := c.id.PrincipalID(); again != got {
			t.Errorf("%s: principal ID %q, then %q", c.id.ARN, got, again)
		}
	}
	if IAMUser(user.ARN+"2").PrincipalID() == user.PrincipalID() {
		t.Error("two users have the same principal ID")
	}
	// CloudTrail names the session's issuer by the role's ID alone.
	if rec := role.record("ASIAEXAMPLE", time.Unix(0, 0)); rec.PrincipalID != rec.SessionContext.SessionIssuer.PrincipalID+":"+role.SessionName {
		t.Errorf("record's principalId %q is not its issuer's %q and the session", rec.PrincipalID, rec.SessionContext.SessionIssuer.PrincipalID)
	}
}
