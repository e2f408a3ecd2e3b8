package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Errors that end a LeaseTerm; LeaseTerm.Err returns one of them, wrapped.
var (
	// ErrLeaseTaken means the lease key no longer holds this term's value:
	// it expired and another instance took it, or it was deleted (by
	// FLUSHALL, FLUSHDB or hand).
	ErrLeaseTaken = errors.New("lease: key no longer ours")
	// ErrLeaseExpired means no renewal was confirmed in time: the key may
	// expire in the upstream at any moment.
	ErrLeaseExpired = errors.New("lease: renewal not confirmed in time")
	// ErrLeaseReleased means the holder released the lease.
	ErrLeaseReleased = errors.New("lease: released")
)

// LeaseOptions configure a Lease. The embedded Options say how to reach the
// upstream (Addr, Username, Password, TLSConfig, DB, the timeouts and
// OnError); KeyPrefix, CheckInterval and MaxAttempts are not used.
type LeaseOptions struct {
	Options
	// Key is the lease key; the fencing counter is Key+":epoch" in the
	// same database.
	Key string
	// TTL is the lifetime of the key without renewal; it must be positive.
	TTL time.Duration
	// Holder identifies this instance in the key's value; "" means
	// NewLeaseHolder(). It must not contain spaces.
	Holder string
}

// Lease elects one active instance among several luaproxy processes in
// front of one upstream: the instance holding the lease key serves, the
// others stand by until the key becomes free.
//
// # Protocol
//
// The key's value is "<holder> <epoch>". An instance takes the key only
// with SET NX PX, in a MULTI/EXEC guarded by WATCH on the key and on the
// epoch counter Key+":epoch", that also raises the counter to the new
// epoch: every acquisition gets an epoch higher than all before it, which
// callers can use as a fencing token. The holder renews every TTL/3 with
// PEXPIRE in a MULTI/EXEC guarded by WATCH after checking with GET that the
// value is still its own, and releases with DEL the same way. No script
// runs on the upstream.
//
// # Safety
//
// The holder measures its lease from the moment it sent the acquire or
// renew request that Redis then confirmed: Redis received that request
// later, so the key lives at least TTL from then. If no renewal has been
// confirmed by that send time + TTL − TTL/6, the term is lost (Lost is
// closed) and the caller must stop serving at once: TTL/6 before the key can
// expire in the upstream and another instance can take it. This assumes
// that this process's clock does not run more than about 1/6 slower than
// the upstream's over one TTL, and that the caller stops within the
// remaining margin. A process frozen longer than that (a stopped VM, a
// debugger), and requests already sent when the term ends, may still reach
// the upstream after another instance took over: only fencing on the epoch
// in the data itself protects against that.
//
// # Wipes
//
// FLUSHALL, FLUSHDB on the lease's database or a restart of an upstream
// without persistence remove the key and the counter while the holder
// serves. The holder's next renewal puts both back with SET NX (the lease
// survives, with the same epoch). A standby that finds both missing leaves
// the holder TTL/2 to do so before it contends, and one that then takes
// the key does not serve at once: it renews for one TTL (the grace period)
// and confirms the key is still its own, by which time any holder from
// before the wipe has put its key back, making this one lose, or passed
// its deadline. The first acquisition ever waits the same way, as it
// cannot tell. Epochs continue from the highest this instance has seen,
// so they stay monotonic across a wipe as long as the acquiring instance
// had seen the last holder's value. Deleting only the lease key by hand is
// not detected as a wipe: a standby takes it over at once while the holder
// serves until its next renewal finds the key taken.
type Lease struct {
	opt      LeaseOptions
	rdb      *redis.Client
	epochKey string

	mu       sync.Mutex
	maxSeen  int64 // highest epoch seen in the key or the counter
	holder   string
	epoch    int64
	active   *LeaseTerm
	graceEnd time.Time
}

// LeaseStatus describes a Lease as this instance last saw it.
type LeaseStatus struct {
	// Active is true while this instance holds the lease and may serve.
	Active bool
	// Holder is the holder as last seen: this instance's id while it holds
	// the lease, "" when the key was last seen free.
	Holder string
	// Epoch is Holder's fencing epoch, 0 when none was seen.
	Epoch int64
	// GraceUntil is set while this instance holds a fresh lease but waits
	// for any holder from before a wipe to stop.
	GraceUntil time.Time
}

// NewLeaseHolder returns a holder id unique to this process: host name,
// process id and random bits.
func NewLeaseHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	host = strings.ReplaceAll(host, " ", "_")
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
}

// NewLease checks opt and returns a Lease; it connects lazily. Close
// releases the connections.
func NewLease(opt LeaseOptions) (*Lease, error) {
	if opt.Key == "" {
		return nil, errors.New("lease: empty key")
	}
	if opt.TTL <= 0 {
		return nil, fmt.Errorf("lease: TTL %v is not positive", opt.TTL)
	}
	if opt.Holder == "" {
		opt.Holder = NewLeaseHolder()
	}
	if strings.ContainsAny(opt.Holder, " \r\n") {
		return nil, fmt.Errorf("lease: holder %q contains white space", opt.Holder)
	}
	return &Lease{
		opt: opt,
		rdb: redis.NewClient(&redis.Options{
			Addr:            opt.Addr,
			Username:        opt.Username,
			Password:        opt.Password,
			TLSConfig:       opt.TLSConfig,
			DB:              opt.DB,
			Protocol:        2,
			DisableIdentity: true,
			ClientName:      "luaproxy-lease",
			DialTimeout:     opt.DialTimeout,
			ReadTimeout:     opt.ReadTimeout,
			WriteTimeout:    opt.WriteTimeout,
			// Renewals must give up at the lease deadline, not at
			// go-redis's own timeouts.
			ContextTimeoutEnabled: true,
			// No blind retries: a transaction resent on a new connection
			// would run without its WATCH. The callers retry from a
			// fresh read instead.
			MaxRetries: -1,
		}),
		epochKey: opt.Key + ":epoch",
	}, nil
}

// Holder is this instance's id.
func (l *Lease) Holder() string { return l.opt.Holder }

// TTL is the lease's lifetime.
func (l *Lease) TTL() time.Duration { return l.opt.TTL }

// Close closes the connections. Release any term first.
func (l *Lease) Close() error { return l.rdb.Close() }

// Status returns the lease as this instance last saw it.
func (l *Lease) Status() LeaseStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LeaseStatus{Active: l.active != nil, Holder: l.holder, Epoch: l.epoch, GraceUntil: l.graceEnd}
}

// pollInterval is how often a standby looks at the key, and how soon a
// failed request is retried.
func (l *Lease) pollInterval() time.Duration { return l.opt.TTL / 6 }

// Acquire waits until this instance holds the lease and may serve, then
// returns the term; the caller serves until the term's Lost channel is
// closed, and calls Release when it stops serving of its own accord. It
// returns ctx's error when ctx ends first. Errors talking to the upstream
// are reported to OnError and retried.
func (l *Lease) Acquire(ctx context.Context) (*LeaseTerm, error) {
	var wipeSeen time.Time // when the key and the counter were first seen missing
	for {
		sent := time.Now()
		allowWiped := !wipeSeen.IsZero() && sent.Sub(wipeSeen) >= l.opt.TTL/2
		res, err := l.tryAcquire(ctx, allowWiped)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			l.report(err)
		}
		switch {
		case err != nil:
		case res.wipedFree:
			if wipeSeen.IsZero() {
				wipeSeen = sent
			}
		default:
			wipeSeen = time.Time{}
		}
		if err != nil || !res.acquired {
			if err := sleepCtx(ctx, l.pollInterval()); err != nil {
				return nil, err
			}
			continue
		}
		t := l.startTerm(res.epoch, res.value, sent)
		if res.wiped {
			ok, err := l.waitGrace(ctx, t, sent.Add(l.opt.TTL))
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			t.grace = time.Since(sent)
		}
		l.mu.Lock()
		select {
		case <-t.lost:
			// Lost at the last instant: start over.
			l.mu.Unlock()
			continue
		default:
		}
		l.active = t
		l.mu.Unlock()
		return t, nil
	}
}

// waitGrace keeps t renewed until graceEnd, then confirms with one more
// renewal that the key is still t's. ok is false, and t released, if t
// was lost; err is ctx's error, and t released, if ctx ended first.
func (l *Lease) waitGrace(ctx context.Context, t *LeaseTerm, graceEnd time.Time) (ok bool, err error) {
	l.mu.Lock()
	l.graceEnd = graceEnd
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.graceEnd = time.Time{}
		l.mu.Unlock()
		if !ok {
			rctx, cancel := context.WithTimeout(context.Background(), l.opt.TTL)
			_ = t.Release(rctx)
			cancel()
		}
	}()
	timer := time.NewTimer(time.Until(graceEnd))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-t.lost:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
	for {
		sent := time.Now()
		rctx, cancel := context.WithDeadline(ctx, t.deadline())
		ours, err := l.renew(rctx, t.value, t.epoch)
		cancel()
		switch {
		case ctx.Err() != nil:
			return false, ctx.Err()
		case err == nil && ours:
			t.confirm(sent)
			return true, nil
		case err == nil:
			return false, nil
		}
		l.report(err)
		if !time.Now().Before(t.deadline()) {
			return false, nil
		}
		select {
		case <-time.After(l.pollInterval() / 2):
		case <-t.lost:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// acquireResult is the outcome of one acquisition attempt.
type acquireResult struct {
	acquired  bool
	wiped     bool // acquired while the epoch counter was missing
	wipedFree bool // not acquired: key and counter missing, and allowWiped false
	epoch     int64
	value     string
}

// tryAcquire takes the key if it is free (or holds a stale value of this
// instance), raising the epoch counter in the same transaction. When the
// counter is missing too (a wipe, or the first use ever) it takes the key
// only if allowWiped, leaving a holder from before the wipe time to put
// its key back first.
func (l *Lease) tryAcquire(ctx context.Context, allowWiped bool) (acquireResult, error) {
	var res acquireResult
	err := l.rdb.Watch(ctx, func(tx *redis.Tx) error {
		cur, held, stored, counted, err := l.read(ctx, tx)
		if err != nil {
			return err
		}
		if held {
			holder, epoch := parseLeaseValue(cur)
			l.observe(holder, epoch)
			if holder != l.opt.Holder {
				return nil
			}
			// A term of ours that ended without a confirmed release:
			// we stopped serving when it ended, so take it back.
		} else {
			l.observe("", 0)
		}
		if !counted && !allowWiped {
			res.wipedFree = true
			return nil
		}
		l.mu.Lock()
		next := max(stored, l.maxSeen) + 1
		l.mu.Unlock()
		value := formatLeaseValue(l.opt.Holder, next)
		var set *redis.BoolCmd
		var incr *redis.IntCmd
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if held {
				p.Del(ctx, l.opt.Key)
			}
			set = p.SetNX(ctx, l.opt.Key, value, l.opt.TTL)
			incr = p.IncrBy(ctx, l.epochKey, next-stored)
			return nil
		})
		if err != nil {
			return err
		}
		if !set.Val() || incr.Val() != next {
			// WATCH makes this impossible; refuse to serve if it happens.
			return fmt.Errorf("lease: acquisition of %s not exclusive (SET NX %v, epoch %d, want %d)",
				l.opt.Key, set.Val(), incr.Val(), next)
		}
		res = acquireResult{acquired: true, wiped: !counted, epoch: next, value: value}
		return nil
	}, l.opt.Key, l.epochKey)
	switch {
	case errors.Is(err, redis.TxFailedErr):
		return acquireResult{}, nil // someone else moved first
	case err != nil:
		return acquireResult{}, fmt.Errorf("lease: acquire %s on %s: %w", l.opt.Key, l.opt.Addr, err)
	}
	if res.acquired {
		l.observe(l.opt.Holder, res.epoch)
	}
	return res, nil
}

// read returns the key's value and the epoch counter, inside a WATCH.
func (l *Lease) read(ctx context.Context, tx *redis.Tx) (cur string, held bool, stored int64, counted bool, err error) {
	vals, err := tx.MGet(ctx, l.opt.Key, l.epochKey).Result()
	if err != nil {
		return "", false, 0, false, err
	}
	cur, held = vals[0].(string)
	if s, ok := vals[1].(string); ok {
		if stored, err = strconv.ParseInt(s, 10, 64); err != nil {
			return "", false, 0, false, fmt.Errorf("lease: bad epoch counter %s=%q", l.epochKey, s)
		}
		counted = true
	}
	l.observeEpoch(stored)
	return cur, held, stored, counted, nil
}

// observe records the holder and epoch last seen in the key.
func (l *Lease) observe(holder string, epoch int64) {
	l.mu.Lock()
	l.holder, l.epoch = holder, epoch
	l.maxSeen = max(l.maxSeen, epoch)
	l.mu.Unlock()
}

func (l *Lease) observeEpoch(epoch int64) {
	l.mu.Lock()
	l.maxSeen = max(l.maxSeen, epoch)
	l.mu.Unlock()
}

// renew extends the key if it still holds value. If the key is missing
// (FLUSHALL, FLUSHDB, a restart without persistence) it puts it back with
// SET NX, and the epoch counter with it: the caller holds a term that has
// not ended, so no other instance serves, and one that took the key
// meanwhile would have made the SET NX fail. ours is false when the key
// holds another value; err is set when the upstream could not tell.
func (l *Lease) renew(ctx context.Context, value string, epoch int64) (ours bool, err error) {
	for range 3 {
		ours, err = l.renewOnce(ctx, value, epoch)
		if !errors.Is(err, redis.TxFailedErr) {
			break
		}
		// The key changed between GET and EXEC, perhaps by a concurrent
		// renewal of ours: look again.
	}
	if err != nil {
		return false, fmt.Errorf("lease: renew %s on %s: %w", l.opt.Key, l.opt.Addr, err)
	}
	if ours {
		l.observe(l.opt.Holder, epoch)
	}
	return ours, nil
}

func (l *Lease) renewOnce(ctx context.Context, value string, epoch int64) (ours bool, err error) {
	err = l.rdb.Watch(ctx, func(tx *redis.Tx) error {
		cur, held, stored, _, err := l.read(ctx, tx)
		if err != nil {
			return err
		}
		if held && cur != value {
			l.observe(parseLeaseValue(cur))
			return nil
		}
		var set *redis.BoolCmd
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if held {
				p.PExpire(ctx, l.opt.Key, l.opt.TTL)
			} else {
				set = p.SetNX(ctx, l.opt.Key, value, l.opt.TTL)
			}
			if stored < epoch {
				p.Set(ctx, l.epochKey, epoch, 0)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if set != nil && !set.Val() {
			return fmt.Errorf("lease: restoring %s not exclusive", l.opt.Key)
		}
		ours = true
		if !held {
			l.report(fmt.Errorf("lease: key %s was missing (FLUSHALL?); put it back (epoch %d)", l.opt.Key, epoch))
		}
		return nil
	}, l.opt.Key, l.epochKey)
	return ours && err == nil, err
}

// release deletes the key if it still holds value.
func (l *Lease) release(ctx context.Context, value string) error {
	err := l.rdb.Watch(ctx, func(tx *redis.Tx) error {
		cur, err := tx.Get(ctx, l.opt.Key).Result()
		if errors.Is(err, redis.Nil) || err == nil && cur != value {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, l.opt.Key)
			return nil
		})
		return err
	}, l.opt.Key)
	if err != nil {
		return fmt.Errorf("lease: release %s on %s: %w", l.opt.Key, l.opt.Addr, err)
	}
	l.observe("", 0)
	return nil
}

func (l *Lease) report(err error) {
	if l.opt.OnError != nil {
		l.opt.OnError(err)
	}
}

// formatLeaseValue and parseLeaseValue convert the key's value.
func formatLeaseValue(holder string, epoch int64) string {
	return holder + " " + strconv.FormatInt(epoch, 10)
}

func parseLeaseValue(v string) (holder string, epoch int64) {
	i := strings.LastIndexByte(v, ' ')
	if i < 0 {
		return v, 0
	}
	e, err := strconv.ParseInt(v[i+1:], 10, 64)
	if err != nil {
		return v, 0
	}
	return v[:i], e
}

// LeaseTerm is one uninterrupted tenure of a Lease, renewed in the
// background until it is lost or released.
type LeaseTerm struct {
	l     *Lease
	epoch int64
	value string
	grace time.Duration

	lost     chan struct{} // closed when the term ends
	stop     chan struct{} // closed by Release
	done     chan struct{} // closed when the renewer has returned
	stopOnce sync.Once

	mu        sync.Mutex
	confirmed time.Time // send time of the last confirmed acquire or renew
	err       error
}

func (l *Lease) startTerm(epoch int64, value string, sent time.Time) *LeaseTerm {
	t := &LeaseTerm{
		l: l, epoch: epoch, value: value, confirmed: sent,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go t.renewLoop()
	return t
}

// Epoch is the term's fencing epoch: higher than that of every earlier term.
func (t *LeaseTerm) Epoch() int64 { return t.epoch }

// Grace is how long Acquire waited after taking the key for any holder
// from before a wipe to stop; 0 when the epoch counter was intact.
func (t *LeaseTerm) Grace() time.Duration { return t.grace }

// Lost is closed when the term ends: the caller must stop serving at once.
func (t *LeaseTerm) Lost() <-chan struct{} { return t.lost }

// Err says why the term ended (ErrLeaseTaken, ErrLeaseExpired or
// ErrLeaseReleased, possibly wrapped); nil while it lasts.
func (t *LeaseTerm) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// deadline is when the term ends unless a renewal is confirmed first.
func (t *LeaseTerm) deadline() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	ttl := t.l.opt.TTL
	return t.confirmed.Add(ttl - ttl/6)
}

// end ends the term with err unless it has ended already.
func (t *LeaseTerm) end(err error) {
	t.mu.Lock()
	if t.err != nil {
		t.mu.Unlock()
		return
	}
	t.err = err
	close(t.lost)
	t.mu.Unlock()
	t.l.mu.Lock()
	if t.l.active == t {
		t.l.active = nil
	}
	t.l.mu.Unlock()
}

// confirm records a renewal confirmed for a request sent at sent.
func (t *LeaseTerm) confirm(sent time.Time) {
	t.mu.Lock()
	if sent.After(t.confirmed) {
		t.confirmed = sent
	}
	t.mu.Unlock()
}

// Release stops renewing, ends the term and deletes the key if it still
// holds this term's value, so that a standby can take over at once. Call it
// after the caller has stopped serving; calling it again does nothing.
func (t *LeaseTerm) Release(ctx context.Context) error {
	first := false
	t.stopOnce.Do(func() {
		first = true
		close(t.stop)
	})
	<-t.done
	t.end(ErrLeaseReleased)
	if !first {
		return nil
	}
	return t.l.release(ctx, t.value)
}

// renewResult is the outcome of one renewal.
type renewResult struct {
	ours bool
	err  error
}

// renewLoop renews every TTL/3 and ends the term when a renewal finds the
// key taken or when the deadline passes without a confirmed renewal.
func (t *LeaseTerm) renewLoop() {
	defer close(t.done)
	ttl := t.l.opt.TTL
	expiry := time.NewTimer(time.Until(t.deadline()))
	defer expiry.Stop()
	t.mu.Lock()
	next := time.NewTimer(time.Until(t.confirmed.Add(ttl / 3)))
	t.mu.Unlock()
	defer next.Stop()
	// expired is called when expiry fires: a renewal confirmed elsewhere
	// (Acquire's at the end of a grace period) may have moved the deadline.
	expired := func() bool {
		if d := time.Until(t.deadline()); d > 0 {
			expiry.Reset(d)
			return false
		}
		t.end(ErrLeaseExpired)
		return true
	}
	for {
		select {
		case <-t.stop:
			return
		case <-expiry.C:
			if expired() {
				return
			}
			continue
		case <-next.C:
		}
		deadline := t.deadline()
		if !time.Now().Before(deadline) {
			t.end(ErrLeaseExpired)
			return
		}
		sent := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		resc := make(chan renewResult, 1)
		go func() {
			ours, err := t.l.renew(ctx, t.value, t.epoch)
			resc <- renewResult{ours, err}
		}()
		var r renewResult
	wait:
		for {
			select {
			case r = <-resc:
				break wait
			case <-t.stop:
				cancel()
				<-resc
				return
			case <-expiry.C:
				if expired() { // the caller stops serving now
					cancel()
					<-resc
					return
				}
			}
		}
		cancel()
		switch {
		case r.err != nil:
			t.l.report(r.err)
			next.Reset(t.l.pollInterval() / 2)
		case !r.ours:
			t.end(ErrLeaseTaken)
			return
		default:
			t.confirm(sent)
			if !expiry.Stop() {
				// It fired after the reply came: the renewal still
				// counts, so drain it and start again.
				select {
				case <-expiry.C:
				default:
				}
			}
			expiry.Reset(time.Until(t.deadline()))
			next.Reset(time.Until(sent.Add(ttl / 3)))
		}
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
