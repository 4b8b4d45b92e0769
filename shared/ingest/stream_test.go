package ingest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

const aepMessage = `{"header":{"schemaRef":{"id":"https://ns.adobe.com/acme/schemas/s1","contentType":"application/vnd.adobe.xed-full+json;version=1"},"imsOrgId":"ACME@AdobeOrg","datasetId":"ds1","source":{"name":"pos"}},"body":{"xdmMeta":{"schemaRef":{"id":"https://ns.adobe.com/acme/schemas/s1"}},"xdmEntity":{"_id":"e1","timestamp":"2024-02-23T22:07:01Z"}}}`

func TestParseMessages(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantErr   string   // whole-record error code
		wantCodes []string // per message: "" for ok
		wantOps   []string
	}{
		{"single", aepMessage, "", []string{""}, []string{OpCreate}},
		{"batch", `{"messages":[` + aepMessage + `,{"header":{},"body":{}},` + strings.Replace(aepMessage, `"source"`, `"operations":{"data":"merge"},"source"`, 1) + `]}`,
			"", []string{"", CodeMessageDataset, ""}, []string{OpCreate, "", OpMerge}},
		{"data prep body", `{"header":{"datasetId":"ds1","operations":{"data":"merge"}},"body":{"identityMap":{}}}`, "", []string{""}, []string{OpMerge}},
		{"delete", `{"header":{"datasetId":"ds1","operations":{"data":"delete"}},"body":{"xdmEntity":{}}}`, "", []string{""}, []string{OpDelete}},
		{"identity dataset", `{"header":{"datasetId":"ds1","operations":{"data":"merge","identity":"create","identityDatasetId":"ids"}},"body":{"xdmEntity":{}}}`, "", []string{""}, []string{OpMerge}},
		{"identity other than create", `{"header":{"datasetId":"ds1","operations":{"identity":"merge","identityDatasetId":"ids"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"identity without its dataset", `{"header":{"datasetId":"ds1","operations":{"identity":"create"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"identity dataset without identity", `{"header":{"datasetId":"ds1","operations":{"identityDatasetId":"ids"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"bad operation", `{"header":{"datasetId":"ds1","operations":{"data":"upsert"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, []string{OpCreate}},
		{"misspelt data member", `{"header":{"datasetId":"ds1","operations":{"date":"merge"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"data in other case", `{"header":{"datasetId":"ds1","operations":{"Data":"merge"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"empty data", `{"header":{"datasetId":"ds1","operations":{"data":""}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"null data", `{"header":{"datasetId":"ds1","operations":{"data":null}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"null operations", `{"header":{"datasetId":"ds1","operations":null},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"operations an array", `{"header":{"datasetId":"ds1","operations":[]},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"operations a string", `{"header":{"datasetId":"ds1","operations":"merge"},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"data a number", `{"header":{"datasetId":"ds1","operations":{"data":1}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"data an array", `{"header":{"datasetId":"ds1","operations":{"data":["merge"]}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"identity a number", `{"header":{"datasetId":"ds1","operations":{"data":"merge","identity":1,"identityDatasetId":"ids"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"unknown member", `{"header":{"datasetId":"ds1","operations":{"data":"merge","extra":"x"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"identity with a delete", `{"header":{"datasetId":"ds1","operations":{"data":"delete","identity":"create","identityDatasetId":"ids"}},"body":{"xdmEntity":{}}}`, "", []string{CodeMessageOp}, nil},
		{"empty operations", `{"header":{"datasetId":"ds1","operations":{}},"body":{"xdmEntity":{}}}`, "", []string{""}, []string{OpCreate}},
		{"empty messages", `{"messages":[]}`, CodeMessageBody, nil, nil},
		{"empty body", `{"header":{"datasetId":"ds1"},"body":{}}`, "", []string{CodeMessageBody}, nil},
		{"null entity", `{"header":{"datasetId":"ds1"},"body":{"xdmEntity":null}}`, "", []string{CodeMessageBody}, nil},
		{"array entity", `{"header":{"datasetId":"ds1"},"body":{"xdmEntity":[]}}`, "", []string{CodeMessageBody}, nil},
		{"schema mismatch", strings.Replace(aepMessage, `"xdmMeta":{"schemaRef":{"id":"https://ns.adobe.com/acme/schemas/s1"}}`, `"xdmMeta":{"schemaRef":{"id":"other"}}`, 1), "", []string{CodeMessageSchema}, []string{OpCreate}},
		{"meta without entity", `{"header":{"datasetId":"ds1"},"body":{"xdmMeta":{}}}`, "", []string{CodeMessageBody}, []string{OpCreate}},
		{"no body", `{"header":{"datasetId":"ds1"}}`, "", []string{CodeMessageBody}, []string{OpCreate}},
		{"not json", `{"header":`, CodeMessageJSON, nil, nil},
		{"too large", `{"x":"` + strings.Repeat("a", MaxMessageBytes) + `"}`, CodeMessageTooLarge, nil, nil},
		{"invalid utf-8", "{\"header\":\"\xff\"}", CodeRowUTF8, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := ParseMessages([]byte(tt.in))
			if got := codeOf(err); got != tt.wantErr {
				t.Fatalf("error code %q (%v), want %q", got, err, tt.wantErr)
			}
			if len(msgs) != len(tt.wantCodes) {
				t.Fatalf("got %d messages, want %d", len(msgs), len(tt.wantCodes))
			}
			for i, m := range msgs {
				if got := codeOf(m.Err); got != tt.wantCodes[i] {
					t.Errorf("message %d: code %q, want %q", i, got, tt.wantCodes[i])
				}
				if m.Index != i {
					t.Errorf("message %d has index %d", i, m.Index)
				}
				if m.Err == nil {
					if m.Op != tt.wantOps[i] || m.DatasetID != "ds1" || !json.Valid(m.Entity) {
						t.Errorf("message %d: op %q dataset %q entity valid %v", i, m.Op, m.DatasetID, json.Valid(m.Entity))
					}
				}
			}
		})
	}
}

func TestParseMessagesIdentityDataset(t *testing.T) {
	for _, tc := range []struct{ ops, want string }{
		{`{"data":"create","identity":"create","identityDatasetId":"ids"}`, "ids"},
		{`{"data":"merge"}`, ""},
		{`{}`, ""},
	} {
		msgs, err := ParseMessages([]byte(`{"header":{"datasetId":"ds1","operations":` + tc.ops + `},"body":{"xdmEntity":{}}}`))
		if err != nil || len(msgs) != 1 || msgs[0].Err != nil {
			t.Fatalf("operations %s: got %v, %+v", tc.ops, err, msgs)
		}
		if msgs[0].IdentityDatasetID != tc.want {
			t.Errorf("operations %s: identity dataset %q, want %q", tc.ops, msgs[0].IdentityDatasetID, tc.want)
		}
	}
	msgs, _ := ParseMessages([]byte(`{"header":{"datasetId":"ds1","operations":{"identity":"update","identityDatasetId":"ids"}},"body":{"xdmEntity":{}}}`))
	if _, msg := Describe(msgs[0].Err); msg != "header.operations.identity must be create" {
		t.Errorf("message %q", msg)
	}
	msgs, _ = ParseMessages([]byte(`{"header":{"datasetId":"ds1","operations":{"identityDatasetId":"ids"}},"body":{"xdmEntity":{}}}`))
	if _, msg := Describe(msgs[0].Err); msg != "header.operations.identity and header.operations.identityDatasetId go together: give both or neither" {
		t.Errorf("message %q", msg)
	}
}

func FuzzParseMessages(f *testing.F) {
	f.Add([]byte(aepMessage))
	f.Add([]byte(`{"messages":[` + aepMessage + `,1,null]}`))
	f.Add([]byte(`{"header":{"datasetId":"d"},"body":[]}`))
	f.Add([]byte(`{"header":{"datasetId":"d","operations":{"data":"delete","identity":"create","identityDatasetId":"i"}},"body":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := ParseMessages(data)
		if err != nil {
			if fault.KindOf(err) != fault.Invalid || msgs != nil {
				t.Fatalf("whole-record error %v of kind %v with %d messages", err, fault.KindOf(err), len(msgs))
			}
			return
		}
		for i, m := range msgs {
			if m.Index != i {
				t.Fatalf("message %d has index %d", i, m.Index)
			}
			if m.Err != nil {
				if fault.KindOf(m.Err) != fault.Invalid {
					t.Fatalf("message error of kind %v", fault.KindOf(m.Err))
				}
				continue
			}
			if m.DatasetID == "" || len(m.Entity) == 0 {
				t.Fatalf("accepted message without dataset or entity")
			}
			switch m.Op {
			case OpCreate, OpMerge, OpDelete:
			default:
				t.Fatalf("accepted operation %q", m.Op)
			}
		}
	})
}
