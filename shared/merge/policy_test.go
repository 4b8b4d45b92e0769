package merge

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mosaic-cdp/mosaic/shared/fault"
)

func wantFault(t *testing.T, err error, kind fault.Kind, code string) {
	t.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Kind != kind || fe.Code != code {
		t.Errorf("got %v, want %v %s", err, kind, code)
	}
}

func crmFirst() Policy {
	return Policy{
		ID: "crm-first", Name: "CRM first", Schema: SchemaRef{Name: ProfileSchema},
		IdentityGraph:  IdentityGraph{Type: GraphPDG},
		AttributeMerge: AttributeMerge{Type: DataSetPrecedence, Order: []string{"dsCRM", "dsLoyalty"}},
	}
}

func TestPolicyCheck(t *testing.T) {
	with := func(f func(p *Policy)) Policy {
		p := crmFirst()
		f(&p)
		return p
	}
	many := make([]string, MaxOrder+1)
	for i := range many {
		many[i] = fmt.Sprintf("ds%d", i)
	}
	tests := []struct {
		name string
		p    Policy
		code string // "" when valid
	}{
		{"valid", crmFirst(), ""},
		{"name of 100 characters", with(func(p *Policy) { p.Name = strings.Repeat("é", 100) }), ""},
		{"name of 101 characters", with(func(p *Policy) { p.Name = strings.Repeat("é", 101) }), "MERGE-POLICY-NAME"},
		{"blank name", with(func(p *Policy) { p.Name = "  " }), "MERGE-POLICY-NAME"},
		{"unknown class", with(func(p *Policy) { p.Schema.Name = "_xdm.context.segmentdefinition" }), "MERGE-POLICY-SCHEMA-NAME"},
		{"edge on the event class", with(func(p *Policy) { p.Schema.Name = EventSchema; p.IsActiveOnEdge = true }), "MERGE-POLICY-EDGE-CLASS"},
		{"edge on the profile class", with(func(p *Policy) { p.IsActiveOnEdge = true }), ""},
		{"bad graph", with(func(p *Policy) { p.IdentityGraph.Type = "all" }), "MERGE-POLICY-GRAPH"},
		{"bad merge type", with(func(p *Policy) { p.AttributeMerge.Type = "newest" }), "MERGE-POLICY-TYPE"},
		{"precedence without order", with(func(p *Policy) { p.AttributeMerge.Order = nil }), "MERGE-POLICY-ORDER"},
		{"order of 50", with(func(p *Policy) { p.AttributeMerge.Order = many[:MaxOrder] }), ""},
		{"order of 51", with(func(p *Policy) { p.AttributeMerge.Order = many }), "MERGE-POLICY-ORDER"},
		{"dataset twice", with(func(p *Policy) { p.AttributeMerge.Order = []string{"a", "b", "a"} }), "MERGE-POLICY-ORDER"},
		{"empty dataset id", with(func(p *Policy) { p.AttributeMerge.Order = []string{"a", ""} }), "MERGE-POLICY-ORDER"},
		{"padded dataset id", with(func(p *Policy) { p.AttributeMerge.Order = []string{" a"} }), "MERGE-POLICY-ORDER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check()
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			wantFault(t, err, fault.Invalid, tt.code)
		})
	}
}

var t0 = time.Unix(1_700_000_000, 0)

func profileDefault() Policy { p, _ := Default(ProfileSchema); return p }

func TestAddPolicy(t *testing.T) {
	list := []Policy{profileDefault()}
	p := crmFirst()
	p.Name = "  CRM first "
	out, err := AddPolicy(list, p, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := crmFirst()
	want.Version, want.UpdateEpoch = 1, t0.Unix()
	if d := cmp.Diff([]Policy{profileDefault(), want}, out); d != "" {
		t.Errorf("added (-want +got):\n%s", d)
	}
	if !list[0].Default || len(list) != 1 {
		t.Errorf("AddPolicy changed its input: %v", list)
	}

	t.Run("a new default clears the old one", func(t *testing.T) {
		p := crmFirst()
		p.Default = true
		out, err := AddPolicy([]Policy{profileDefault()}, p, t0)
		if err != nil {
			t.Fatal(err)
		}
		if old := out[0]; old.Default || old.Version != 2 || old.UpdateEpoch != t0.Unix() {
			t.Errorf("old default %+v, want default false at version 2", old)
		}
		if !out[1].Default {
			t.Errorf("new policy %+v, want the default", out[1])
		}
	})
	t.Run("timestampOrdered drops an order", func(t *testing.T) {
		p := crmFirst()
		p.AttributeMerge.Type = TimestampOrdered
		out, err := AddPolicy(nil, p, t0)
		if err != nil || out[0].AttributeMerge.Order != nil {
			t.Errorf("got %v %v, want no order", out, err)
		}
	})
	t.Run("limit", func(t *testing.T) {
		var list []Policy
		for i := range MaxPoliciesPerClass {
			p := crmFirst()
			p.ID = fmt.Sprint(i)
			var err error
			if list, err = AddPolicy(list, p, t0); err != nil {
				t.Fatal(err)
			}
		}
		p := crmFirst()
		p.ID = "sixth"
		_, err := AddPolicy(list, p, t0)
		wantFault(t, err, fault.Conflict, "MERGE-POLICY-LIMIT")
	})
	t.Run("one active on edge", func(t *testing.T) {
		edge := crmFirst()
		edge.IsActiveOnEdge = true
		list, err := AddPolicy(nil, edge, t0)
		if err != nil {
			t.Fatal(err)
		}
		other := edge
		other.ID = "other"
		_, err = AddPolicy(list, other, t0)
		wantFault(t, err, fault.Conflict, "MERGE-POLICY-EDGE")
	})
	t.Run("id taken", func(t *testing.T) {
		list, _ := AddPolicy(nil, crmFirst(), t0)
		_, err := AddPolicy(list, crmFirst(), t0)
		wantFault(t, err, fault.Conflict, "MERGE-POLICY-EXISTS")
	})
	t.Run("invalid", func(t *testing.T) {
		p := crmFirst()
		p.Name = ""
		_, err := AddPolicy(nil, p, t0)
		wantFault(t, err, fault.Invalid, "MERGE-POLICY-NAME")
	})
}

func TestReplacePolicy(t *testing.T) {
	list, err := AddPolicy([]Policy{profileDefault()}, crmFirst(), t0)
	if err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	p := crmFirst()
	p.IdentityGraph.Type = GraphNone
	p.Default = true
	out, err := ReplacePolicy(list, p, later)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1].ID != p.ID || out[1].Version != 2 || out[1].UpdateEpoch != later.Unix() || out[1].IdentityGraph.Type != GraphNone {
		t.Errorf("replaced %+v, want version 2 with none at the same place", out)
	}
	if out[0].Default || out[0].Version != 2 {
		t.Errorf("old default %+v, want cleared at version 2", out[0])
	}

	t.Run("class is kept", func(t *testing.T) {
		q := crmFirst()
		q.Schema.Name = EventSchema
		_, err := ReplacePolicy(list, q, later)
		wantFault(t, err, fault.Invalid, "MERGE-POLICY-SCHEMA-CHANGE")
	})
	t.Run("unknown id", func(t *testing.T) {
		q := crmFirst()
		q.ID = "nope"
		_, err := ReplacePolicy(list, q, later)
		wantFault(t, err, fault.NotFound, "MERGE-POLICY-NOT-FOUND")
	})
	t.Run("unsetting the default leaves none", func(t *testing.T) {
		q := profileDefault()
		q.Default = false
		out, err := ReplacePolicy(list, q, later)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range out {
			if p.Default {
				t.Errorf("%s is still a default", p.ID)
			}
		}
	})
}

func TestRemovePolicy(t *testing.T) {
	edge := crmFirst()
	edge.IsActiveOnEdge = true
	list, err := AddPolicy([]Policy{profileDefault()}, edge, t0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = RemovePolicy(list, edge.ID)
	wantFault(t, err, fault.Conflict, "MERGE-POLICY-EDGE-ACTIVE")
	_, err = RemovePolicy(list, "nope")
	wantFault(t, err, fault.NotFound, "MERGE-POLICY-NOT-FOUND")
	out, err := RemovePolicy(list, DefaultProfilePolicyID)
	if err != nil || len(out) != 1 || out[0].ID != edge.ID || len(list) != 2 {
		t.Errorf("got %v %v, want the edge policy left and the input kept", out, err)
	}
}

func TestCheckClass(t *testing.T) {
	a, b := crmFirst(), crmFirst()
	b.ID = "b"
	a.Default, b.Default = true, true
	wantFault(t, CheckClass(ProfileSchema, []Policy{a, b}), fault.Conflict, "MERGE-POLICY-DEFAULT")
	wantFault(t, CheckClass(EventSchema, []Policy{crmFirst()}), fault.Invalid, "MERGE-POLICY-SCHEMA")
	a.Default, b.Default = false, false
	a.IsActiveOnEdge, b.IsActiveOnEdge = true, true
	wantFault(t, CheckClass(ProfileSchema, []Policy{a, b}), fault.Conflict, "MERGE-POLICY-EDGE")
	if err := CheckClass(ProfileSchema, nil); err != nil {
		t.Errorf("an empty class: %v", err)
	}
}

func TestPolicyPatch(t *testing.T) {
	base := crmFirst()
	base.Version = 3
	tests := []struct {
		name string
		body string
		want func(p *Policy)
		code string
	}{
		{"AEP's example: one object, a string boolean", `{"op":"add","path":"/default","value":"true"}`,
			func(p *Policy) { p.Default = true }, ""},
		{"AEP's dotted path", `{"op":"replace","path":"/identityGraph.type","value":"none"}`,
			func(p *Policy) { p.IdentityGraph.Type = GraphNone }, ""},
		{"JSON Pointer path in an array", `[{"op":"replace","path":"/identityGraph/type","value":"none"},{"op":"replace","path":"/name","value":"Renamed"}]`,
			func(p *Policy) { p.IdentityGraph.Type = GraphNone; p.Name = "Renamed" }, ""},
		{"order element", `[{"op":"add","path":"/attributeMerge.order/0","value":"dsWeb"}]`,
			func(p *Policy) { p.AttributeMerge.Order = []string{"dsWeb", "dsCRM", "dsLoyalty"} }, ""},
		{"edge flag as a string", `{"op":"replace","path":"/isActiveOnEdge","value":"TRUE"}`,
			func(p *Policy) { p.IsActiveOnEdge = true }, ""},
		{"test of the version read", `[{"op":"test","path":"/version","value":3},{"op":"replace","path":"/name","value":"V"}]`,
			func(p *Policy) { p.Name = "V" }, ""},
		{"stale version", `[{"op":"test","path":"/version","value":2},{"op":"replace","path":"/name","value":"V"}]`, nil, "MERGE-POLICY-PATCH"},
		{"version is read-only", `{"op":"replace","path":"/version","value":9}`, nil, "MERGE-POLICY-PATCH"},
		{"id is read-only", `{"op":"replace","path":"/id","value":"x"}`, nil, "MERGE-POLICY-PATCH"},
		{"unknown member", `{"op":"add","path":"/owner","value":"x"}`, nil, "MERGE-POLICY-PATCH"},
		{"unknown nested member", `{"op":"add","path":"/identityGraph/depth","value":2}`, nil, "MERGE-POLICY-PATCH"},
		{"whole document", `{"op":"replace","path":"","value":{}}`, nil, "MERGE-POLICY-PATCH"},
		{"wrong type", `{"op":"replace","path":"/name","value":5}`, nil, "MERGE-POLICY-PATCH"},
		{"not a boolean", `{"op":"replace","path":"/default","value":"yes"}`, nil, "MERGE-POLICY-PATCH"},
		{"missing path", `{"op":"remove","path":"/attributeMerge/order/7"}`, nil, "MERGE-POLICY-PATCH"},
		{"no operations", `[]`, nil, "MERGE-POLICY-PATCH"},
		{"not a patch", `"default"`, nil, "MERGE-POLICY-PATCH"},
		{"unknown operation member", `{"op":"add","path":"/default","value":true,"when":1}`, nil, "MERGE-POLICY-PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := ParsePolicyPatch([]byte(tt.body))
			var got Policy
			if err == nil {
				got, err = PatchPolicy(base, ops)
			}
			if tt.code != "" {
				wantFault(t, err, fault.Invalid, tt.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := base
			tt.want(&want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("patched (-want +got):\n%s", d)
			}
		})
	}
}

func TestPolicyInputBooleans(t *testing.T) {
	tests := []struct {
		body            string
		wantDefault     bool
		wantEdge        bool
		wantDecodeError bool
	}{
		{`{"default":"true","isActiveOnEdge":true}`, true, true, false},
		{`{"default":true,"isActiveOnEdge":"True"}`, true, true, false},
		{`{"default":"false","isActiveOnEdge":null}`, false, false, false},
		{`{"default":"yes"}`, false, false, true},
		{`{"default":1}`, false, false, true},
	}
	for _, tt := range tests {
		var in PolicyInput
		err := json.Unmarshal([]byte(tt.body), &in)
		if (err != nil) != tt.wantDecodeError {
			t.Errorf("%s: error %v, want one: %v", tt.body, err, tt.wantDecodeError)
			continue
		}
		if p := in.Policy(); err == nil && (p.Default != tt.wantDefault || p.IsActiveOnEdge != tt.wantEdge) {
			t.Errorf("%s: default %v, isActiveOnEdge %v; want %v, %v", tt.body, p.Default, p.IsActiveOnEdge, tt.wantDefault, tt.wantEdge)
		}
	}
}
