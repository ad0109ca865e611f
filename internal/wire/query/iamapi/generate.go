// Package iamapi holds the shapes of the IAM operations Trent serves,
// generated from the AWS IAM model (../model/iam-api-model.json).
package iamapi

//go:generate go run ../gen -model ../model/iam-api-model.json -pkg iamapi -o shapes.go -ops CreateUser,GetUser,ListUsers,DeleteUser,TagUser,UntagUser,ListUserTags,CreateAccessKey,ListAccessKeys,UpdateAccessKey,DeleteAccessKey,PutUserPolicy,GetUserPolicy,ListUserPolicies,DeleteUserPolicy,PutRolePolicy,GetRolePolicy,ListRolePolicies,DeleteRolePolicy,CreatePolicy,GetPolicy,GetPolicyVersion,ListPolicies,DeletePolicy,AttachUserPolicy,DetachUserPolicy,ListAttachedUserPolicies,AttachRolePolicy,DetachRolePolicy,ListAttachedRolePolicies,CreateRole,GetRole,ListRoles,DeleteRole,UpdateAssumeRolePolicy,TagRole,UntagRole,ListRoleTags
