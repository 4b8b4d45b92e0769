package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
)

// TestRawBodyRoutesTakeLargerBodies: a route that takes raw bodies gets the
// decoded bytes past the JSON limit, up to MaxRawBodyBytes; other routes
// keep the 1 MB limit.
func TestRawBodyRoutesTakeLargerBodies(t *testing.T) {
	var got []byte
	rt := newTestRouter(t, "", "PUT /f", func(_ context.Context, r *Request) (int, any, error) {
		got = r.Body
		return http.StatusOK, nil, nil
	})
	file := bytes.Repeat([]byte{0, 1, 2, 0xff}, (MaxBodyBytes+4)/4)
	ev := request("PUT /f", base64.StdEncoding.EncodeToString(file))
	ev.IsBase64Encoded = true

	resp, _ := rt.Serve(context.Background(), ev)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("JSON route took a %d-byte body: %d", len(file), resp.StatusCode)
	}
	rt.TakeRawBodies("PUT /f")
	resp, _ = rt.Serve(context.Background(), ev)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, file) {
		t.Fatalf("raw route: status %d, %d bytes received of %d", resp.StatusCode, len(got), len(file))
	}
	big := request("PUT /f", base64.StdEncoding.EncodeToString(make([]byte, MaxRawBodyBytes+1)))
	big.IsBase64Encoded = true
	if resp, _ := rt.Serve(context.Background(), big); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("raw body over MaxRawBodyBytes: status %d, want 413", resp.StatusCode)
	}
}

// TestRawAnswersKeepHeadersAndBytes: a Raw value is sent with the
// handler's status, its headers and its bytes, base64-encoded.
func TestRawAnswersKeepHeadersAndBytes(t *testing.T) {
	body := []byte("{\"a\":1}\n{\"a\":2}\n")
	rt := newTestRouter(t, "", "GET /r", func(context.Context, *Request) (int, any, error) {
		return http.StatusOK, Raw{Header: map[string]string{"Link": `</next>; rel="next"`}, Body: body}, nil
	})
	resp, _ := rt.Serve(context.Background(), request("GET /r", ""))
	dec, err := base64.StdEncoding.DecodeString(resp.Body)
	if resp.StatusCode != http.StatusOK || !resp.IsBase64Encoded || err != nil || !bytes.Equal(dec, body) {
		t.Fatalf("answer %d base64=%v body %q", resp.StatusCode, resp.IsBase64Encoded, dec)
	}
	if resp.Headers["link"] != `</next>; rel="next"` {
		t.Errorf("headers %v", resp.Headers)
	}
	redirect := newTestRouter(t, "", "GET /d", func(context.Context, *Request) (int, any, error) {
		return http.StatusTemporaryRedirect, Raw{Header: map[string]string{"location": "https://example.com/x"}}, nil
	})
	resp, _ = redirect.Serve(context.Background(), request("GET /d", ""))
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Headers["location"] != "https://example.com/x" || resp.Body != "" {
		t.Errorf("redirect %+v", resp)
	}
}

func TestGreedyParamKeepsWhatTheEventLoses(t *testing.T) {
	const key = "PUT /import/batches/{batchId}/files/{filePath+}"
	cases := []struct {
		raw, want string
		err       error
	}{
		{"/import/batches/B1/files/a/b.json", "a/b.json", nil},
		{"/import/batches/B1/files/a%20b%2Fc.json", "a b/c.json", nil},
		{"/import/batches/B1/files/dir/", "dir/", nil},
		{"/prod/import/batches/B1/files/x%C3%A9.json", "x\u00e9.json", nil},
		{"/import/batches/B1/files/a%FFb.json", "", ErrPathUTF8},
		{"/import/batches/B1/files/a%FEb.json", "", ErrPathUTF8},
		{"/import/batches/B1/files/a%ZZ", "", ErrPathEscape},
		{"/import/batches/B1/other/a", "", ErrPathRoute},
		{"/import/batches/B1/files", "", ErrPathRoute},
	}
	for _, c := range cases {
		r := &Request{RouteKey: key, Path: c.raw, Params: map[string]string{"filePath": "a\ufffdb.json"}}
		got, err := r.GreedyParam("filePath")
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: got %q, %v; want %q, %v", c.raw, got, err, c.want, c.err)
		}
	}
}

func TestParamDoesNotDecodeIntoInvalidUTF8(t *testing.T) {
	r := &Request{Params: map[string]string{"id": "a%FFb", "ok": "a%C3%A9"}}
	if got := r.Param("id"); got != "a%FFb" {
		t.Errorf("Param(id) = %q, want it left encoded", got)
	}
	if got := r.Param("ok"); got != "a\u00e9" {
		t.Errorf("Param(ok) = %q", got)
	}
}
