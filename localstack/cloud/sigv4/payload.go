package sigv4

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Payload hashes of aws-chunked bodies: every chunk signed, chaining from
// the request's signature; or no chunk signed, with a trailing checksum.
const (
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// maxChunk bounds one chunk of an aws-chunked body (clients send 64 KB to
// a few MB).
const maxChunk = 16 << 20

// chunkChecker passes an aws-chunked body through unchanged while checking
// every chunk's signature
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html):
// "<hex size>;chunk-signature=<sig>\r\n<data>\r\n", ending with a chunk of
// size 0; each signature is the HMAC of
// "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous sig>\n<sha256 of ”>\n<sha256 of data>",
// which is what the SDK's v4.StreamSigner computes for an event with no
// headers. The SDK has no verifier for such bodies, so the framing is read here.
type chunkChecker struct {
	io.ReadCloser
	in      *bufio.Reader
	stream  *v4.StreamSigner // holds the previous signature
	at      time.Time
	pending []byte
	done    bool
	err     error
}

func (c *chunkChecker) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.done {
			return 0, io.EOF
		}
		c.pending, c.err = c.next()
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// next reads, checks and returns the raw bytes of one chunk.
func (c *chunkChecker) next() ([]byte, error) {
	bad := failWith(ReasonPayload, "The chunk signature we calculated does not match the signature you provided.")
	header, err := c.in.ReadSlice('\n')
	if err != nil || len(header) > 256 {
		return nil, bad
	}
	sizeHex, params, _ := strings.Cut(strings.TrimRight(string(header), "\r\n"), ";")
	size, err := strconv.ParseInt(sizeHex, 16, 64)
	sigHex, ok := strings.CutPrefix(params, "chunk-signature=")
	if err != nil || size < 0 || size > maxChunk || !ok {
		return nil, bad
	}
	raw := make([]byte, 0, len(header)+int(size)+2)
	raw = append(raw, header...)
	data := make([]byte, size)
	if _, err := io.ReadFull(c.in, data); err != nil {
		return nil, bad
	}
	raw = append(raw, data...)
	crlf := make([]byte, 2)
	if _, err := io.ReadFull(c.in, crlf); err != nil || string(crlf) != "\r\n" {
		return nil, bad
	}
	raw = append(raw, crlf...)
	want, err := hex.DecodeString(sigHex)
	if err != nil {
		return nil, bad
	}
	// The SDK's event-stream signer signs the same string with no headers:
	// the hash of "" stands in their place.
	got, err := c.stream.GetSignature(context.Background(), nil, data, c.at)
	if err != nil || !hmac.Equal(got, want) {
		return nil, bad
	}
	if size == 0 {
		if _, err := c.in.ReadByte(); err != io.EOF {
			return nil, bad // nothing may follow the final chunk
		}
		c.done = true
	}
	return raw, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// newHashChecker wraps a request body whose SHA-256 was declared: reading it
// to the end fails with an *Error (ReasonPayload) instead of io.EOF when
// the bytes are not the ones signed, so a consumer that reads the whole
// body never accepts tampered data.
func newHashChecker(body io.ReadCloser, declared string) io.ReadCloser {
	return &hashChecker{ReadCloser: body, h: sha256.New(), want: declared}
}

type hashChecker struct {
	io.ReadCloser
	h    hash.Hash
	want string
}

func (c *hashChecker) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF && hex.EncodeToString(c.h.Sum(nil)) != c.want {
		return n, failWith(ReasonPayload, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return n, err
}
