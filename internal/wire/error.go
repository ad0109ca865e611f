package wire

import "fmt"

// Error is a failure reported to the API caller. Code is the AWS error shape
// sent as __type; Message is safe to show to the caller; Err is the cause,
// which is logged and never sent.
type Error struct {
	Code    string // AWS error shape, e.g. "NotFoundException"
	Message string // safe to show to the caller
	Err     error  // cause; logged, never sent
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }
