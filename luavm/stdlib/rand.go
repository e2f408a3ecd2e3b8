package stdlib

import "sync"

// Rand is the 48-bit linear congruential generator of Redis's rand.c
// (drand48's recurrence), which Redis uses for math.random so that a seed
// gives the same sequence on every platform. It is safe for concurrent use
// so that a pool of states can share one sequence.
type Rand struct {
	mu sync.Mutex
	x  uint64
}

const (
	randMul   = 0x5DEECE66D
	randAdd   = 0xB
	randMask  = 1<<48 - 1
	randInit  = 0x1234ABCD330E
	randLow16 = 0x330E
)

// NewRand returns a generator in Redis's start-up state.
func NewRand() *Rand { return &Rand{x: randInit} }

// Seed is redisSrand48: the seed's 32 bits go above the fixed low 16.
func (r *Rand) Seed(seed int32) {
	r.mu.Lock()
	r.x = uint64(uint32(seed))<<16 | randLow16
	r.mu.Unlock()
}

// Next is redisLrand48: it advances the state and returns its top 31 bits.
func (r *Rand) Next() int32 {
	r.mu.Lock()
	r.x = (r.x*randMul + randAdd) & randMask
	v := int32(r.x >> 17)
	r.mu.Unlock()
	return v
}
