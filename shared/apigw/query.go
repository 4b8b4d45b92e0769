package apigw

import (
	"errors"
	"net/url"
	"strings"
)

// QueryParam is one name=value pair of a query string, decoded.
type QueryParam struct{ Name, Value string }

var errQueryEscape = errors.New("query string holds a malformed percent-escape")

// QueryParams decodes a raw query string the way RFC 3986 and AWS
// Signature Version 4 read a URI: pairs separated by '&', name and value
// split at the first '=', percent-escapes decoded, and '+' a literal plus
// sign ('+' for a space belongs to HTML form bodies, not to URIs). Pairs
// keep their order; empty pairs are skipped. It is the one query decoding
// of the request path: the local API front's signature check and the event
// it builds, and the functions' Request.Query, all use it, so a query
// reaches the function as it was signed (entityId=jane+tag@example.com is
// "jane+tag@example.com"). A malformed escape is an error.
func QueryParams(raw string) ([]QueryParam, error) {
	var out []QueryParam
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.PathUnescape(k)
		if err != nil {
			return nil, errQueryEscape
		}
		dv, err := url.PathUnescape(v)
		if err != nil {
			return nil, errQueryEscape
		}
		out = append(out, QueryParam{Name: dk, Value: dv})
	}
	return out, nil
}

// ParseQuery is QueryParams as url.Values.
func ParseQuery(raw string) (url.Values, error) {
	params, err := QueryParams(raw)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range params {
		q[p.Name] = append(q[p.Name], p.Value)
	}
	return q, nil
}
