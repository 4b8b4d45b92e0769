package lambdaevent

import "testing"

func TestSQS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		ok, err bool
	}{
		{"sqs", `{"Records":[{"eventSource":"aws:sqs","messageId":"m1","body":"{}"}]}`, true, false},
		{"kinesis", `{"Records":[{"eventSource":"aws:kinesis"}]}`, false, false},
		{"s3", `{"Records":[{"eventSource":"aws:s3"}]}`, false, false},
		{"no records", `{}`, false, false},
		{"not an object", `[1]`, false, true},
		{"sqs that does not decode", `{"Records":[{"eventSource":"aws:sqs","body":5}]}`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, ok, err := SQS([]byte(tt.in))
			if ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("SQS = %v, %v; want ok %v, error %v", ok, err, tt.ok, tt.err)
			}
			if ok && (len(ev.Records) != 1 || ev.Records[0].MessageId != "m1") {
				t.Errorf("decoded %+v", ev)
			}
		})
	}
}
