package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mosaic-cdp/mosaic/shared/catalog"
	"github.com/mosaic-cdp/mosaic/shared/fault"
	"github.com/mosaic-cdp/mosaic/shared/records"
)

// The batch engine's items, in the catalog table beside the batch (never in
// the batch item itself, which PutBatch rewrites whole):
//
//	part      pk BATCHPART#<batchId>  sk <file:05d>#<part:06d>
//	          doc (JSON: positions, counts by code), refused (B: refused
//	          record numbers, delta uvarints), mark (N: write watermark)
//	progress  pk BATCHRUN#<batchId>   sk RUN
//	          files (N), scanned (NS of file indexes), decided (S),
//	          parts (N: parts to write), fanned (BOOL), written (SS of part
//	          sort keys), src (S: row source prefix)
//
// and one item per row the write refused (see WriteRefusal).
//
// Sets grow by ADD, which is idempotent: a redelivered event that adds the
// same file or part again changes nothing.
const (
	catPKBatchPart = "BATCHPART#"
	catPKBatchRun  = "BATCHRUN#"
	catSKBatchRun  = "RUN"
)

// MaxPartRows bounds BatchPart.Rows so that a part item stays under
// DynamoDB's 400 KB item limit whatever its refusals: at most 5 bytes of
// refused numbers per row (uvarint of a delta ≤ 2^28), 250 KB at 50,000
// rows, plus the bounded error and warning summaries.
const MaxPartRows = 50_000

// BatchPart is what the scan of one part of one file of a batch found: a
// run of Rows records starting at Start, the numbers of the records it
// refused (ascending), its refusals and warnings counted by code, and
// where its row diagnostics are. Mark is the write phase's watermark: the
// lowest record number not yet written (0 before the write began).
type BatchPart struct {
	File  int              `json:"file"`
	Part  int              `json:"part"`
	Start records.Position `json:"start"`
	// End is where the next part starts (records.Reader.Position after
	// this part's last record).
	End      records.Position     `json:"end"`
	Rows     int                  `json:"rows"`
	Refused  []int                `json:"-"`
	Errors   []catalog.BatchError `json:"errors,omitempty"`
	Warnings []catalog.BatchError `json:"warnings,omitempty"`
	// Last is true on the file's last part (it may hold no rows).
	Last bool `json:"last,omitempty"`
	// Diagnostics is the S3 key of the part's row diagnostics, empty when
	// nothing was refused.
	Diagnostics string `json:"diagnostics,omitempty"`
	Mark        int    `json:"-"`
}

// PartKey is the sort key of a part: "<file:05d>#<part:06d>".
func PartKey(file, part int) string { return fmt.Sprintf("%05d#%06d", file, part) }

// BatchRun is the progress of a batch's processing.
type BatchRun struct {
	// Files is how many files the batch has.
	Files int
	// Scanned are the indexes of the files whose scan finished.
	Scanned []int
	// Decided is the decision once taken ("write" or "failed"), else empty.
	Decided string
	// Parts is how many parts hold rows to write (set with Decided).
	Parts int
	// Fanned is true once the write tasks were issued.
	Fanned bool
	// Written are the PartKeys of the parts written.
	Written []string
	// Src is the source prefix of the batch's rows (merge tie-break).
	Src string
}

// ScanDone reports whether every file was scanned.
func (r BatchRun) ScanDone() bool { return r.Files > 0 && len(r.Scanned) >= r.Files }

// WriteDone reports whether every part to write was written.
func (r BatchRun) WriteDone() bool { return r.Decided != "" && len(r.Written) >= r.Parts }

// HasWritten reports whether the part was written.
func (r BatchRun) HasWritten(file, part int) bool {
	k := PartKey(file, part)
	for _, w := range r.Written {
		if w == k {
			return true
		}
	}
	return false
}

// encodeRefused packs ascending record numbers after start as uvarint
// deltas.
func encodeRefused(start int, nums []int) ([]byte, error) {
	buf := make([]byte, 0, len(nums)*2)
	prev := start
	for _, n := range nums {
		if n <= prev {
			return nil, fault.Errorf(fault.Invalid, "BATCH-PART-REFUSED", "refused record numbers must ascend after %d; got %d after %d", start, n, prev)
		}
		buf = binary.AppendUvarint(buf, uint64(n-prev))
		prev = n
	}
	return buf, nil
}

func decodeRefused(start int, b []byte) ([]int, error) {
	var out []int
	prev := start
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fault.E(fault.Internal, "STORE-DECODE", "refused record numbers are corrupt")
		}
		prev += int(d)
		out = append(out, prev)
		b = b[n:]
	}
	return out, nil
}

// PutBatchPart stores p unless the part exists; it reports whether it was
// created. A retried scan that finds its part stored goes on after it.
// A part over MaxPartRows, or with refusals out of order, is refused
// (Invalid).
func (c *Catalog) PutBatchPart(ctx context.Context, batchID string, p BatchPart) (bool, error) {
	if p.Rows > MaxPartRows || p.Rows < 0 {
		return false, fault.Errorf(fault.Invalid, "BATCH-PART-ROWS", "a part holds %d rows; at most %d", p.Rows, MaxPartRows)
	}
	p.Errors, p.Warnings = boundErrors(p.Errors), boundErrors(p.Warnings)
	refused, err := encodeRefused(p.Start.Number, p.Refused)
	if err != nil {
		return false, err
	}
	item, err := catItem(catPKBatchPart+batchID, PartKey(p.File, p.Part), p, nil)
	if err != nil {
		return false, err
	}
	item["refused"] = &types.AttributeValueMemberB{Value: refused}
	return c.catCreate(ctx, item, "create batch part")
}

func decodePart(item map[string]types.AttributeValue) (BatchPart, error) {
	var p BatchPart
	if err := catDecode(item, &p); err != nil {
		return p, err
	}
	if b, ok := item["refused"].(*types.AttributeValueMemberB); ok {
		r, err := decodeRefused(p.Start.Number, b.Value)
		if err != nil {
			return p, err
		}
		p.Refused = r
	}
	if n, ok := item["mark"].(*types.AttributeValueMemberN); ok {
		p.Mark, _ = strconv.Atoi(n.Value)
	}
	return p, nil
}

// GetBatchPart reads one part (NotFound BATCH-PART-NOT-FOUND).
func (c *Catalog) GetBatchPart(ctx context.Context, batchID string, file, part int) (BatchPart, error) {
	item, err := c.catGet(ctx, catPKBatchPart+batchID, PartKey(file, part), "read batch part")
	if err != nil {
		return BatchPart{}, err
	}
	if item == nil {
		return BatchPart{}, fault.Errorf(fault.NotFound, "BATCH-PART-NOT-FOUND", "batch %q has no part %s", batchID, PartKey(file, part))
	}
	return decodePart(item)
}

// ListBatchParts lists the parts of one file (file ≥ 0) or of every file
// (file < 0), in file and part order, all pages.
func (c *Catalog) ListBatchParts(ctx context.Context, batchID string, file int) ([]BatchPart, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(c.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: catPKBatchPart + batchID}},
		ConsistentRead:            aws.Bool(true),
	}
	if file >= 0 {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :f)")
		in.ExpressionAttributeValues[":f"] = &types.AttributeValueMemberS{Value: fmt.Sprintf("%05d#", file)}
	}
	var out []BatchPart
	err := queryPages(ctx, c.db, in, "list batch parts", func(page []map[string]types.AttributeValue) (bool, error) {
		for _, it := range page {
			p, err := decodePart(it)
			if err != nil {
				return false, err
			}
			out = append(out, p)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		return out[i].Part < out[j].Part
	})
	return out, nil
}

// SetBatchPartMark raises the part's write watermark to mark; a lower or
// equal mark changes nothing (a late checkpoint never goes back). The part
// must exist (NotFound BATCH-PART-NOT-FOUND).
func (c *Catalog) SetBatchPartMark(ctx context.Context, batchID string, file, part, mark int) error {
	_, err := c.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(c.table),
		Key:                      catKey(catPKBatchPart+batchID, PartKey(file, part)),
		UpdateExpression:         aws.String("SET #m = :m"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND (attribute_not_exists(#m) OR #m < :m)"),
		ExpressionAttributeNames: map[string]string{"#m": "mark"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":m": &types.AttributeValueMemberN{Value: strconv.Itoa(mark)},
		},
	})
	if IsConditionFailed(err) {
		if _, gerr := c.GetBatchPart(ctx, batchID, file, part); gerr != nil {
			return gerr
		}
		return nil
	}
	return translate(err, "checkpoint batch part")
}

// StartBatchRun creates the batch's progress item unless it exists: files
// is the number of files, src the source prefix of its rows. A repeated
// start keeps the first item.
func (c *Catalog) StartBatchRun(ctx context.Context, batchID string, files int, src string) error {
	item := catKey(catPKBatchRun+batchID, catSKBatchRun)
	item["files"] = &types.AttributeValueMemberN{Value: strconv.Itoa(files)}
	item["src"] = &types.AttributeValueMemberS{Value: src}
	_, err := c.catCreate(ctx, item, "start batch run")
	return err
}

func decodeRun(item map[string]types.AttributeValue) BatchRun {
	var r BatchRun
	num := func(name string) int {
		if n, ok := item[name].(*types.AttributeValueMemberN); ok {
			v, _ := strconv.Atoi(n.Value)
			return v
		}
		return 0
	}
	r.Files, r.Parts = num("files"), num("parts")
	r.Decided, r.Src = catAttr(item, "decided"), catAttr(item, "src")
	if b, ok := item["fanned"].(*types.AttributeValueMemberBOOL); ok {
		r.Fanned = b.Value
	}
	if ns, ok := item["scanned"].(*types.AttributeValueMemberNS); ok {
		for _, s := range ns.Value {
			v, _ := strconv.Atoi(s)
			r.Scanned = append(r.Scanned, v)
		}
		sort.Ints(r.Scanned)
	}
	if ss, ok := item["written"].(*types.AttributeValueMemberSS); ok {
		r.Written = append(r.Written, ss.Value...)
		sort.Strings(r.Written)
	}
	return r
}

// GetBatchRun reads the batch's progress (NotFound BATCH-RUN-NOT-FOUND
// before StartBatchRun).
func (c *Catalog) GetBatchRun(ctx context.Context, batchID string) (BatchRun, error) {
	item, err := c.catGet(ctx, catPKBatchRun+batchID, catSKBatchRun, "read batch run")
	if err != nil {
		return BatchRun{}, err
	}
	if item == nil {
		return BatchRun{}, fault.Errorf(fault.NotFound, "BATCH-RUN-NOT-FOUND", "batch %q has not started", batchID)
	}
	return decodeRun(item), nil
}

// runUpdate applies expr to the progress item, which must exist, and
// returns the item after it (ReturnValues ALL_NEW). A condition that
// does not hold returns ok=false and the stored item.
func (c *Catalog) runUpdate(ctx context.Context, batchID, expr, cond string, values map[string]types.AttributeValue, what string) (BatchRun, bool, error) {
	if cond == "" {
		cond = "attribute_exists(pk)"
	} else {
		cond = "attribute_exists(pk) AND " + cond
	}
	out, err := c.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(c.table),
		Key:                       catKey(catPKBatchRun+batchID, catSKBatchRun),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  runNames(expr + " " + cond),
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if IsConditionFailed(err) {
		r, gerr := c.GetBatchRun(ctx, batchID)
		return r, false, gerr
	}
	if err != nil {
		return BatchRun{}, false, translate(err, what)
	}
	return decodeRun(out.Attributes), true, nil
}

// runNames maps the #names expr uses to the progress item's attributes
// (some are DynamoDB reserved words).
func runNames(expr string) map[string]string {
	names := map[string]string{}
	for _, n := range []string{"scanned", "decided", "parts", "fanned", "written"} {
		if strings.Contains(expr, "#"+n) {
			names["#"+n] = n
		}
	}
	if len(names) == 0 {
		return nil
	}
	return names
}

// AddScannedFile adds file to the scanned set and returns the progress
// after it; adding it again changes nothing. NotFound BATCH-RUN-NOT-FOUND
// before StartBatchRun.
func (c *Catalog) AddScannedFile(ctx context.Context, batchID string, file int) (BatchRun, error) {
	r, _, err := c.runUpdate(ctx, batchID, "ADD #scanned :f", "",
		map[string]types.AttributeValue{":f": &types.AttributeValueMemberNS{Value: []string{strconv.Itoa(file)}}}, "add scanned file")
	return r, err
}

// ClaimBatchDecision records the batch's decision and its number of parts
// to write, once: the first caller wins (won=true); any later caller gets
// won=false and the progress holding the first decision.
func (c *Catalog) ClaimBatchDecision(ctx context.Context, batchID, decision string, parts int) (BatchRun, bool, error) {
	return c.runUpdate(ctx, batchID, "SET #decided = :d, #parts = :n", "attribute_not_exists(#decided)",
		map[string]types.AttributeValue{
			":d": &types.AttributeValueMemberS{Value: decision},
			":n": &types.AttributeValueMemberN{Value: strconv.Itoa(parts)},
		}, "claim batch decision")
}

// SetBatchFanned records that the write tasks were issued.
func (c *Catalog) SetBatchFanned(ctx context.Context, batchID string) error {
	_, _, err := c.runUpdate(ctx, batchID, "SET #fanned = :t", "",
		map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}}, "mark batch fanned out")
	return err
}

// AddWrittenPart adds the part to the written set and returns the
// progress after it; adding it again changes nothing.
func (c *Catalog) AddWrittenPart(ctx context.Context, batchID string, file, part int) (BatchRun, error) {
	r, _, err := c.runUpdate(ctx, batchID, "ADD #written :p", "",
		map[string]types.AttributeValue{":p": &types.AttributeValueMemberSS{Value: []string{PartKey(file, part)}}}, "add written part")
	return r, err
}
