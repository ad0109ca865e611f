package policy

import "fmt"

// Messages AWS returns for malformed or rejected policy documents. Each is
// quoted from a recorded AWS response or from AWS documentation; the
// source is given beside it. Callers wrap an [*Error] into the service's
// error shape: KMS MalformedPolicyDocumentException, IAM
// MalformedPolicyDocument.
const (
	// MsgLockout is KMS's answer to CreateKey or PutKeyPolicy when the new
	// key policy would not let the caller call PutKeyPolicy again.
	// Recorded in trussworks/terraform-aws-cloudtrail#178 and
	// data-dot-all/dataall#956: "MalformedPolicyDocumentException: The new
	// key policy will not allow you to update the key policy in the
	// future." The check includes the caller's IAM policies
	// (aws-samples/rds-snapshot-export-to-s3-pipeline#8: "the Principal's
	// IAM policy isn't explicitly allowing it").
	MsgLockout = "The new key policy will not allow you to update the key policy in the future."

	// MsgInvalidPrincipals is KMS's answer to a key policy naming a
	// principal it does not accept (malformed or unknown).
	// Recorded in aws-samples/siem-on-amazon-opensearch-service#32 and
	// LBHackney-IT/Data-Platform#2238: "MalformedPolicyDocumentException:
	// Policy contains a statement with one or more invalid principals."
	MsgInvalidPrincipals = "Policy contains a statement with one or more invalid principals."

	// MsgOverlyPermissiveEncryptionContext is KMS's answer to a key policy
	// with ForAllValues on kms:EncryptionContext:<key>. Quoted from
	// awsdocs/aws-kms-developer-guide doc_source/conditions-kms.md
	// ("AWS KMS returns the following error message").
	MsgOverlyPermissiveEncryptionContext = "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified encryption context or with an unspecified encryption context. To fix, remove ForAllValues."

	// MsgOverlyPermissiveRequestTag is the same error for aws:RequestTag/<key>.
	// conditions-kms.md gives it only as a template, "…without the
	// specified [encryption context or tag] or with an unspecified
	// [encryption context or tag]…"; this is the template with "tag"
	// filled in (inferred).
	MsgOverlyPermissiveRequestTag = "OverlyPermissiveCondition: Using the ForAllValues set operator with a single-valued condition key matches requests without the specified tag or with an unspecified tag. To fix, remove ForAllValues."

	// MsgKMSSyntax is KMS's message for a key policy that does not parse:
	// none. aws/aws-sdk-ruby#1784 ("if the policy statement malformed an
	// empty string is returned as the error message", for the policy
	// "not a real policy statement").
	MsgKMSSyntax = ""

	// MsgIAMSyntax is IAM's general answer. Recorded in 99designs/iamy#74,
	// aws-ia/terraform-aws-transfer-family#109: "MalformedPolicyDocument:
	// Syntax errors in policy."
	MsgIAMSyntax = "Syntax errors in policy."

	// MsgIAMLegacy is IAM's answer to a malformed document without
	// Version 2012-10-17 (parsed by the legacy parser). Recorded in
	// Graylog2/graylog-plugin-aws#172 (no Version, resource
	// "arn:aws:iam:79...34:user/..." with too few colons) and
	// 99designs/iamy#65: "The policy failed legacy parsing". That the
	// legacy parser is the one used exactly when Version is not
	// 2012-10-17 is inferred from those reports.
	MsgIAMLegacy = "The policy failed legacy parsing"

	// MsgIAMPrincipal is IAM's answer to a Principal in an identity
	// policy. Recorded in hashicorp/terraform-provider-aws#10419:
	// "MalformedPolicyDocument: Policy document should not specify a
	// principal."
	MsgIAMPrincipal = "Policy document should not specify a principal."

	// MsgIAMMissingResource: hashicorp/terraform#17987,
	// "MalformedPolicyDocument: Policy statement must contain resources."
	MsgIAMMissingResource = "Policy statement must contain resources."

	// MsgTrustResource: a trust policy statement with Resource.
	// kubernetes-sigs/external-dns#3085: "MalformedPolicyDocument: Has
	// prohibited field Resource".
	MsgTrustResource = "Has prohibited field Resource"

	// MsgTrustMissingPrincipal: a trust policy statement without
	// Principal. Wording of the S3 console for the same case
	// (spantaleev/matrix-docker-ansible-deploy#1869: "Missing required
	// field Principal"); that IAM uses it for trust policies is inferred.
	MsgTrustMissingPrincipal = "Missing required field Principal"
)

// msgIAMResourceFormat is IAM's answer to a Resource that is neither "*"
// nor an ARN. ministryofjustice/modernisation-platform-environments#590:
// "MalformedPolicyDocument: Resource s3-bucket-ukcloud-replica… must be in
// ARN format or \"*\"."
const msgIAMResourceFormat = "Resource %s must be in ARN format or \"*\"."

// msgTrustInvalidPrincipal is IAM's answer to a trust policy naming a
// principal it does not accept, e.g. `Invalid principal in policy:
// "AWS":"arn:aws:iam::111122223333:user/nobody"` (wording from memory of
// IAM responses; inferred, no recorded source found).
const msgTrustInvalidPrincipal = "Invalid principal in policy: %q:%q"

// Error reports a policy document that Parse rejects. Message is the text
// AWS shows for the case (it may be empty: KMS sends no text for syntax
// errors); Detail says precisely what is wrong, for logs and tests.
// Check with errors.As.
type Error struct {
	Kind    Kind
	Message string // AWS's wording, safe to send to the caller
	Detail  string // what is wrong, in our words; for logs
}

func (e *Error) Error() string {
	return "policy: malformed " + e.Kind.String() + ": " + e.Detail
}

// errKind classifies a grammar failure so that each Kind can pick AWS's
// wording for it.
type errKind uint8

const (
	errSyntax errKind = iota
	errPrincipalNotAllowed
	errPrincipalMissing
	errInvalidPrincipal
	errResourceNotAllowed
	errResourceMissing
	errResourceFormat
	errOverlyPermissiveEC
	errOverlyPermissiveTag
)

type parseError struct {
	kind   errKind
	detail string
	arg1   string // resource text or principal type
	arg2   string // principal value
}

func perr(k errKind, format string, a ...any) *parseError {
	return &parseError{kind: k, detail: fmt.Sprintf(format, a...)}
}

// toError gives a parse failure the message AWS uses for it in documents
// of kind k. legacy reports that the document is not Version 2012-10-17.
func (pe *parseError) toError(k Kind, legacy bool) *Error {
	e := &Error{Kind: k, Detail: pe.detail}
	switch k {
	case KeyPolicy:
		switch pe.kind {
		case errInvalidPrincipal, errPrincipalMissing:
			e.Message = MsgInvalidPrincipals
		case errOverlyPermissiveEC:
			e.Message = MsgOverlyPermissiveEncryptionContext
		case errOverlyPermissiveTag:
			e.Message = MsgOverlyPermissiveRequestTag
		default:
			e.Message = MsgKMSSyntax
		}
	default: // IAM: identity and trust policies
		switch {
		case pe.kind == errPrincipalNotAllowed:
			e.Message = MsgIAMPrincipal
		case pe.kind == errResourceMissing:
			e.Message = MsgIAMMissingResource
		case pe.kind == errResourceFormat:
			e.Message = fmt.Sprintf(msgIAMResourceFormat, pe.arg1)
		case pe.kind == errResourceNotAllowed:
			e.Message = MsgTrustResource
		case pe.kind == errPrincipalMissing:
			e.Message = MsgTrustMissingPrincipal
		case pe.kind == errInvalidPrincipal && pe.arg1 != "":
			e.Message = fmt.Sprintf(msgTrustInvalidPrincipal, pe.arg1, pe.arg2)
		case legacy:
			e.Message = MsgIAMLegacy
		default:
			e.Message = MsgIAMSyntax
		}
	}
	return e
}

func (pe *parseError) Error() string { return pe.detail }
