package upsert

// State is a fragment with the clock of each of its nodes and its
// tombstones. The zero value is not usable; use New, FromRecord or Decode.
type State struct {
	// implementation-defined
}

// New returns the state of a fragment never written.
func New() *State { panic("unimplemented") }

// FromRecord returns the state of a fragment written whole by one create
// at c and nothing since: what a fragment stored without clocks is.
func FromRecord(rec map[string]any, c Clock) *State { panic("unimplemented") }

// Decode reads a state that Encode wrote: its record (nil when the
// fragment does not exist) and its clock document. A document that cannot
// be read is an Internal error with CodeClocks.
func Decode(rec map[string]any, clocks []byte) (*State, error) { panic("unimplemented") }

// Apply applies op and reports whether the state changed (false for an
// update seen before, or one every part of which is older than what it
// would change). A merge holding a null inside identityMap is refused with
// an Invalid error with CodeIdentityRemove, and changes nothing. Apply
// does not check sizes: see Encode.
func (s *State) Apply(op Op) (changed bool, err error) { panic("unimplemented") }

// Exists reports whether the fragment exists: some create or merge is
// newer than every delete of it.
func (s *State) Exists() bool { panic("unimplemented") }

// Record returns the fragment's record as reads return it (a new map the
// caller may change), or nil when it does not exist. Objects whose every
// attribute was removed are kept as {}; readers treat them as absent.
func (s *State) Record() map[string]any { panic("unimplemented") }

// Parts splits Record by clock: one record per distinct clock, holding the
// attributes (and identityMap entries) last written at it, in clock order.
// Laying them over each other in order, objects key by key, gives Record;
// read-time merging uses them so that each attribute competes with other
// datasets' fragments by its own clock. Nil when the fragment does not
// exist.
func (s *State) Parts() []Part { panic("unimplemented") }

// Latest is the newest clock in the state, of a value or of a removal;
// the zero Clock for New().
func (s *State) Latest() Clock { panic("unimplemented") }

// Plain reports whether the state is what FromRecord gives for its
// record and Latest: one create and nothing since. Such a fragment is
// stored without a clock document.
func (s *State) Plain() bool { panic("unimplemented") }

// Encode returns the JSON of Record (nil when the fragment does not
// exist) and the clock document (compact JSON, internal; clocks equal to
// their parent's are left out, so a plain fragment's document is a few
// bytes). A record over MaxRecordBytes is refused with an Invalid error
// with CodeTooLarge.
func (s *State) Encode() (rec []byte, clocks []byte, err error) { panic("unimplemented") }
