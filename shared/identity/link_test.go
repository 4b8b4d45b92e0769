package identity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLinks(t *testing.T) {
	email := Identity{ID: ID{"Email", "a@example.com"}, Primary: true, Type: TypeEmail}
	ecid := Identity{ID: ID{"ECID", "1"}, Type: TypeCookie}
	store := Identity{ID: ID{"StoreID", "S1"}, Type: TypeNonPeople}
	partner := Identity{ID: ID{"PartnerX", "P1"}, Type: TypePartner}
	link := func(b Identity) Link {
		return Link{A: email.ID, B: b.ID, AType: TypeEmail, BType: b.Type, Dataset: "ds", Source: "b1", Src: "s3:k#1:3", At: 7}
	}
	phone := Identity{ID: ID{"Phone", "1"}, Type: TypePhone}
	tests := []struct {
		name string
		ids  []Identity
		want []Link
	}{
		{"primary joined to each other identity", []Identity{email, ecid, phone}, []Link{link(ecid), link(phone)}},
		{"a lone identity makes no link", []Identity{email}, nil},
		{"non-people identity never links", []Identity{email, store, ecid}, []Link{link(ecid)}},
		{"partner identity never links", []Identity{email, partner}, nil},
		{"non-people primary makes no link", []Identity{{ID: store.ID, Primary: true, Type: TypeNonPeople}, email}, nil},
		{"partner primary makes no link", []Identity{{ID: partner.ID, Primary: true, Type: TypePartner}, email}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Links(Extracted{Identities: tt.ids}, "ds", "b1", "s3:k#1:3", 7)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("links (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLinkable(t *testing.T) {
	for _, typ := range Types {
		t.Run(typ, func(t *testing.T) {
			want := typ != TypeNonPeople && typ != TypePartner
			if got := Linkable(typ); got != want {
				t.Errorf("Linkable(%s) = %t, want %t", typ, got, want)
			}
		})
	}
}

func TestEvictionPriority(t *testing.T) {
	want := map[string]int{TypeCookie: 0, TypeDevice: 1, TypeCrossDevice: 2, TypeEmail: 2, TypePhone: 2, TypeNonPeople: 2, TypePartner: 2, "": 2}
	for typ, w := range want {
		if got := EvictionPriority(typ); got != w {
			t.Errorf("EvictionPriority(%q) = %d, want %d", typ, got, w)
		}
	}
}
