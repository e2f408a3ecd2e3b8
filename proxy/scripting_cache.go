package proxy

import (
	"crypto/sha1"
	"sync"
	"sync/atomic"

	"github.com/luaproxy/luaproxy/luavm"
)

// DefaultScriptCacheSize is how many scripts added by EVAL the cache keeps
// by default: Redis 7.4's bound on them (Redis 7.0 keeps every script until
// SCRIPT FLUSH, which lets a client grow the server without limit).
const DefaultScriptCacheSize = 500

// cachedScript is one script of the cache.
type cachedScript struct {
	script *luavm.Script
	// loaded: added (or confirmed) by SCRIPT LOAD; such scripts are never
	// evicted, as applications rely on EVALSHA finding them.
	loaded atomic.Bool
	// used is the cache's clock at the last run, for LRU eviction.
	used atomic.Uint64
	// series are the script's per-run metrics, resolved once.
	series *runSeries
}

// scriptCache maps SHA1 digests to script bodies for EVALSHA and SCRIPT
// EXISTS. It is shared by every session. Lookups take a read lock and
// allocate nothing: keys are the 20-byte digests, decoded from the hex the
// client sent, which also makes them case-insensitive as Redis's are.
// Scripts added by EVAL are bounded (least recently used first out);
// scripts added by SCRIPT LOAD are kept until SCRIPT FLUSH.
type scriptCache struct {
	mu        sync.RWMutex
	m         map[[20]byte]*cachedScript
	evalLimit int // scripts added by EVAL only, beyond which the LRU goes
	evalCount int // cached scripts that are not loaded
	clock     atomic.Uint64
	evictions atomic.Uint64 // scripts evictLocked dropped
	metrics   *scriptMetrics
}

// newScriptCache returns an empty cache; metrics, if not nil, gives each
// new script its series and reads the cache's size and evictions.
func newScriptCache(evalLimit int, metrics *scriptMetrics) *scriptCache {
	if evalLimit <= 0 {
		evalLimit = DefaultScriptCacheSize
	}
	c := &scriptCache{m: make(map[[20]byte]*cachedScript), evalLimit: evalLimit, metrics: metrics}
	if metrics != nil {
		metrics.cache.Store(c)
	}
	return c
}

// decodeSHA decodes a 40-digit hex SHA1 in either case; ok is false for
// anything else, which can match no script.
func decodeSHA(hex []byte) (sum [20]byte, ok bool) {
	if len(hex) != 40 {
		return sum, false
	}
	for i := 0; i < 20; i++ {
		hi, ok1 := unhex(hex[2*i])
		lo, ok2 := unhex(hex[2*i+1])
		if !ok1 || !ok2 {
			return sum, false
		}
		sum[i] = hi<<4 | lo
	}
	return sum, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// lookup finds a script by its digest and marks it used.
func (c *scriptCache) lookup(sum [20]byte) *cachedScript {
	c.mu.RLock()
	e := c.m[sum]
	c.mu.RUnlock()
	if e != nil {
		e.used.Store(c.clock.Add(1))
	}
	return e
}

// exists reports whether a script with that hex SHA1 is cached.
func (c *scriptCache) exists(hex []byte) bool {
	sum, ok := decodeSHA(hex)
	if !ok {
		return false
	}
	c.mu.RLock()
	_, found := c.m[sum]
	c.mu.RUnlock()
	return found
}

// forBody returns the cache entry for body, or a new entry that is not in
// the cache yet (add puts it there once the script is known to compile).
func (c *scriptCache) forBody(body []byte) (e *cachedScript, cached bool) {
	sum := sha1.Sum(body)
	if e := c.lookup(sum); e != nil {
		return e, true
	}
	// The body aliases the client's read buffer: the cache keeps a copy.
	return &cachedScript{script: luavm.NewScript(append([]byte(nil), body...))}, false
}

// add caches e (from forBody) unless a script with the same digest got
// there first, and returns the entry in the cache. loaded marks it as
// added by SCRIPT LOAD.
func (c *scriptCache) add(e *cachedScript, loaded bool) *cachedScript {
	sum := luavmSum(e.script)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[sum]; old != nil {
		if loaded && !old.loaded.Load() {
			old.loaded.Store(true)
			c.evalCount--
		}
		old.used.Store(c.clock.Add(1))
		return old
	}
	if c.metrics != nil && e.series == nil {
		e.series = c.metrics.counterFor(e.script.SHA())
	}
	e.loaded.Store(loaded)
	e.used.Store(c.clock.Add(1))
	c.m[sum] = e
	if !loaded {
		c.evalCount++
		if c.evalCount > c.evalLimit {
			c.evictLocked()
		}
	}
	return e
}

// evictLocked drops the least recently used script added by EVAL. The scan
// is linear, but it only runs when a new script is added to a full cache.
func (c *scriptCache) evictLocked() {
	var oldest [20]byte
	found := false
	var min uint64
	for k, e := range c.m {
		if e.loaded.Load() {
			continue
		}
		if u := e.used.Load(); !found || u < min {
			oldest, min, found = k, u, true
		}
	}
	if found {
		delete(c.m, oldest)
		c.evalCount--
		c.evictions.Add(1)
	}
}

// flush empties the cache (SCRIPT FLUSH).
func (c *scriptCache) flush() {
	c.mu.Lock()
	c.m = make(map[[20]byte]*cachedScript)
	c.evalCount = 0
	c.mu.Unlock()
}

// sizes returns the number of cached scripts added by EVAL and by SCRIPT
// LOAD.
func (c *scriptCache) sizes() (eval, load int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.evalCount, len(c.m) - c.evalCount
}

// len is the number of cached scripts.
func (c *scriptCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// luavmSum is a script's digest, decoded from its SHA (luavm keeps the
// raw sum unexported).
func luavmSum(s *luavm.Script) [20]byte {
	sum, _ := decodeSHA([]byte(s.SHA()))
	return sum
}
