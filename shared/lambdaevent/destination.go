package lambdaevent

import "encoding/json"

// DestinationRecord is the invocation record Lambda sends to the on-failure
// destination of an asynchronously invoked function once it discards an
// event (AWS Lambda Developer Guide, "Capturing records of Lambda
// asynchronous invocations"). RequestPayload is the discarded event (an
// S3 event for batch-ingest and profile-jobs).
type DestinationRecord struct {
	Version         string              `json:"version"`
	Timestamp       string              `json:"timestamp"`
	RequestContext  DestinationRequest  `json:"requestContext"`
	RequestPayload  json.RawMessage     `json:"requestPayload"`
	ResponseContext DestinationResponse `json:"responseContext"`
	ResponsePayload json.RawMessage     `json:"responsePayload,omitempty"`
}

// DestinationRequest is the requestContext of a DestinationRecord.
type DestinationRequest struct {
	RequestID   string `json:"requestId"`
	FunctionArn string `json:"functionArn"`
	// Condition is "RetriesExhausted" or "EventAgeExceeded".
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// DestinationResponse is the responseContext of a DestinationRecord.
type DestinationResponse struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion,omitempty"`
	// FunctionError is "Handled" or "Unhandled" when the function failed.
	FunctionError string `json:"functionError,omitempty"`
}
