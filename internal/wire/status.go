package wire

import "net/http"

// statuses maps AWS error codes (the __type sent to the client) to the HTTP
// status AWS KMS answers with.
//
// The Smithy model compiled into aws-sdk-go-v2 service/kms v1.62.6 carries
// smithy.api#httpError traits (404 for NotFoundException, 409 for
// AlreadyExists/Disabled/KMSInvalidState/Conflict, 412 for DryRunOperation),
// but the KMS service itself answers every client error with 400; only the
// server faults differ. Recorded real responses:
//   - NotFoundException: "Status Code: 400; Error Code: NotFoundException"
//     (AWS SDK for Java output quoted in cloudposse/docs#152), and HTTP 400
//     for NotFoundException, KMSInvalidStateException, IncorrectKeyException,
//     InvalidKeyUsageException and InvalidCiphertextException in LocalStack's
//     AWS-recorded tests/aws/services/kms/test_kms.snapshot.json.
//   - DisabledException: "is disabled.\n\tstatus code: 400"
//     (hashicorp/terraform#5688, #14029).
//   - AccessDeniedException: "Service: Kms, Status Code: 400"
//     (cattle-ops/terraform-aws-gitlab-runner PR #1253; milvus-io/milvus#44981).
//
// SDKs pick the error from __type whatever the 4xx status, so matching the
// service's real 400 costs clients nothing. KMSInternalException and
// KeyUnavailableException are 500, DependencyTimeoutException 503.
//
// The rest are the protocol-level errors every awsJson1.1 (Coral) service
// returns before the operation runs. The authentication errors are 400 for
// awsJson services, unlike the 403 of the query protocol's MissingAuthenticationToken;
// this is the behaviour of Coral JSON services and could not be confirmed
// for KMS specifically from public records.
var statuses = map[string]int{
	// KMS error shapes (smithy httpError).
	"AlreadyExistsException":                                  400,
	"CloudHsmClusterInUseException":                           400,
	"CloudHsmClusterInvalidConfigurationException":            400,
	"CloudHsmClusterNotActiveException":                       400,
	"CloudHsmClusterNotFoundException":                        400,
	"CloudHsmClusterNotRelatedException":                      400,
	"ConflictException":                                       400,
	"CustomKeyStoreHasCMKsException":                          400,
	"CustomKeyStoreInvalidStateException":                     400,
	"CustomKeyStoreNameInUseException":                        400,
	"CustomKeyStoreNotFoundException":                         400,
	"DependencyTimeoutException":                              503,
	"DisabledException":                                       400,
	"DryRunOperationException":                                400,
	"ExpiredImportTokenException":                             400,
	"IncorrectKeyException":                                   400,
	"IncorrectKeyMaterialException":                           400,
	"IncorrectTrustAnchorException":                           400,
	"InvalidAliasNameException":                               400,
	"InvalidArnException":                                     400,
	"InvalidCiphertextException":                              400,
	"InvalidGrantIdException":                                 400,
	"InvalidGrantTokenException":                              400,
	"InvalidImportTokenException":                             400,
	"InvalidKeyUsageException":                                400,
	"InvalidMarkerException":                                  400,
	"KeyUnavailableException":                                 500,
	"KMSInternalException":                                    500,
	"KMSInvalidMacException":                                  400,
	"KMSInvalidSignatureException":                            400,
	"KMSInvalidStateException":                                400,
	"LimitExceededException":                                  400,
	"MalformedPolicyDocumentException":                        400,
	"NotFoundException":                                       400,
	"TagException":                                            400,
	"UnsupportedOperationException":                           400,
	"XksKeyAlreadyInUseException":                             400,
	"XksKeyInvalidConfigurationException":                     400,
	"XksKeyNotFoundException":                                 400,
	"XksProxyIncorrectAuthenticationCredentialException":      400,
	"XksProxyInvalidConfigurationException":                   400,
	"XksProxyInvalidResponseException":                        400,
	"XksProxyUriEndpointInUseException":                       400,
	"XksProxyUriInUseException":                               400,
	"XksProxyUriUnreachableException":                         400,
	"XksProxyVpcEndpointServiceInUseException":                400,
	"XksProxyVpcEndpointServiceInvalidConfigurationException": 400,
	"XksProxyVpcEndpointServiceNotFoundException":             400,

	// Protocol-level errors.
	"ValidationException":                 400,
	"SerializationException":              400,
	"UnknownOperationException":           400,
	"AccessDeniedException":               400,
	"UnrecognizedClientException":         400,
	"InvalidSignatureException":           400,
	"IncompleteSignatureException":        400,
	"MissingAuthenticationTokenException": 400,
	"ExpiredTokenException":               400,
	"InvalidClientTokenId":                400,
	"ThrottlingException":                 400,
	"RequestEntityTooLarge":               413,
	"RequestEntityTooLargeException":      413,
	"InternalFailure":                     500,
	"ServiceUnavailable":                  503,
}

// Status returns the HTTP status for the AWS error code, such as 500 for
// "KMSInternalException". Unknown codes get 400, the status of client errors.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusBadRequest
}
