package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/trent-kms/trent/internal/audit"
)

// TestAuditIAMAndSTS: IAM and STS calls are audited like KMS calls, one
// record each with their own event source, and a new secret access key
// never reaches the trail.
func TestAuditIAMAndSTS(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	c := n.iamRoot()
	_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("auditee")})
	mustNil(t, "CreateUser", err)
	k, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("auditee")})
	mustNil(t, "CreateAccessKey", err)
	_, err = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("nobody")})
	wantAPIError(t, err, "NoSuchEntity", "*")
	_, err = n.stsWith("eu-west-1", aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)).
		GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	mustNil(t, "GetCallerIdentity", err)
	secret := aws.ToString(k.AccessKey.SecretAccessKey)

	type rec struct {
		EventSource       string            `json:"eventSource"`
		EventName         string            `json:"eventName"`
		ErrorCode         string            `json:"errorCode"`
		ReadOnly          bool              `json:"readOnly"`
		RequestParameters map[string]string `json:"requestParameters"`
		UserIdentity      struct {
			Type string `json:"type"`
			ARN  string `json:"arn"`
		} `json:"userIdentity"`
	}
	var got []rec
	n.stop() // closes and signs the audit file
	err = audit.Search(filepath.Join(n.dataDir, "audit"), &audit.Filter{}, func(line []byte) error {
		if bytes.Contains(line, []byte(secret)) {
			t.Errorf("the secret access key is in the audit trail: %s", line)
		}
		var r rec
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if r.EventSource != "kms.amazonaws.com" {
			got = append(got, r)
		}
		return nil
	})
	mustNil(t, "audit.Search", err)
	want := []struct{ source, name, code, arn string }{
		{"iam.amazonaws.com", "CreateUser", "", "arn:aws:iam::111122223333:root"},
		{"iam.amazonaws.com", "CreateAccessKey", "", "arn:aws:iam::111122223333:root"},
		{"iam.amazonaws.com", "GetUser", "NoSuchEntity", "arn:aws:iam::111122223333:root"},
		{"sts.amazonaws.com", "GetCallerIdentity", "", "arn:aws:iam::111122223333:user/auditee"},
	}
	if len(got) != len(want) {
		t.Fatalf("audit records of IAM and STS = %+v, want %d", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.EventSource != w.source || g.EventName != w.name || g.ErrorCode != w.code || g.UserIdentity.ARN != w.arn {
			t.Errorf("record %d = %+v, want %+v", i, g, w)
		}
	}
	if got[0].RequestParameters["userName"] != "auditee" || got[0].ReadOnly || !got[2].ReadOnly {
		t.Errorf("CreateUser record: requestParameters %v readOnly %v; GetUser readOnly %v", got[0].RequestParameters, got[0].ReadOnly, got[2].ReadOnly)
	}
	if !strings.HasPrefix(got[3].UserIdentity.Type, "IAMUser") {
		t.Errorf("GetCallerIdentity userIdentity.type = %q, want IAMUser", got[3].UserIdentity.Type)
	}
}
