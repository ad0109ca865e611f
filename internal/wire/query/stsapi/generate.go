// Package stsapi holds the shapes of the STS operations Trent serves,
// generated from the AWS STS model (../model/sts-api-model.json).
package stsapi

//go:generate go run ../gen -model ../model/sts-api-model.json -pkg stsapi -o shapes.go -ops GetCallerIdentity,AssumeRole,AssumeRoleWithWebIdentity
