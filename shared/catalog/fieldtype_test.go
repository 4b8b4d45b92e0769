package catalog

import (
	"testing"

	"github.com/mosaic-cdp/mosaic/shared/xdm"
)

func TestFieldType(t *testing.T) {
	profile := newSchema(t, xdm.ProfileClass, xdm.PersonalDetailsFieldGroup, xdm.PersonDetailsFieldGroup, xdm.IdentityMapFieldGroup)
	ps, err := BuildSpec(Dataset{ID: "p", SchemaRef: SchemaRef{ID: profile.ID}}, profile, nil)
	if err != nil {
		t.Fatal(err)
	}
	event := newSchema(t, xdm.EventClass, xdm.CommerceFieldGroup)
	es, err := BuildSpec(Dataset{ID: "e", SchemaRef: SchemaRef{ID: event.ID}}, event, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec *IngestSpec
		path string
		want string // "" for unknown
	}{
		{ps, "_id", "string"},
		{ps, "person", "object"},
		{ps, "person.name.firstName", "string"},
		{ps, "person.birthDate", "date"},
		{ps, "person.birthYear", "integer"},
		{ps, "personalEmail.address", "string"},
		{ps, "identityMap", "map"},
		{ps, "identityMap.Email", "array"},
		{ps, "identityMap.Email[0]", "object"},
		{ps, "identityMap.AnyNamespace[3].id", "string"},
		{ps, "identityMap.Email[0].primary", "boolean"},
		{ps, "identityMap.Email[0].nope", ""},
		{ps, "person.name.nickName", ""},
		{ps, "person.name[0]", ""},
		{ps, "person..name", ""},
		{ps, "person.", ""},
		{ps, "", ""},
		{ps, "identityMap.Email[x].id", ""},
		{es, "timestamp", "date-time"},
		{es, "commerce.order.priceTotal", "number"},
		{es, "commerce.order.payments[0].paymentAmount", "number"},
		{es, "productListItems[12].quantity", "integer"},
		{es, "productListItems.quantity", ""},
	} {
		got, ok := tc.spec.FieldType(tc.path)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: FieldType(%q) = %q, %t; want %q", tc.spec.DatasetID, tc.path, got, ok, tc.want)
		}
	}
}
