package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// TestNamespaceSettings changes namespaces with PUT: a standard one's
// unique only, a custom one's name, description and unique; code and
// idType never.
func TestNamespaceSettings(t *testing.T) {
	h, _ := newTestHandler()
	const route = "PUT /data/core/idnamespace/identities/{code}"
	put := func(code, body string) (int, map[string]any) {
		return call(t, h, event(route, map[string]string{"code": code}, nil, body))
	}
	get := func(code string) map[string]any {
		status, body := call(t, h, event("GET /data/core/idnamespace/identities/{code}", map[string]string{"code": code}, nil, ""))
		if status != 200 {
			t.Fatalf("GET %s: %d %v", code, status, body)
		}
		return body
	}
	if get("CRMID")["unique"] != true || get("Email")["unique"] != false {
		t.Fatalf("defaults: CRMID %v, Email %v; want CRMID unique only", get("CRMID"), get("Email"))
	}
	if status, _ := call(t, h, event("POST /data/core/idnamespace/identities", nil, nil, `{"code":"MyCRM","name":"My CRM","idType":"CROSS_DEVICE"}`)); status != 201 {
		t.Fatalf("create: %d", status)
	}
	custom := get("mycrm")
	sentBack := fmt.Sprintf(`{"id":%d,"code":"MyCRM","name":"CRM ids","description":"from the CRM","idType":"CROSS_DEVICE","custom":true,"status":"ACTIVE","unique":true,"createTime":%d,"updateTime":%d}`,
		int64(custom["id"].(float64)), int64(custom["createTime"].(float64)), int64(custom["updateTime"].(float64)))

	tests := []struct {
		name   string
		code   string
		body   string
		status int
		want   map[string]any // members of the answer
	}{
		{"standard made not unique", "crmid", `{"unique":false}`, 200, map[string]any{"code": "CRMID", "unique": false, "updateTime": float64(testNow.UnixMilli())}},
		{"standard made unique, code and type as they are", "Email", `{"code":"email","idType":"EMAIL","unique":true}`, 200, map[string]any{"code": "Email", "unique": true}},
		{"standard's name as it is", "Email", `{"name":"Email"}`, 200, map[string]any{"unique": true}},
		{"standard's name", "Email", `{"name":"Mail"}`, 400, map[string]any{"code": "NAMESPACE-STANDARD"}},
		{"standard's description", "ECID", `{"description":"cookies"}`, 400, map[string]any{"code": "NAMESPACE-STANDARD"}},
		{"standard's type", "ECID", `{"idType":"DEVICE"}`, 400, map[string]any{"code": "NAMESPACE-IMMUTABLE"}},
		{"custom", "MYCRM", `{"name":" CRM ids ","description":"from the CRM","unique":true}`, 200,
			map[string]any{"code": "MyCRM", "name": "CRM ids", "description": "from the CRM", "unique": true, "custom": true}},
		{"custom sent back as read", "mycrm", sentBack, 200, map[string]any{"name": "CRM ids", "unique": true}},
		{"custom's code", "mycrm", `{"code":"OtherCRM"}`, 400, map[string]any{"code": "NAMESPACE-IMMUTABLE"}},
		{"custom's type", "mycrm", `{"idType":"EMAIL","unique":false}`, 400, map[string]any{"code": "NAMESPACE-IMMUTABLE"}},
		{"custom's id", "mycrm", `{"id":7}`, 400, map[string]any{"code": "NAMESPACE-IMMUTABLE"}},
		{"empty name", "mycrm", `{"name":" "}`, 400, map[string]any{"code": "NAMESPACE-NAME"}},
		{"unknown member", "mycrm", `{"symbol":"x"}`, 400, map[string]any{"code": "REQ-JSON"}},
		{"unknown namespace", "Nope", `{"unique":true}`, 404, map[string]any{"code": "NAMESPACE-NOT-FOUND"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := put(tt.code, tt.body)
			if status != tt.status {
				t.Fatalf("PUT %s %s: %d %v, want %d", tt.code, tt.body, status, body, tt.status)
			}
			for k, v := range tt.want {
				if body[k] != v {
					t.Errorf("%s = %v, want %v (%v)", k, body[k], v, body)
				}
			}
		})
	}
	if get("crmid")["unique"] != false || get("EMAIL")["unique"] != true || get("MyCRM")["unique"] != true {
		t.Errorf("after the changes: CRMID %v, Email %v, MyCRM %v", get("crmid")["unique"], get("EMAIL")["unique"], get("MyCRM")["unique"])
	}
	status, list := callList(t, h)
	unique := map[string]any{}
	for _, ns := range list {
		unique[ns["code"].(string)] = ns["unique"]
	}
	if status != 200 || unique["CRMID"] != false || unique["Email"] != true || unique["MyCRM"] != true || unique["ECID"] != false {
		t.Errorf("listing: %d %v", status, unique)
	}
}

// callList lists the namespaces.
func callList(t *testing.T, h *handler) (int, []map[string]any) {
	t.Helper()
	resp, err := h.Handle(context.Background(), event("GET /data/core/idnamespace/identities", nil, nil, ""))
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &list); err != nil {
		t.Fatalf("listing %s: %v", resp.Body, err)
	}
	return resp.StatusCode, list
}
