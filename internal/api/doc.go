// Package api serves the AWS KMS wire protocol (awsJson1.1) over HTTP.
//
// Every request is a POST whose X-Amz-Target header names the operation
// ("TrentService.Encrypt"). The [Handler] checks, for every route, the
// method, the body size, the SigV4 signature and the region, then decodes
// the JSON body into the operation's shape from package wire, validates it
// against the model's constraints, makes one call into package kms and
// writes the JSON result.
//
// # Errors
//
// Failures are written as {"__type": "<ErrorShape>", "message": "..."}
// with the HTTP status of the error shape (wire.Status). Errors that are
// not *wire.Error become KMSInternalException with a generic message; the
// cause of every KMSInternalException is logged at error level with the
// request id, never sent. Authentication failures and AccessDeniedException
// are logged at info level (request id, access key id as sent, source
// address, operation, code) for intrusion detection; secrets, signatures
// and Authorization headers never are.
package api
