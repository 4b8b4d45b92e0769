// Package fault is Mosaic's one error model: a small set of kinds carried by
// one error type with a message that is safe to show callers and a wrapped
// cause that is only logged. The kind decides everything downstream: the HTTP
// status of an API answer, and whether an ingest row is retried (throttled,
// unavailable) or sent to the failed-record store (every other kind).
//
// Internal is not transient: it marks a bug or a state no retry can change
// (a record that cannot be encoded, a stored item that cannot be decoded),
// and retrying it would only fail the whole file or stream batch again and
// again. An error that a retry may cure must say so with Throttled or
// Unavailable where it is made (the store does so at the SDK boundary; see
// docs/operations.md, "Errors and retries").
package fault

import (
	"errors"
	"fmt"
)

// Kind classifies an error.
type Kind uint8

const (
	Internal    Kind = iota // a bug or an unexpected failure; never shown in detail
	Invalid                 // the input is wrong; fixing it is the caller's job
	NotFound                // the thing named does not exist
	Conflict                // the request contradicts the current state
	Forbidden               // the caller may not do this
	Throttled               // the backend asked us to slow down; retry later
	Unavailable             // the backend could not be reached; retry later
	TooLarge                // the request or record is over a size limit
	// Unprocessable: the request is well formed but what it names cannot be
	// answered as asked (HTTP 422: a cluster over the cap, a class without
	// a default merge policy).
	Unprocessable
)

var kindNames = [...]string{
	Internal:      "internal",
	Invalid:       "invalid",
	NotFound:      "not found",
	Conflict:      "conflict",
	Forbidden:     "forbidden",
	Throttled:     "throttled",
	Unavailable:   "unavailable",
	TooLarge:      "too large",
	Unprocessable: "unprocessable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Transient reports whether an error of this kind may go away on retry:
// Throttled and Unavailable only. Internal, Invalid, NotFound, Conflict,
// Forbidden and TooLarge are final for the request or row that met them.
func (k Kind) Transient() bool { return k == Throttled || k == Unavailable }

// Error is the error type of Mosaic's domain code.
type Error struct {
	Kind Kind
	// Code is a stable, machine-readable code such as "MOSAIC-1001" or
	// "XDM-TYPE"; callers match on it, so it never changes meaning.
	Code string
	// Message is safe to return to API callers: it never holds internals.
	Message string
	// Err is the cause, for logs only.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, fault.NotFound) style checks possible through
// KindOf; two *Error match when kind and code match.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && (t.Code == "" || t.Code == e.Code)
}

// E builds an error of kind k with a stable code and a safe message.
func E(k Kind, code, msg string) *Error { return &Error{Kind: k, Code: code, Message: msg} }

// Errorf is E with a formatted message.
func Errorf(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap gives cause a kind, code and safe message.
func Wrap(cause error, k Kind, code, msg string) *Error {
	return &Error{Kind: k, Code: code, Message: msg, Err: cause}
}

// KindOf returns the kind of err: the kind of the first *Error in its chain,
// Internal otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// The public code and message of every Internal error: its cause and its
// own code stay in the logs.
const (
	InternalCode    = "INTERNAL"
	InternalMessage = "internal error"
)

// As returns the first *Error in err's chain, or an internal one wrapping err.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Code: InternalCode, Message: InternalMessage, Err: err}
}

// Public is what callers may be shown of err, in an API answer or a failed
// record: the code and safe message of the first *Error in its chain, or
// InternalCode and InternalMessage when that error is Internal or there is
// none. The cause is never part of it.
func Public(err error) (code, message string) {
	e := As(err)
	if e.Kind == Internal {
		return InternalCode, InternalMessage
	}
	return e.Code, e.Message
}
