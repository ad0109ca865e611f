// Package policy parses, validates, compiles and evaluates AWS IAM-grammar
// policy documents — KMS key policies, IAM identity policies and role
// trust policies — exactly as AWS does, and says why it decided.
//
// It knows nothing of HTTP or storage: [Parse] turns a document into an
// immutable [*Policy], and [Evaluate] decides a [Request] against a
// resource policy and the caller's identity policies, returning a
// [Decision] with the deciding statement, a reason for the audit trail
// and the AccessDenied message variant ([Decision.Message]). The same
// engine serves KMS operations, AssumeRole trust policies, DryRun and
// audit.
//
// # Invariants
//
//   - Parse either returns a policy that evaluates without error, or nil
//     and an [*Error] whose Message is AWS's wording for the failure (KMS
//     MalformedPolicyDocumentException or IAM MalformedPolicyDocument;
//     callers choose the shape). Parsing is strict: invalid UTF-8 or JSON,
//     duplicate keys, unknown or miscased elements, empty lists and nulls
//     are rejected.
//   - Evaluation allocates nothing and never fails: wildcards, variables,
//     lower-cased keys and condition operators are compiled by Parse.
//     Unknown condition keys are absent keys, and policy values that cannot
//     apply (an ARN pattern with fewer than six parts) never match.
//   - Explicit Deny wins over every Allow; nothing is allowed unless a
//     statement allows it.
//   - Actions and condition key names match without regard to case;
//     resources and ARNs match with it; string values follow the operator.
//   - Policy variables are substituted only in Version 2012-10-17
//     documents, only in Resource and in string and ARN condition values;
//     a variable that does not resolve makes the entry or condition fail.
//
// # Compatibility
//
// Behaviour follows AWS's documentation and recorded AWS responses; each
// rule cites its source beside the code, and inferred rules say so. Where
// AWS is unknown and security is at stake, the strict answer is chosen.
// See docs/policy-engine.md.
package policy
