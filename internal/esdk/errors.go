package esdk

import (
	"errors"
	"fmt"
)

// The kinds of failure, for errors.Is on an *[Error].
var (
	// ErrFormat: the input is not a well-formed message (bad version,
	// unknown suite, bad lengths, trailing bytes).
	ErrFormat = errors.New("malformed message")
	// ErrTruncated: the input ended before the message did.
	ErrTruncated = errors.New("truncated message")
	// ErrTampered: an authentication check failed (header tag, key
	// commitment, a frame's tag, the signature) or frames are out of order.
	ErrTampered = errors.New("message failed authentication")
	// ErrNoKey: no encrypted data key could be decrypted with the keys given.
	ErrNoKey = errors.New("no data key could be decrypted")
	// ErrContext: the message's encryption context lacks a pair the
	// caller required.
	ErrContext = errors.New("encryption context mismatch")
	// ErrPolicy: the configuration forbids the message (commitment policy,
	// too many encrypted data keys, a frame larger than allowed).
	ErrPolicy = errors.New("message refused by policy")
	// ErrIO: reading the input or writing the output failed.
	ErrIO = errors.New("i/o error")
)

// Error is a failure to encrypt or decrypt a message. Kind is one of the
// sentinels above; Frame is the sequence number of the frame at fault, or
// 0 when the failure is not in a frame. Messages never hold plaintext or
// key bytes.
type Error struct {
	Kind   error
	Frame  uint32
	Detail string
	Err    error // cause, e.g. a KMS error
}

func (e *Error) Error() string {
	s := "esdk: " + e.Kind.Error()
	if e.Frame != 0 {
		s += fmt.Sprintf(" (frame %d)", e.Frame)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches the Kind, so errors.Is(err, esdk.ErrTampered) works.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

func errf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}
