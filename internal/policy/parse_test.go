package policy_test

import (
	"errors"
	"testing"

	"github.com/trent-kms/trent/internal/policy"
)

func TestParseErrors(t *testing.T) {
	const okStmt = `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`
	cases := []struct {
		name string
		kind policy.Kind
		doc  string
		msg  string // AWS message; "-" means success
	}{
		{"key/default-ok", policy.KeyPolicy, defaultKeyPolicy, "-"},
		{"key/single-statement-object", policy.KeyPolicy, `{"Version":"2012-10-17","Statement":` + okStmt + `}`, "-"},
		{"key/version-2008", policy.KeyPolicy, `{"Version":"2008-10-17","Statement":[` + okStmt + `]}`, "-"},
		{"key/no-version", policy.KeyPolicy, `{"Statement":[` + okStmt + `]}`, "-"},
		{"key/not-json", policy.KeyPolicy, `not a real policy statement`, policy.MsgKMSSyntax},
		{"key/array", policy.KeyPolicy, `[` + okStmt + `]`, policy.MsgKMSSyntax},
		{"key/trailing-data", policy.KeyPolicy, defaultKeyPolicy + `{}`, policy.MsgKMSSyntax},
		{"key/duplicate-key", policy.KeyPolicy, `{"Version":"2012-10-17","Version":"2012-10-17","Statement":[` + okStmt + `]}`, policy.MsgKMSSyntax},
		{"key/bad-version", policy.KeyPolicy, `{"Version":"2020-01-01","Statement":[` + okStmt + `]}`, policy.MsgKMSSyntax},
		{"key/unknown-element", policy.KeyPolicy, `{"Version":"2012-10-17","Foo":1,"Statement":[` + okStmt + `]}`, policy.MsgKMSSyntax},
		{"key/lowercase-element", policy.KeyPolicy, `{"version":"2012-10-17","Statement":[` + okStmt + `]}`, policy.MsgKMSSyntax},
		{"key/no-statement", policy.KeyPolicy, `{"Version":"2012-10-17"}`, policy.MsgKMSSyntax},
		{"key/empty-statement-list", policy.KeyPolicy, `{"Version":"2012-10-17","Statement":[]}`, policy.MsgKMSSyntax},
		{"key/effect-lowercase", policy.KeyPolicy, kp(`{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/no-effect", policy.KeyPolicy, kp(`{"Principal":"*","Action":"kms:*","Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/no-action", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/action-and-notaction", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/action-without-vendor", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"Encrypt","Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/action-two-colons", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:a:b","Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/empty-action-list", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":[],"Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/null-action", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":null,"Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/no-resource", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*"}`), policy.MsgKMSSyntax},
		{"key/no-principal", policy.KeyPolicy, kp(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`), policy.MsgInvalidPrincipals},
		{"key/principal-string-arn", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"arn:aws:iam::111122223333:root","Action":"kms:*","Resource":"*"}`), policy.MsgInvalidPrincipals},
		{"key/principal-partial-wildcard", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*"}`), policy.MsgInvalidPrincipals},
		{"key/principal-bad-account", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":{"AWS":"12345"},"Action":"kms:*","Resource":"*"}`), policy.MsgInvalidPrincipals},
		{"key/principal-unknown-type", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":{"CanonicalUser":"abc"},"Action":"kms:*","Resource":"*"}`), policy.MsgInvalidPrincipals},
		{"key/principal-empty-object", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":{},"Action":"kms:*","Resource":"*"}`), policy.MsgInvalidPrincipals},
		{"key/principal-bad-service", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":{"Service":"logs"},"Action":"kms:*","Resource":"*"}`), policy.MsgInvalidPrincipals},
		{"key/principal-session-ok", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":{"AWS":["arn:aws:sts::111122223333:assumed-role/R/s","arn:aws:iam::111122223333:role/path/R","111122223333","*"]},"Action":"kms:*","Resource":"*"}`), "-"},
		{"key/principal-and-notprincipal", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:*","Resource":"*"}`), policy.MsgKMSSyntax},
		{"key/forallvalues-encryption-context", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContext:Department":"IT"}}}`), policy.MsgOverlyPermissiveEncryptionContext},
		{"key/forallvalues-request-tag", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:RequestTag/Dept":"IT"}}}`), policy.MsgOverlyPermissiveRequestTag},
		{"key/foranyvalue-encryption-context-ok", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContext:Department":"IT"}}}`), "-"},
		{"key/unknown-operator", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqual":{"kms:CallerAccount":"1"}}}`), policy.MsgKMSSyntax},
		{"key/null-ifexists", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NullIfExists":{"kms:CallerAccount":"true"}}}`), policy.MsgKMSSyntax},
		{"key/bad-number", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"kms:X":"ten"}}}`), policy.MsgKMSSyntax},
		{"key/bad-date", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}`), policy.MsgKMSSyntax},
		{"key/bad-cidr", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}`), policy.MsgKMSSyntax},
		{"key/bad-bool", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}`), policy.MsgKMSSyntax},
		{"key/bad-base64", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"BinaryEquals":{"kms:X":"!!"}}}`), policy.MsgKMSSyntax},
		{"key/condition-key-without-prefix", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"CallerAccount":"1"}}}`), policy.MsgKMSSyntax},
		{"key/condition-null-value", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":null}}}`), policy.MsgKMSSyntax},
		{"key/condition-object-value", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":{"a":1}}}}`), policy.MsgKMSSyntax},
		{"key/bad-variable", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"${aws:username"}}}`), policy.MsgKMSSyntax},
		{"key/invalid-utf8", policy.KeyPolicy, "{\"Version\":\"2012-10-17\",\"Id\":\"\xff\",\"Statement\":[" + okStmt + "]}", policy.MsgKMSSyntax},
		{"key/all-operators-ok", policy.KeyPolicy, kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualsIfExists":{"kms:A":"x"},"ForAnyValue:StringNotLikeIfExists":{"aws:TagKeys":["a*"]},"NumericGreaterThanEqualsIfExists":{"kms:N":1.5},"DateNotEquals":{"aws:CurrentTime":"2024"},"BoolIfExists":{"kms:B":false},"BinaryEquals":{"kms:C":"aGk="},"NotIpAddressIfExists":{"aws:SourceIp":["::1","10.0.0.0/8"]},"ArnNotLikeIfExists":{"aws:SourceArn":"arn:aws:sns:*:*:*"},"Null":{"kms:D":"true"}}}`), "-"},

		{"identity/ok", policy.IdentityPolicy, idAllowAll, "-"},
		{"identity/principal", policy.IdentityPolicy, `{"Version":"2012-10-17","Statement":` + okStmt + `}`, policy.MsgIAMPrincipal},
		{"identity/notprincipal", policy.IdentityPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":"*","Action":"kms:*","Resource":"*"}}`, policy.MsgIAMPrincipal},
		{"identity/no-resource", policy.IdentityPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*"}}`, policy.MsgIAMMissingResource},
		{"identity/resource-not-arn", policy.IdentityPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"my-bucket"}}`, `Resource my-bucket must be in ARN format or "*".`},
		{"identity/syntax", policy.IdentityPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Permit","Action":"kms:*","Resource":"*"}}`, policy.MsgIAMSyntax},
		{"identity/not-json", policy.IdentityPolicy, `null`, policy.MsgIAMLegacy},
		{"identity/legacy-without-version", policy.IdentityPolicy, `{"Statement":{"Effect":"Permit","Action":"kms:*","Resource":"*"}}`, policy.MsgIAMLegacy},
		{"identity/legacy-2008", policy.IdentityPolicy, `{"Version":"2008-10-17","Statement":{"Effect":"Permit","Action":"kms:*","Resource":"*"}}`, policy.MsgIAMLegacy},

		{"trust/ok", policy.TrustPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}}`, "-"},
		{"trust/federated-ok", policy.TrustPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":["cognito-identity.amazonaws.com","arn:aws:iam::111122223333:saml-provider/Corp"]},"Action":"sts:AssumeRoleWithSAML"}}`, "-"},
		{"trust/resource", policy.TrustPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole","Resource":"*"}}`, policy.MsgTrustResource},
		{"trust/no-principal", policy.TrustPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}`, policy.MsgTrustMissingPrincipal},
		{"trust/invalid-principal", policy.TrustPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:group/admins"},"Action":"sts:AssumeRole"}}`, `Invalid principal in policy: "AWS":"arn:aws:iam::111122223333:group/admins"`},
		{"trust/bad-federated", policy.TrustPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"example.com"},"Action":"sts:AssumeRoleWithWebIdentity"}}`, `Invalid principal in policy: "Federated":"example.com"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := policy.Parse(c.doc, c.kind)
			if c.msg == "-" {
				if err != nil || p == nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if p != nil {
				t.Fatal("non-nil policy with an error")
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *policy.Error", err)
			}
			if pe.Message != c.msg {
				t.Fatalf("Message = %q, want %q (detail: %s)", pe.Message, c.msg, pe.Detail)
			}
			if pe.Kind != c.kind || pe.Detail == "" {
				t.Fatalf("bad error %+v", pe)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, d := range []string{defaultKeyPolicy, idAllowAll, idAllowNotRes, kp(allowAlice, denyAliceDec),
		kp(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":["a*b?${*}"]},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"StringEquals":{"kms:EncryptionContext:u":"${aws:username, 'x'}"}}}`),
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"accounts.google.com"},"Action":"sts:AssumeRoleWithWebIdentity"}}`, `{}`, `[]`, `{"Statement":[{}]}`} {
		f.Add(d, uint8(1))
		f.Add(d, uint8(2))
		f.Add(d, uint8(3))
	}
	f.Fuzz(func(t *testing.T, doc string, k uint8) {
		kind := policy.Kind(k%3 + 1)
		p, err := policy.Parse(doc, kind)
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse returned policy %v and error %v", p != nil, err)
		}
		if p == nil {
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *policy.Error", err)
			}
			return
		}
		// Whatever parses evaluates without panicking.
		for _, r := range []*policy.Request{req(), req(as(root(acct))), req(as(session(other, "R", "s")), ec(map[string]string{"u": "v"})), req(as(service("ec2.amazonaws.com")))} {
			policy.Evaluate(r, p)
			policy.Evaluate(r, nil, p)
		}
	})
}
