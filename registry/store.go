package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for Options.
const (
	// DefaultDB is the database the registry uses unless told otherwise.
	// Applications behind luaproxy must not use it.
	DefaultDB = 15
	// DefaultKeyPrefix starts every registry key and the registry channel.
	DefaultKeyPrefix = "__luaproxy:"
	// DefaultCheckInterval is how often a Store compares its version with
	// the shared one when nothing else made it look.
	DefaultCheckInterval = time.Second
	// DefaultMaxAttempts bounds the optimistic retries of one change.
	DefaultMaxAttempts = 32
)

// restoreJump is added to a Store's version when it rewrites a wiped or
// rolled-back registry, so that every other instance, even one that was
// ahead of the restoring one, sees a newer version and reloads.
const restoreJump = 1 << 20

// hsetBatch bounds the field-value pairs of one HSET when writing a whole set.
const hsetBatch = 512

// Errors returned by Store methods. Library errors come wrapped in a
// *LibraryError naming the library; test them with errors.Is.
var (
	ErrLibraryExists   = errors.New("library already exists")
	ErrLibraryNotFound = errors.New("library not found")
	// ErrConflict means a change lost the optimistic race more times than
	// Options.MaxAttempts allows.
	ErrConflict = errors.New("registry: too many concurrent changes, giving up")
	ErrClosed   = errors.New("registry: store closed")
)

// A LibraryError is ErrLibraryExists or ErrLibraryNotFound about one library.
type LibraryError struct {
	Name string
	Err  error
}

func (e *LibraryError) Error() string { return e.Err.Error() + ": " + e.Name }
func (e *LibraryError) Unwrap() error { return e.Err }

// Options configure a Store's connection to the upstream Redis. The user
// needs SELECT, GET, SET, INCR, DEL, HGET, HGETALL, HSET, HDEL, WATCH,
// MULTI, EXEC, PUBLISH, SUBSCRIBE, PING and CLIENT SETNAME on the registry's
// keys and channel; no scripting command.
type Options struct {
	Addr      string
	Username  string
	Password  string
	TLSConfig *tls.Config
	// DB is the database holding the registry; use DefaultDB unless the
	// server only has database 0 (see the package documentation).
	DB int
	// KeyPrefix starts the registry's keys and channel; "" means
	// DefaultKeyPrefix.
	KeyPrefix string
	// CheckInterval is the period of the background version check: 0 means
	// DefaultCheckInterval, a negative value disables the check.
	CheckInterval time.Duration
	// MaxAttempts bounds the optimistic retries of one change; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
	// DialTimeout, ReadTimeout and WriteTimeout are passed to go-redis;
	// zero values keep its defaults.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// OnError receives errors of background work (notifications, periodic
	// checks, restores); nil drops them. It must not block.
	OnError func(error)
}

// Library is one function library: its name and its whole code, metadata
// line included.
type Library struct {
	Name string
	Code string
}

// A Snapshot is an immutable view of the registry's libraries at one
// version. Reading it takes no lock and touches no network.
type Snapshot struct {
	version int64
	libsGen uint64 // changes whenever libs does
	libs    map[string]string
}

// Version is the registry version this snapshot reflects; 0 before the
// first change ever made to the shared store.
func (s *Snapshot) Version() int64 { return s.version }

// Library returns the code of the named library.
func (s *Snapshot) Library(name string) (code string, ok bool) {
	code, ok = s.libs[name]
	return code, ok
}

// Len returns the number of libraries.
func (s *Snapshot) Len() int { return len(s.libs) }

// Libraries returns every library sorted by name, in a new slice.
func (s *Snapshot) Libraries() []Library {
	libs := make([]Library, 0, len(s.libs))
	for name, code := range s.libs {
		libs = append(libs, Library{Name: name, Code: code})
	}
	slices.SortFunc(libs, func(a, b Library) int { return strings.Compare(a.Name, b.Name) })
	return libs
}

// Change is a set of edits applied atomically and in this order: flushes,
// deletions, then insertions (which replace existing entries).
type Change struct {
	FlushLibraries  bool
	DeleteLibraries []string
	Libraries       map[string]string // name -> code
	FlushScripts    bool
	Scripts         map[string][]byte // sha -> body
}

func (c *Change) empty() bool {
	return !c.FlushLibraries && len(c.DeleteLibraries) == 0 && len(c.Libraries) == 0 &&
		!c.FlushScripts && len(c.Scripts) == 0
}

func (c *Change) touchesLibraries() bool {
	return c.FlushLibraries || len(c.DeleteLibraries) > 0 || len(c.Libraries) > 0
}

// RestorePolicy is FUNCTION RESTORE's policy.
type RestorePolicy int

const (
	RestoreAppend  RestorePolicy = iota // fail if a library exists
	RestoreReplace                      // replace existing libraries
	RestoreFlush                        // delete every library first
)

// Store is the registry: a local copy of every library and loaded script,
// kept equal to the shared copy in the upstream Redis. It is safe for
// concurrent use.
type Store struct {
	opt  Options
	rdb  *redis.Client
	keys keyNames

	// wmu serialises everything that talks to the shared store and changes
	// the local copy, so that the copy always equals the store at its
	// version.
	wmu     sync.Mutex
	snap    atomic.Pointer[Snapshot]
	smu     sync.RWMutex
	scripts map[string][]byte // guarded by smu; written under wmu too

	cbmu   sync.Mutex
	cbs    map[int]func(*Snapshot)
	nextCB int
	notify chan struct{}

	pubsub  *redis.PubSub
	events  chan notice
	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	closed  atomic.Bool
	wg      sync.WaitGroup
	closeMu sync.Mutex
}

type keyNames struct {
	libs, scripts, version, channel string
}

// notice is a registry notification, or a resubscription (version -1).
type notice struct {
	version int64
	kind    byte   // 'L' libraries only, 'S' one script added, 'F' anything
	sha     string // for 'S'
}

// Open connects to the upstream Redis, loads the shared registry (restoring
// nothing: a missing registry is an empty one), subscribes to its channel
// and starts the background check. Close releases everything.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.KeyPrefix == "" {
		opt.KeyPrefix = DefaultKeyPrefix
	}
	if opt.CheckInterval == 0 {
		opt.CheckInterval = DefaultCheckInterval
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	s := &Store{
		opt: opt,
		rdb: redis.NewClient(&redis.Options{
			Addr:            opt.Addr,
			Username:        opt.Username,
			Password:        opt.Password,
			TLSConfig:       opt.TLSConfig,
			DB:              opt.DB,
			Protocol:        2,
			DisableIdentity: true,
			ClientName:      "luaproxy-registry",
			DialTimeout:     opt.DialTimeout,
			ReadTimeout:     opt.ReadTimeout,
			WriteTimeout:    opt.WriteTimeout,
		}),
		keys: keyNames{
			libs:    opt.KeyPrefix + "libs",
			scripts: opt.KeyPrefix + "scripts",
			version: opt.KeyPrefix + "version",
			channel: opt.KeyPrefix + "registry",
		},
		scripts: map[string][]byte{},
		cbs:     map[int]func(*Snapshot){},
		notify:  make(chan struct{}, 1),
		events:  make(chan notice, 64),
	}
	s.snap.Store(&Snapshot{libs: map[string]string{}})
	s.ctx, s.cancel = context.WithCancel(context.Background())

	s.wmu.Lock()
	err := s.reloadLocked(ctx)
	s.wmu.Unlock()
	if err != nil {
		s.cancel()
		s.rdb.Close()
		return nil, err
	}
	s.pubsub = s.rdb.Subscribe(ctx, s.keys.channel)
	s.wg.Add(3)
	go s.receive()
	go s.watch()
	go s.deliver(s.snap.Load().libsGen)
	return s, nil
}

// Close stops the background work and closes the connections. Snapshots
// stay readable.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	_ = s.pubsub.Close()
	s.wg.Wait()
	return s.rdb.Close()
}

// Snapshot returns the current libraries. It never blocks.
func (s *Store) Snapshot() *Snapshot { return s.snap.Load() }

// OnChange registers fn to be called with the new snapshot whenever the set
// of libraries changes, whether through this Store or another instance.
// Calls come from one goroutine, one at a time, in version order; when
// changes come faster than fn returns, intermediate snapshots are skipped.
// To start from the current state, register first and then read Snapshot;
// fn may then also receive a snapshot installed just before it was
// registered, which is harmless for a recompiling callback. fn must not
// block for long: it delays later notifications. The returned function
// unregisters fn.
func (s *Store) OnChange(fn func(*Snapshot)) (cancel func()) {
	s.cbmu.Lock()
	id := s.nextCB
	s.nextCB++
	s.cbs[id] = fn
	s.cbmu.Unlock()
	return func() {
		s.cbmu.Lock()
		delete(s.cbs, id)
		s.cbmu.Unlock()
	}
}

// Script returns the body of a loaded script. On a local miss it first
// checks the shared version (one GET) and catches up if this Store is
// behind, so a script loaded through another instance is found even when
// its notification was lost.
func (s *Store) Script(ctx context.Context, sha string) (body []byte, ok bool, err error) {
	if body, ok := s.localScript(sha); ok {
		return body, true, nil
	}
	if err := s.Refresh(ctx); err != nil {
		return nil, false, err
	}
	body, ok = s.localScript(sha)
	return body, ok, nil
}

// HasScript reports whether the local copy holds sha; it never touches the
// network (see Script for the fresh answer).
func (s *Store) HasScript(sha string) bool {
	_, ok := s.localScript(sha)
	return ok
}

func (s *Store) localScript(sha string) ([]byte, bool) {
	s.smu.RLock()
	body, ok := s.scripts[sha]
	s.smu.RUnlock()
	return body, ok
}

// PutScript stores a script body under its SHA1 (SCRIPT LOAD). It costs
// nothing when the local copy already has it. The caller computes sha.
func (s *Store) PutScript(ctx context.Context, sha string, body []byte) error {
	if s.HasScript(sha) {
		return nil
	}
	_, err := s.Update(ctx, func(*Snapshot) (Change, error) {
		if s.HasScript(sha) {
			return Change{}, nil
		}
		return Change{Scripts: map[string][]byte{sha: body}}, nil
	})
	return err
}

// FlushScripts deletes every loaded script (SCRIPT FLUSH), for every
// instance.
func (s *Store) FlushScripts(ctx context.Context) error {
	_, err := s.Update(ctx, func(*Snapshot) (Change, error) {
		return Change{FlushScripts: true}, nil
	})
	return err
}

// LoadLibrary stores a library (FUNCTION LOAD [REPLACE]). Without replace
// it fails with ErrLibraryExists if the name is taken.
func (s *Store) LoadLibrary(ctx context.Context, name, code string, replace bool) (*Snapshot, error) {
	return s.Update(ctx, func(cur *Snapshot) (Change, error) {
		old, exists := cur.Library(name)
		if exists && !replace {
			return Change{}, &LibraryError{Name: name, Err: ErrLibraryExists}
		}
		if exists && old == code {
			return Change{}, nil
		}
		return Change{Libraries: map[string]string{name: code}}, nil
	})
}

// DeleteLibrary removes a library (FUNCTION DELETE), failing with
// ErrLibraryNotFound if there is none of that name.
func (s *Store) DeleteLibrary(ctx context.Context, name string) (*Snapshot, error) {
	return s.Update(ctx, func(cur *Snapshot) (Change, error) {
		if _, ok := cur.Library(name); !ok {
			return Change{}, &LibraryError{Name: name, Err: ErrLibraryNotFound}
		}
		return Change{DeleteLibraries: []string{name}}, nil
	})
}

// FlushLibraries removes every library (FUNCTION FLUSH).
func (s *Store) FlushLibraries(ctx context.Context) (*Snapshot, error) {
	return s.Update(ctx, func(cur *Snapshot) (Change, error) {
		if cur.Len() == 0 {
			return Change{}, nil
		}
		return Change{FlushLibraries: true}, nil
	})
}

// RestoreLibraries adds libs as FUNCTION RESTORE does with the given policy.
// With RestoreAppend it fails with ErrLibraryExists, naming the first of
// libs that exists, and changes nothing.
func (s *Store) RestoreLibraries(ctx context.Context, libs []Library, policy RestorePolicy) (*Snapshot, error) {
	return s.Update(ctx, func(cur *Snapshot) (Change, error) {
		c := Change{Libraries: make(map[string]string, len(libs)), FlushLibraries: policy == RestoreFlush}
		for _, lib := range libs {
			if _, exists := cur.Library(lib.Name); exists && policy == RestoreAppend {
				return Change{}, &LibraryError{Name: lib.Name, Err: ErrLibraryExists}
			}
			c.Libraries[lib.Name] = lib.Code
		}
		return c, nil
	})
}

// Update applies the change fn computes from the current libraries,
// atomically, and returns the resulting snapshot. fn runs while the Store is
// known to equal the shared registry and may run again if another instance
// changed the registry meanwhile, so it must only compute; an error from fn
// is returned as is and nothing is written. An empty Change writes nothing.
//
// The write is a MULTI/EXEC guarded by WATCH on the version key: no Lua
// runs on the upstream.
func (s *Store) Update(ctx context.Context, fn func(cur *Snapshot) (Change, error)) (*Snapshot, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for attempt := 0; attempt < s.opt.MaxAttempts; attempt++ {
		snap, err := s.tryUpdateLocked(ctx, fn)
		switch {
		case err == nil:
			return snap, nil
		case errors.Is(err, errStale) || errors.Is(err, redis.TxFailedErr):
			if err := s.syncLocked(ctx, notice{}); err != nil {
				return nil, err
			}
			if attempt >= 1 {
				// Several instances writing at once can keep beating one
				// another: back off a random while that doubles, up to
				// 50ms, so that a loser eventually gets a quiet moment.
				limit := min(100*time.Microsecond<<attempt, 50*time.Millisecond)
				if err := sleepCtx(ctx, time.Duration(rand.Int64N(int64(limit)))); err != nil {
					return nil, err
				}
			}
		default:
			return nil, err
		}
	}
	return nil, ErrConflict
}

// errStale means the shared version differs from the local one.
var errStale = errors.New("registry: local copy is stale")

// userError carries fn's error out of the WATCH callback untouched.
type userError struct{ err error }

func (e userError) Error() string { return e.err.Error() }

func (s *Store) tryUpdateLocked(ctx context.Context, fn func(*Snapshot) (Change, error)) (*Snapshot, error) {
	var result *Snapshot
	err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		shared, exists, err := getVersion(ctx, tx, s.keys.version)
		if err != nil {
			return err
		}
		cur := s.snap.Load()
		if exists != (cur.version > 0) || shared != cur.version {
			return errStale
		}
		change, err := fn(cur)
		if err != nil {
			return userError{err}
		}
		if change.empty() {
			result = cur
			return nil
		}
		next := cur.version + 1
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if !exists {
				// Leftovers without a version are not ours.
				p.Del(ctx, s.keys.libs, s.keys.scripts)
			}
			s.queueChange(ctx, p, &change)
			p.Incr(ctx, s.keys.version)
			p.Publish(ctx, s.keys.channel, changeNotice(next, &change))
			return nil
		})
		if err != nil {
			return err
		}
		result = s.applyLocked(cur, next, &change)
		return nil
	}, s.keys.version)
	var ue userError
	switch {
	case errors.As(err, &ue):
		return nil, ue.err
	case err != nil && !errors.Is(err, errStale) && !errors.Is(err, redis.TxFailedErr):
		return nil, fmt.Errorf("registry: write to %s: %w", s.opt.Addr, err)
	}
	return result, err
}

func (s *Store) queueChange(ctx context.Context, p redis.Pipeliner, c *Change) {
	if c.FlushLibraries {
		p.Del(ctx, s.keys.libs)
	}
	if len(c.DeleteLibraries) > 0 {
		p.HDel(ctx, s.keys.libs, c.DeleteLibraries...)
	}
	queueHSet(ctx, p, s.keys.libs, c.Libraries)
	if c.FlushScripts {
		p.Del(ctx, s.keys.scripts)
	}
	queueHSet(ctx, p, s.keys.scripts, c.Scripts)
}

// queueHSet writes m into a hash in batches of hsetBatch fields.
func queueHSet[V string | []byte](ctx context.Context, p redis.Pipeliner, key string, m map[string]V) {
	args := make([]any, 0, 2*min(len(m), hsetBatch))
	for k, v := range m {
		args = append(args, k, v)
		if len(args) == 2*hsetBatch {
			p.HSet(ctx, key, args...)
			args = args[:0]
		}
	}
	if len(args) > 0 {
		p.HSet(ctx, key, args...)
	}
}

// changeNotice is the message published with a change: the new version, then
// 'S' and the SHA1 when the change only adds one script, 'L' when it only
// touches libraries, 'F' otherwise.
func changeNotice(version int64, c *Change) string {
	v := strconv.FormatInt(version, 10)
	switch {
	case !c.touchesLibraries() && !c.FlushScripts && len(c.Scripts) == 1:
		for sha := range c.Scripts {
			return v + " S " + sha
		}
	case !c.FlushScripts && len(c.Scripts) == 0:
		return v + " L"
	}
	return v + " F"
}

func parseNotice(msg string) (notice, bool) {
	f := strings.Fields(msg)
	if len(f) < 2 {
		return notice{}, false
	}
	v, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || v <= 0 {
		return notice{}, false
	}
	n := notice{version: v, kind: 'F'}
	switch {
	case f[1] == "S" && len(f) == 3:
		n.kind, n.sha = 'S', f[2]
	case f[1] == "L":
		n.kind = 'L'
	}
	return n, true
}

// applyLocked installs cur with c applied as version next.
func (s *Store) applyLocked(cur *Snapshot, next int64, c *Change) *Snapshot {
	snap := &Snapshot{version: next, libsGen: cur.libsGen, libs: cur.libs}
	if c.touchesLibraries() {
		libs := map[string]string{}
		if !c.FlushLibraries {
			libs = maps.Clone(cur.libs)
			for _, name := range c.DeleteLibraries {
				delete(libs, name)
			}
		}
		maps.Copy(libs, c.Libraries)
		snap.libs = libs
		snap.libsGen++
	}
	s.smu.Lock()
	if c.FlushScripts {
		s.scripts = map[string][]byte{}
	}
	for sha, body := range c.Scripts {
		s.scripts[sha] = body
	}
	s.smu.Unlock()
	s.install(snap)
	return snap
}

// install publishes snap and wakes the callback goroutine if the libraries
// changed.
func (s *Store) install(snap *Snapshot) {
	old := s.snap.Swap(snap)
	if old.libsGen != snap.libsGen {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// Refresh compares the local version with the shared one (one GET) and
// catches up: it reloads when the shared registry is newer, and rewrites it
// from memory when it is missing or older (after FLUSHALL, FLUSHDB or a
// failover that lost writes). Call it before answering from the local copy
// when freshness matters, for example before replying that a function does
// not exist.
func (s *Store) Refresh(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.syncLocked(ctx, notice{})
}

// Restore rewrites the shared registry from memory if it was wiped. The
// proxy calls it right after forwarding FLUSHALL, or FLUSHDB on the
// registry's database, to close the window until the next periodic check.
// It is Refresh under the name that says why it is called.
func (s *Store) Restore(ctx context.Context) error { return s.Refresh(ctx) }

// syncLocked makes the local copy equal the shared registry, or the shared
// registry equal the local copy when it lost data. n, when set, is the
// notification that prompted the sync; it allows an incremental fetch.
func (s *Store) syncLocked(ctx context.Context, n notice) error {
	cur := s.snap.Load()
	if n.version != 0 && n.version == cur.version+1 && n.kind != 'F' {
		done, err := s.fetchIncrementLocked(ctx, cur, n)
		if done || err != nil {
			return err
		}
	}
	shared, exists, err := getVersion(ctx, s.rdb, s.keys.version)
	if err != nil {
		return fmt.Errorf("registry: read version from %s: %w", s.opt.Addr, err)
	}
	switch {
	case !exists && cur.version == 0, exists && shared == cur.version:
		return nil
	case !exists, shared < cur.version:
		return s.restoreLocked(ctx)
	default:
		return s.reloadLocked(ctx)
	}
}

// fetchIncrementLocked applies the one change n announces by reading only
// what it touched. It reports false when the shared version moved on, and
// the caller falls back to a full comparison.
func (s *Store) fetchIncrementLocked(ctx context.Context, cur *Snapshot, n notice) (bool, error) {
	var ver *redis.StringCmd
	var script *redis.StringCmd
	var libs *redis.MapStringStringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ver = p.Get(ctx, s.keys.version)
		if n.kind == 'S' {
			script = p.HGet(ctx, s.keys.scripts, n.sha)
		} else {
			libs = p.HGetAll(ctx, s.keys.libs)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("registry: read change %d from %s: %w", n.version, s.opt.Addr, err)
	}
	if v, err := ver.Int64(); err != nil || v != n.version {
		return false, nil
	}
	if n.kind == 'S' {
		body, err := script.Bytes()
		if err != nil {
			return false, nil
		}
		s.applyLocked(cur, n.version, &Change{Scripts: map[string][]byte{n.sha: body}})
		return true, nil
	}
	s.install(&Snapshot{version: n.version, libsGen: cur.libsGen + 1, libs: libs.Val()})
	return true, nil
}

// reloadLocked reads the whole shared registry in one transaction and
// installs it, or restores it if it turns out missing or older.
func (s *Store) reloadLocked(ctx context.Context) error {
	var ver *redis.StringCmd
	var libs, scripts *redis.MapStringStringCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ver = p.Get(ctx, s.keys.version)
		libs = p.HGetAll(ctx, s.keys.libs)
		scripts = p.HGetAll(ctx, s.keys.scripts)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("registry: load from %s: %w", s.opt.Addr, err)
	}
	cur := s.snap.Load()
	shared, err := ver.Int64()
	exists := err == nil
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("registry: bad version key %s: %w", s.keys.version, err)
	}
	switch {
	case !exists && cur.version == 0, exists && shared == cur.version:
		return nil
	case !exists, shared < cur.version:
		return s.restoreLocked(ctx)
	}
	m := make(map[string][]byte, len(scripts.Val()))
	for sha, body := range scripts.Val() {
		m[sha] = []byte(body)
	}
	s.smu.Lock()
	s.scripts = m
	s.smu.Unlock()
	next := &Snapshot{version: shared, libsGen: cur.libsGen, libs: libs.Val()}
	if !maps.Equal(next.libs, cur.libs) {
		next.libsGen++
	} else {
		next.libs = cur.libs
	}
	s.install(next)
	return nil
}

// restoreLocked rewrites the shared registry from the local copy, unless
// another instance restored or changed it first, in which case it reloads.
func (s *Store) restoreLocked(ctx context.Context) error {
	for attempt := 0; attempt < s.opt.MaxAttempts; attempt++ {
		cur := s.snap.Load()
		next := cur.version + restoreJump
		reload := false
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			shared, exists, err := getVersion(ctx, tx, s.keys.version)
			if err != nil {
				return err
			}
			if exists && shared >= cur.version {
				reload = true
				return nil
			}
			s.smu.RLock()
			scripts := maps.Clone(s.scripts)
			s.smu.RUnlock()
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, s.keys.libs, s.keys.scripts)
				queueHSet(ctx, p, s.keys.libs, cur.libs)
				queueHSet(ctx, p, s.keys.scripts, scripts)
				p.Set(ctx, s.keys.version, next, 0)
				p.Publish(ctx, s.keys.channel, strconv.FormatInt(next, 10)+" F")
				return nil
			})
			return err
		}, s.keys.version)
		switch {
		case errors.Is(err, redis.TxFailedErr):
			continue
		case err != nil:
			return fmt.Errorf("registry: restore to %s: %w", s.opt.Addr, err)
		case reload:
			return s.reloadLocked(ctx)
		}
		s.install(&Snapshot{version: next, libsGen: cur.libsGen, libs: cur.libs})
		return nil
	}
	return ErrConflict
}

// getVersion reads the version key; exists is false when it is missing.
func getVersion(ctx context.Context, c redis.Cmdable, key string) (v int64, exists bool, err error) {
	v, err = c.Get(ctx, key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return v, true, nil
}

// receive turns pub/sub traffic into notices. A (re)subscription confirmation
// becomes a notice too: messages may have been lost while disconnected.
func (s *Store) receive() {
	defer s.wg.Done()
	backoff := 10 * time.Millisecond
	for {
		msg, err := s.pubsub.Receive(s.ctx)
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			s.report(fmt.Errorf("registry: subscription to %s: %w", s.keys.channel, err))
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		var n notice
		switch m := msg.(type) {
		case *redis.Subscription:
			n = notice{version: -1}
		case *redis.Message:
			var ok bool
			if n, ok = parseNotice(m.Payload); !ok {
				continue
			}
		default:
			continue
		}
		select {
		case s.events <- n:
		case <-s.ctx.Done():
			return
		}
	}
}

// watch handles notices and runs the periodic check.
func (s *Store) watch() {
	defer s.wg.Done()
	var tick <-chan time.Time
	if s.opt.CheckInterval > 0 {
		t := time.NewTicker(s.opt.CheckInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var n notice
		select {
		case <-s.ctx.Done():
			return
		case n = <-s.events:
			if n.version > 0 && n.version <= s.snap.Load().version {
				continue
			}
			if n.version < 0 {
				n = notice{}
			}
		case <-tick:
		}
		s.wmu.Lock()
		err := s.syncLocked(s.ctx, n)
		s.wmu.Unlock()
		if err != nil && s.ctx.Err() == nil {
			s.report(err)
		}
	}
}

// deliver calls the OnChange callbacks.
func (s *Store) deliver(gen uint64) {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.notify:
		}
		snap := s.snap.Load()
		if snap.libsGen == gen {
			continue
		}
		gen = snap.libsGen
		s.cbmu.Lock()
		fns := slices.Collect(maps.Values(s.cbs))
		s.cbmu.Unlock()
		for _, fn := range fns {
			fn(snap)
		}
	}
}

func (s *Store) report(err error) {
	if s.opt.OnError != nil {
		s.opt.OnError(err)
	}
}
