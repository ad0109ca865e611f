package api

import (
	"context"
	"net/url"

	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/wire/query"
	"github.com/trent-kms/trent/internal/wire/query/iamapi"
	"github.com/trent-kms/trent/internal/wire/query/stsapi"
)

// queryHandler decodes a form, calls the service and returns the result
// (nil for operations without output).
type queryHandler func(ctx context.Context, s *iam.Service, c *iam.Caller, f url.Values) (query.Result, error)

// iamRoutes maps an IAM Action to its handler; an Action not listed is
// answered with InvalidAction.
var iamRoutes = map[string]queryHandler{
	"CreateUser":               qop((*iam.Service).CreateUser),
	"GetUser":                  qop((*iam.Service).GetUser),
	"ListUsers":                qop((*iam.Service).ListUsers),
	"DeleteUser":               qopNoOutput((*iam.Service).DeleteUser),
	"TagUser":                  qopNoOutput((*iam.Service).TagUser),
	"UntagUser":                qopNoOutput((*iam.Service).UntagUser),
	"ListUserTags":             qop((*iam.Service).ListUserTags),
	"CreateAccessKey":          qop((*iam.Service).CreateAccessKey),
	"ListAccessKeys":           qop((*iam.Service).ListAccessKeys),
	"UpdateAccessKey":          qopNoOutput((*iam.Service).UpdateAccessKey),
	"DeleteAccessKey":          qopNoOutput((*iam.Service).DeleteAccessKey),
	"PutUserPolicy":            qopNoOutput((*iam.Service).PutUserPolicy),
	"GetUserPolicy":            qop((*iam.Service).GetUserPolicy),
	"ListUserPolicies":         qop((*iam.Service).ListUserPolicies),
	"DeleteUserPolicy":         qopNoOutput((*iam.Service).DeleteUserPolicy),
	"PutRolePolicy":            qopNoOutput((*iam.Service).PutRolePolicy),
	"GetRolePolicy":            qop((*iam.Service).GetRolePolicy),
	"ListRolePolicies":         qop((*iam.Service).ListRolePolicies),
	"DeleteRolePolicy":         qopNoOutput((*iam.Service).DeleteRolePolicy),
	"CreatePolicy":             qop((*iam.Service).CreatePolicy),
	"GetPolicy":                qop((*iam.Service).GetPolicy),
	"GetPolicyVersion":         qop((*iam.Service).GetPolicyVersion),
	"ListPolicies":             qop((*iam.Service).ListPolicies),
	"DeletePolicy":             qopNoOutput((*iam.Service).DeletePolicy),
	"AttachUserPolicy":         qopNoOutput((*iam.Service).AttachUserPolicy),
	"DetachUserPolicy":         qopNoOutput((*iam.Service).DetachUserPolicy),
	"ListAttachedUserPolicies": qop((*iam.Service).ListAttachedUserPolicies),
	"AttachRolePolicy":         qopNoOutput((*iam.Service).AttachRolePolicy),
	"DetachRolePolicy":         qopNoOutput((*iam.Service).DetachRolePolicy),
	"ListAttachedRolePolicies": qop((*iam.Service).ListAttachedRolePolicies),
	"CreateRole":               qop((*iam.Service).CreateRole),
	"GetRole":                  qop((*iam.Service).GetRole),
	"ListRoles":                qop((*iam.Service).ListRoles),
	"DeleteRole":               qopNoOutput((*iam.Service).DeleteRole),
	"UpdateAssumeRolePolicy":   qopNoOutput((*iam.Service).UpdateAssumeRolePolicy),
	"TagRole":                  qopNoOutput((*iam.Service).TagRole),
	"UntagRole":                qopNoOutput((*iam.Service).UntagRole),
	"ListRoleTags":             qop((*iam.Service).ListRoleTags),
}

// stsRoutes maps an STS Action to its handler. AssumeRoleWithWebIdentity
// is served without a signature (serveWebIdentity); signed, it is served
// too, as AWS accepts it either way.
var stsRoutes = map[string]queryHandler{
	"GetCallerIdentity":         qop((*iam.Service).GetCallerIdentity),
	"AssumeRole":                qop((*iam.Service).AssumeRole),
	"AssumeRoleWithWebIdentity": qop((*iam.Service).AssumeRoleWithWebIdentity),
}

// queryInput is implemented by every generated query input shape.
type queryInput interface {
	DecodeQuery(f url.Values) error
	Validate() error
}

// qop adapts a service method with output to a queryHandler.
func qop[In any, PIn interface {
	*In
	queryInput
}, Out any, POut interface {
	*Out
	query.Result
}](f func(*iam.Service, context.Context, *iam.Caller, PIn) (POut, error)) queryHandler {
	return func(ctx context.Context, s *iam.Service, c *iam.Caller, form url.Values) (query.Result, error) {
		in := PIn(new(In))
		if err := in.DecodeQuery(form); err != nil {
			return nil, err
		}
		if err := in.Validate(); err != nil {
			return nil, err
		}
		out, err := f(s, ctx, c, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// qopNoOutput adapts a service method without output to a queryHandler.
func qopNoOutput[In any, PIn interface {
	*In
	queryInput
}](f func(*iam.Service, context.Context, *iam.Caller, PIn) error) queryHandler {
	return func(ctx context.Context, s *iam.Service, c *iam.Caller, form url.Values) (query.Result, error) {
		in := PIn(new(In))
		if err := in.DecodeQuery(form); err != nil {
			return nil, err
		}
		if err := in.Validate(); err != nil {
			return nil, err
		}
		return nil, f(s, ctx, c, in)
	}
}

// queryService is one awsQuery service served on the endpoint.
type queryService struct {
	name      string // signing name
	namespace string
	version   string
	routes    map[string]queryHandler
	wrappers  map[string]string
	errors    map[string]query.ErrorInfo
}

var (
	iamService = &queryService{name: "iam", namespace: iamapi.Namespace, version: iamapi.Version, routes: iamRoutes,
		wrappers: iamapi.ResultWrappers, errors: iamapi.Errors}
	stsService = &queryService{name: "sts", namespace: stsapi.Namespace, version: stsapi.Version, routes: stsRoutes,
		wrappers: stsapi.ResultWrappers, errors: stsapi.Errors}
)
