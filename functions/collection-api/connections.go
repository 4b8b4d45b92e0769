package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/apigw"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/store"
	"github.com/mosaic-cdp/mosaic/shared/topology"
)

// AEP's Flow Service ids of a streaming connection ("Create an HTTP API
// streaming connection using the Flow Service API").
const (
	streamingSpecID   = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"
	streamingProvider = "521eee4d-8cbe-4906-bb48-fb6bd4450033"
	streamingAuthSpec = "Streaming Connection"
)

// Connection error codes.
const (
	codeConnSpec     = "FLOW-CONNECTION-SPEC"
	codeConnName     = "FLOW-CONNECTION-NAME"
	codeConnDataType = "FLOW-CONNECTION-DATA-TYPE"
	codeConnAuth     = "FLOW-CONNECTION-AUTHENTICATED"
	codeConnNotFound = "FLOW-CONNECTION-NOT-FOUND"
)

// maxConnName bounds a connection's name and description (bytes).
const maxConnName = 1024

// connection is a streaming connection as stored and answered: AEP's
// Flow Service connection object of the HTTP API source.
type connection struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Description    string         `json:"description,omitempty"`
	ProviderID     string         `json:"providerId"`
	ConnectionSpec connectionSpec `json:"connectionSpec"`
	State          string         `json:"state"`
	Auth           connAuth       `json:"auth"`
	CreatedAt      int64          `json:"createdAt"`
	UpdatedAt      int64          `json:"updatedAt"`
	Version        string         `json:"version"`
	Etag           string         `json:"etag"`
}

type connectionSpec struct {
	ID      string `json:"id"`
	Version string `json:"version"`
}

type connAuth struct {
	SpecName string     `json:"specName"`
	Params   connParams `json:"params"`
}

type connParams struct {
	SourceID               string `json:"sourceId,omitempty"`
	DataType               string `json:"dataType"`
	Name                   string `json:"name"`
	AuthenticationRequired bool   `json:"authenticationRequired"`
	// InletID and InletURL are filled in answers: the id to post to, and
	// its URL on this API.
	InletID  string `json:"inletId,omitempty"`
	InletURL string `json:"inletUrl,omitempty"`
}

// connectionInput is the body of POST /connections.
type connectionInput struct {
	Name           string          `json:"name"`
	Description    string          `json:"description"`
	ProviderID     string          `json:"providerId"`
	ConnectionSpec *connectionSpec `json:"connectionSpec"`
	Auth           *struct {
		SpecName string `json:"specName"`
		Params   struct {
			SourceID               string `json:"sourceId"`
			DataType               string `json:"dataType"`
			Name                   string `json:"name"`
			AuthenticationRequired bool   `json:"authenticationRequired"`
		} `json:"params"`
	} `json:"auth"`
}

// connectionStore keeps streaming connections; Get answers fault NotFound
// for an unknown id, Create fault Conflict for an id that exists.
type connectionStore interface {
	Create(ctx context.Context, c connection) error
	Get(ctx context.Context, id string) (connection, error)
	List(ctx context.Context) ([]connection, error)
}

var connIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validConnectionID reports whether id can be a connection id (a UUID in
// lower case); others are not looked up.
func validConnectionID(id string) bool { return connIDPattern.MatchString(id) }

// createConnection is Flow Service's POST /connections for the HTTP API
// source: connectionSpec.id bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb,
// auth.params {name, dataType "xdm", sourceId}. 201 {"id","etag"}; the id
// is an inlet id at once. Authenticated inlets
// (authenticationRequired true) are 400: every route is signed with SigV4.
func (h *handler) createConnection(ctx context.Context, r *apigw.Request) (int, any, error) {
	var in connectionInput
	if err := r.Decode(&in); err != nil {
		return 0, nil, err
	}
	if in.ConnectionSpec == nil || in.ConnectionSpec.ID != streamingSpecID {
		return 0, nil, fault.E(fault.Invalid, codeConnSpec, "connectionSpec.id must be "+streamingSpecID+" (HTTP API streaming connection)")
	}
	if in.Auth == nil {
		return 0, nil, fault.E(fault.Invalid, codeConnName, "auth.params.name is required")
	}
	p := in.Auth.Params
	name := strings.TrimSpace(p.Name)
	if name == "" {
		name = strings.TrimSpace(in.Name)
	}
	if name == "" || len(name) > maxConnName || len(in.Description) > maxConnName {
		return 0, nil, fault.Errorf(fault.Invalid, codeConnName, "auth.params.name (or name) is required, at most %d bytes, as is description", maxConnName)
	}
	switch p.DataType {
	case "", "xdm":
	default:
		return 0, nil, fault.E(fault.Invalid, codeConnDataType, `auth.params.dataType must be "xdm": messages are XDM, in AEP's envelope`)
	}
	if p.AuthenticationRequired {
		return 0, nil, fault.E(fault.Invalid, codeConnAuth, "authenticated inlets are not offered: every route of this API is signed with SigV4")
	}
	if len(p.SourceID) > maxConnName {
		return 0, nil, fault.Errorf(fault.Invalid, codeConnName, "auth.params.sourceId is at most %d bytes", maxConnName)
	}
	id, err := newConnectionID()
	if err != nil {
		return 0, nil, err
	}
	now := h.now().UnixMilli()
	c := connection{
		ID: id, Name: strings.TrimSpace(in.Name), Description: in.Description, ProviderID: streamingProvider,
		ConnectionSpec: connectionSpec{ID: streamingSpecID, Version: "1.0"}, State: "enabled",
		Auth: connAuth{SpecName: streamingAuthSpec, Params: connParams{
			SourceID: p.SourceID, DataType: "xdm", Name: name,
		}},
		CreatedAt: now, UpdatedAt: now,
	}
	if c.Name == "" {
		c.Name = name
	}
	if c.Auth.Params.SourceID == "" {
		c.Auth.Params.SourceID = name
	}
	c.Etag = etagOf(c)
	c.Version = c.Etag
	if err := h.conns.Create(ctx, c); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"id": c.ID, "etag": c.Etag}, nil
}

// getConnection is Flow Service's GET /connections/{id}: {"items":[…]}
// with the one connection, whose auth.params carry inletId and inletUrl.
func (h *handler) getConnection(ctx context.Context, r *apigw.Request) (int, any, error) {
	id := r.Param("id")
	var c connection
	switch {
	case id == h.inlet:
		c = h.defaultConnection()
	case !validConnectionID(id):
		return 0, nil, fault.Errorf(fault.NotFound, codeConnNotFound, "connection %q does not exist", truncate(id, 64))
	default:
		var err error
		if c, err = h.conns.Get(ctx, id); err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, map[string]any{"items": []connection{h.view(r, c)}}, nil
}

// listConnections is Flow Service's GET /connections: {"items":[…]}, the
// stack's own inlet first, then the created ones, oldest first.
func (h *handler) listConnections(ctx context.Context, r *apigw.Request) (int, any, error) {
	cs, err := h.conns.List(ctx)
	if err != nil {
		return 0, nil, err
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].CreatedAt != cs[j].CreatedAt {
			return cs[i].CreatedAt < cs[j].CreatedAt
		}
		return cs[i].ID < cs[j].ID
	})
	items := []connection{h.view(r, h.defaultConnection())}
	for _, c := range cs {
		items = append(items, h.view(r, c))
	}
	return http.StatusOK, map[string]any{"items": items}, nil
}

// defaultConnection is the stack's own inlet (topology.DefaultInletID),
// which exists without being stored.
func (h *handler) defaultConnection() connection {
	c := connection{
		ID: h.inlet, Name: "Mosaic stack inlet", ProviderID: streamingProvider,
		Description:    "the inlet every stack has (stack output " + topology.OutputInletID + ")",
		ConnectionSpec: connectionSpec{ID: streamingSpecID, Version: "1.0"}, State: "enabled",
		Auth: connAuth{SpecName: streamingAuthSpec, Params: connParams{SourceID: "mosaic", DataType: "xdm", Name: "Mosaic stack inlet"}},
	}
	c.Etag = etagOf(c)
	c.Version = c.Etag
	return c
}

// view fills a connection's inletId and inletUrl for an answer.
func (h *handler) view(r *apigw.Request, c connection) connection {
	c.Auth.Params.InletID = c.ID
	if host := r.Header.Get("Host"); host != "" {
		scheme := r.Header.Get("X-Forwarded-Proto")
		if scheme == "" {
			scheme = "https"
		}
		c.Auth.Params.InletURL = scheme + "://" + host + "/collection/" + c.ID
	}
	return c
}

// etagOf is a connection's etag: a quoted digest of its content, as AEP's
// etags are quoted strings.
func etagOf(c connection) string {
	c.Etag, c.Version = "", ""
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// newConnectionID is a random UUID (version 4, RFC 9562).
func newConnectionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fault.Wrap(err, fault.Internal, "RANDOM", "no random bytes")
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// ddbConnections keeps connections in the catalog table: one partition,
// pk "FLOWCONN", sk the connection id, the connection's JSON in "doc".
// Connections are few (an inlet per source system), so one partition
// serves the listing with one Query.
type ddbConnections struct {
	db    store.DynamoDB
	table string
}

const (
	connPK  = "FLOWCONN"
	connDoc = "doc"
)

func (s *ddbConnections) key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		topology.PartitionKey: &types.AttributeValueMemberS{Value: connPK},
		topology.SortKey:      &types.AttributeValueMemberS{Value: id},
	}
}

func (s *ddbConnections) Create(ctx context.Context, c connection) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fault.Wrap(err, fault.Internal, "ENCODE", "connection could not be encoded")
	}
	item := s.key(c.ID)
	item[connDoc] = &types.AttributeValueMemberS{Value: string(doc)}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression: aws.String("attribute_not_exists(" + topology.PartitionKey + ")"),
	})
	if store.IsConditionFailed(err) {
		return fault.Wrap(err, fault.Conflict, "FLOW-CONNECTION-EXISTS", "a connection with this id exists")
	}
	return storeErr(err)
}

func (s *ddbConnections) Get(ctx context.Context, id string) (connection, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: s.key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return connection{}, storeErr(err)
	}
	if out.Item == nil {
		return connection{}, fault.Errorf(fault.NotFound, codeConnNotFound, "connection %q does not exist", id)
	}
	return decodeConn(out.Item)
}

func (s *ddbConnections) List(ctx context.Context) ([]connection, error) {
	var out []connection
	var start map[string]types.AttributeValue
	for {
		page, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": topology.PartitionKey},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: connPK}},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, storeErr(err)
		}
		for _, it := range page.Items {
			c, err := decodeConn(it)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

func decodeConn(item map[string]types.AttributeValue) (connection, error) {
	doc, ok := item[connDoc].(*types.AttributeValueMemberS)
	var c connection
	if !ok || json.Unmarshal([]byte(doc.Value), &c) != nil {
		return connection{}, fault.E(fault.Internal, "DECODE", "stored connection could not be read")
	}
	return c, nil
}

// storeErr gives a DynamoDB error its kind: the connection store is read
// on every message, so any failure is Unavailable (503, retry).
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	return fault.Wrap(err, fault.Unavailable, "FLOW-STORE-UNAVAILABLE", "the connection store could not be reached")
}
