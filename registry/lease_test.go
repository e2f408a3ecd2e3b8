package registry

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/internal/redistest"
)

const (
	testLeaseKey = "__luaproxy:lease"
	testLeaseTTL = time.Second
)

// newTestLease returns a Lease on srv's registry database named holder.
func newTestLease(t *testing.T, srv *redistest.Server, holder string) *Lease {
	t.Helper()
	l, err := NewLease(LeaseOptions{
		Options: Options{Addr: srv.Addr, DB: DefaultDB},
		Key:     testLeaseKey,
		TTL:     testLeaseTTL,
		Holder:  holder,
	})
	l.opt.OnError = func(err error) { t.Logf("%s: %v", holder, err) }
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// seedEpoch creates the epoch counter, as an earlier holder would have,
// so that acquisitions need no grace period.
func seedEpoch(t *testing.T, raw *redistest.Conn, epoch int) {
	t.Helper()
	if r := raw.MustDo(t, "SET", testLeaseKey+":epoch", strconv.Itoa(epoch)); string(r) != "+OK\r\n" {
		t.Fatalf("SET epoch: %q", r)
	}
}

// acquire calls Acquire with the test's time limit.
func acquire(t *testing.T, l *Lease) *LeaseTerm {
	t.Helper()
	term, err := l.Acquire(ctxT(t))
	if err != nil {
		t.Fatalf("%s: Acquire: %v", l.Holder(), err)
	}
	t.Cleanup(func() { _ = term.Release(context.Background()) })
	return term
}

// waitLost waits for term to end and returns why.
func waitLost(t *testing.T, term *LeaseTerm) error {
	t.Helper()
	select {
	case <-term.Lost():
		return term.Err()
	case <-time.After(waitLimit):
		t.Fatal("term not lost")
		return nil
	}
}

func leaseValue(t *testing.T, raw *redistest.Conn) string {
	t.Helper()
	r := string(raw.MustDo(t, "GET", testLeaseKey))
	if r == "$-1\r\n" {
		return ""
	}
	_, v, ok := strings.Cut(r, "\r\n")
	if !ok {
		t.Fatalf("GET: %q", r)
	}
	return strings.TrimSuffix(v, "\r\n")
}

func TestLeaseAcquireRenewRelease(t *testing.T) {
	srv := startUpstream(t)
	raw := rawDB(t, srv, DefaultDB)
	seedEpoch(t, raw, 41)
	a, b := newTestLease(t, srv, "a"), newTestLease(t, srv, "b")

	ta := acquire(t, a)
	if ta.Epoch() != 42 || ta.Grace() != 0 {
		t.Errorf("epoch %d grace %v, want 42 and none", ta.Epoch(), ta.Grace())
	}
	if got := leaseValue(t, raw); got != "a 42" {
		t.Errorf("key holds %q", got)
	}
	if st := a.Status(); !st.Active || st.Holder != "a" || st.Epoch != 42 {
		t.Errorf("a's status %+v", st)
	}

	// A second contender is refused and sees who holds the lease.
	res, err := b.tryAcquire(ctxT(t), true)
	if err != nil || res.acquired {
		t.Fatalf("b took a held lease: %+v %v", res, err)
	}
	if st := b.Status(); st.Active || st.Holder != "a" || st.Epoch != 42 {
		t.Errorf("b's status %+v", st)
	}

	// The holder renews: it keeps the lease well past one TTL.
	start := time.Now()
	eventually(t, "a renewal confirmed after one TTL", func() bool {
		ta.mu.Lock()
		defer ta.mu.Unlock()
		return ta.confirmed.After(start.Add(testLeaseTTL))
	})
	select {
	case <-ta.Lost():
		t.Fatalf("lost: %v", ta.Err())
	default:
	}
	if got := leaseValue(t, raw); got != "a 42" {
		t.Errorf("after renewals the key holds %q", got)
	}

	// Release hands over at once: the key is gone, b takes it with no grace.
	if err := ta.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ta.Err(), ErrLeaseReleased) || a.Status().Active {
		t.Errorf("after release: err %v, status %+v", ta.Err(), a.Status())
	}
	if got := leaseValue(t, raw); got != "" {
		t.Errorf("released key holds %q", got)
	}
	tb := acquire(t, b)
	if tb.Epoch() != 43 || tb.Grace() != 0 {
		t.Errorf("b: epoch %d grace %v, want 43 and none", tb.Epoch(), tb.Grace())
	}
	// Releasing twice does nothing, and never deletes another's key.
	if err := ta.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := leaseValue(t, raw); got != "b 43" {
		t.Errorf("key holds %q", got)
	}
}

func TestLeaseExpiryHandsOver(t *testing.T) {
	srv := startUpstream(t)
	raw := rawDB(t, srv, DefaultDB)
	seedEpoch(t, raw, 0)
	a, b := newTestLease(t, srv, "a"), newTestLease(t, srv, "b")
	ta := acquire(t, a)

	// a freezes: its renewals stop but nothing is released.
	ta.stopOnce.Do(func() { close(ta.stop) })
	<-ta.done

	tb := acquire(t, b) // waits for the key to expire
	if tb.Epoch() != ta.Epoch()+1 || tb.Grace() != 0 {
		t.Errorf("b: epoch %d grace %v, want %d and none", tb.Epoch(), tb.Grace(), ta.Epoch()+1)
	}
	// a's renewal is now refused: the value is not its own.
	ours, err := a.renew(ctxT(t), ta.value, ta.Epoch())
	if err != nil || ours {
		t.Errorf("a renewed b's lease: ours %v err %v", ours, err)
	}
	if st := a.Status(); st.Holder != "b" || st.Epoch != tb.Epoch() {
		t.Errorf("a sees %+v", st)
	}
}

func TestLeaseTakenOverIsLost(t *testing.T) {
	srv := startUpstream(t)
	raw := rawDB(t, srv, DefaultDB)
	seedEpoch(t, raw, 0)
	a := newTestLease(t, srv, "a")
	ta := acquire(t, a)

	raw.MustDo(t, "SET", testLeaseKey, "intruder 99", "PX", "60000")
	if err := waitLost(t, ta); !errors.Is(err, ErrLeaseTaken) {
		t.Errorf("lost with %v, want ErrLeaseTaken", err)
	}
	if st := a.Status(); st.Active || st.Holder != "intruder" || st.Epoch != 99 {
		t.Errorf("status %+v", st)
	}
	// Release after a loss leaves the other holder's key alone.
	if err := ta.Release(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got := leaseValue(t, raw); got != "intruder 99" {
		t.Errorf("key holds %q", got)
	}
}

// TestLeaseUnconfirmedRenewalIsLost pauses the upstream so that renewals
// hang: the term must end on its own deadline.
func TestLeaseUnconfirmedRenewalIsLost(t *testing.T) {
	srv := startUpstream(t)
	raw := rawDB(t, srv, DefaultDB)
	seedEpoch(t, raw, 0)
	a := newTestLease(t, srv, "a")
	ta := acquire(t, a)

	raw.MustDo(t, "CLIENT", "PAUSE", strconv.Itoa(int(2*testLeaseTTL/time.Millisecond)), "ALL")
	if err := waitLost(t, ta); !errors.Is(err, ErrLeaseExpired) {
		t.Errorf("lost with %v, want ErrLeaseExpired", err)
	}
	// The stale key is still ours (or has expired): a takes it back, with
	// a higher epoch (higher by more than one if an attempt's reply was
	// lost to a timeout while the upstream was paused).
	tb := acquire(t, a)
	if tb.Epoch() <= ta.Epoch() {
		t.Errorf("epoch %d after %d", tb.Epoch(), ta.Epoch())
	}
}

// TestLeaseSurvivesFlushAll wipes the upstream under a holder: its next
// renewal puts the key and the counter back, and its term goes on; a
// contender leaves it the time to do so.
func TestLeaseSurvivesFlushAll(t *testing.T) {
	srv := startUpstream(t)
	raw := rawDB(t, srv, DefaultDB)
	seedEpoch(t, raw, 6)
	a, b := newTestLease(t, srv, "a"), newTestLease(t, srv, "b")
	ta := acquire(t, a)

	raw.MustDo(t, "FLUSHALL")
	if res, err := b.tryAcquire(ctxT(t), false); err != nil || res.acquired || !res.wipedFree {
		t.Fatalf("b after the wipe: %+v %v", res, err)
	}
	eventually(t, "a's key put back", func() bool { return leaseValue(t, raw) == "a 7" })
	if got := string(raw.MustDo(t, "GET", testLeaseKey+":epoch")); got != "$1\r\n7\r\n" {
		t.Errorf("epoch counter %q", got)
	}
	select {
	case <-ta.Lost():
		t.Fatalf("a lost its lease to a FLUSHALL: %v", ta.Err())
	default:
	}
	if res, err := b.tryAcquire(ctxT(t), true); err != nil || res.acquired {
		t.Fatalf("b took a's restored lease: %+v %v", res, err)
	}
}

// TestLeaseFlushAllFrozenHolder wipes the upstream while the holder
// cannot renew: a contender waits, takes the key with an epoch above the
// holder's, and serves only after a grace period.
func TestLeaseFlushAllFrozenHolder(t *testing.T) {
	srv := startUpstream(t)
	raw := rawDB(t, srv, DefaultDB)
	seedEpoch(t, raw, 6)
	a, b := newTestLease(t, srv, "a"), newTestLease(t, srv, "b")
	ta := acquire(t, a)
	if res, err := b.tryAcquire(ctxT(t), true); err != nil || res.acquired {
		t.Fatalf("b took a held lease: %+v %v", res, err)
	}

	ta.stopOnce.Do(func() { close(ta.stop) })
	<-ta.done
	raw.MustDo(t, "FLUSHALL")

	tb := acquire(t, b)
	if tb.Epoch() != 8 || tb.Grace() < testLeaseTTL {
		t.Errorf("b: epoch %d grace %v, want 8 after a grace of one TTL", tb.Epoch(), tb.Grace())
	}
	if got := string(raw.MustDo(t, "GET", testLeaseKey+":epoch")); got != "$1\r\n8\r\n" {
		t.Errorf("epoch counter %q", got)
	}
}

// TestLeaseGraceEndsWhenTaken: a holder in its grace period that finds the
// key taken never serves.
func TestLeaseGraceEndsWhenTaken(t *testing.T) {
	srv := startUpstream(t)
	raw := rawDB(t, srv, DefaultDB)
	a := newTestLease(t, srv, "a")
	acquired := make(chan *LeaseTerm, 1)
	go func() {
		term, _ := a.Acquire(ctxT(t))
		acquired <- term
	}()
	eventually(t, "a grace period", func() bool { return !a.Status().GraceUntil.IsZero() })
	raw.MustDo(t, "SET", testLeaseKey, "other 50", "PX", "600000")
	eventually(t, "a standing by", func() bool {
		st := a.Status()
		return st.GraceUntil.IsZero() && st.Holder == "other"
	})
	if st := a.Status(); st.Active {
		t.Errorf("a active: %+v", st)
	}
	raw.MustDo(t, "DEL", testLeaseKey)
	select {
	case term := <-acquired:
		if term == nil {
			t.Fatal("Acquire failed")
		}
		defer term.Release(context.Background())
		if term.Epoch() != 51 || term.Grace() != 0 {
			t.Errorf("epoch %d grace %v, want 51 with no grace", term.Epoch(), term.Grace())
		}
	case <-time.After(waitLimit):
		t.Fatal("a did not acquire the freed lease")
	}
}

// TestLeaseFirstAcquisitionWaits: with no epoch counter there may be a
// holder from before a wipe, so the first holder waits before serving.
func TestLeaseFirstAcquisitionWaits(t *testing.T) {
	srv := startUpstream(t)
	a := newTestLease(t, srv, "a")
	acquired := make(chan *LeaseTerm, 1)
	go func() {
		term, _ := a.Acquire(ctxT(t))
		acquired <- term
	}()
	eventually(t, "a grace period", func() bool { return !a.Status().GraceUntil.IsZero() })
	if a.Status().Active {
		t.Error("active during the grace period")
	}
	ta := <-acquired
	if ta == nil {
		t.Fatal("Acquire failed")
	}
	defer ta.Release(context.Background())
	// Epoch 1 after the grace period; under heavy load the confirming
	// renewal may time out, and a then takes the key again, with no grace
	// since the counter exists by then.
	if ta.Epoch() == 1 && ta.Grace() < testLeaseTTL || ta.Epoch() > 1 && ta.Grace() != 0 {
		t.Errorf("epoch %d grace %v", ta.Epoch(), ta.Grace())
	}
	if st := a.Status(); !st.Active || !st.GraceUntil.IsZero() {
		t.Errorf("status %+v", st)
	}
}

// TestLeaseOneActiveAtATime hands the lease around three contenders: when
// one acquires it, the previous holder has released it or seen its term
// end, and epochs only grow. (Under heavy load a holder may lose its term
// to a late renewal; that is allowed, overlapping terms are not.)
func TestLeaseOneActiveAtATime(t *testing.T) {
	srv := startUpstream(t)
	seedEpoch(t, rawDB(t, srv, DefaultDB), 0)
	const handovers = 9
	var (
		mu      sync.Mutex
		current *LeaseTerm
		epochs  []int64
	)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		l := newTestLease(t, srv, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				term, err := l.Acquire(ctx)
				if err != nil {
					return // the test is over
				}
				mu.Lock()
				if current != nil {
					select {
					case <-current.Lost():
					default:
						t.Errorf("%s acquired epoch %d while epoch %d lasts", name, term.Epoch(), current.Epoch())
					}
				}
				current = term
				epochs = append(epochs, term.Epoch())
				done := len(epochs) >= handovers
				mu.Unlock()
				// Hold the lease until it has been renewed once.
				first := term.deadline()
			hold:
				for term.deadline().Equal(first) {
					select {
					case <-term.Lost():
						t.Logf("%s lost epoch %d: %v", name, term.Epoch(), term.Err())
						break hold
					case <-ctx.Done():
						break hold
					case <-time.After(5 * time.Millisecond):
					}
				}
				_ = term.Release(context.Background())
				if done {
					return
				}
			}
		}()
	}
	eventually(t, "the handovers", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(epochs) >= handovers
	})
	// The two other contenders still wait: end them.
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(epochs); i++ {
		if epochs[i] <= epochs[i-1] {
			t.Errorf("epochs not increasing: %v", epochs)
			break
		}
	}
}

func TestLeaseValue(t *testing.T) {
	for _, tc := range []struct {
		in     string
		holder string
		epoch  int64
	}{
		{"host:1:ab 7", "host:1:ab", 7},
		{formatLeaseValue("h", 1<<40), "h", 1 << 40},
		{"nospace", "nospace", 0},
		{"h x", "h x", 0},
	} {
		h, e := parseLeaseValue(tc.in)
		if h != tc.holder || e != tc.epoch {
			t.Errorf("parse(%q) = %q, %d", tc.in, h, e)
		}
	}
	id := NewLeaseHolder()
	if strings.ContainsAny(id, " \r\n") || strings.Count(id, ":") < 2 {
		t.Errorf("holder id %q", id)
	}
	if _, err := NewLease(LeaseOptions{Key: "k", TTL: time.Second, Holder: "a b"}); err == nil {
		t.Error("holder with a space accepted")
	}
	if _, err := NewLease(LeaseOptions{Key: "k"}); err == nil {
		t.Error("zero TTL accepted")
	}
}

// FuzzLeaseValue checks that every value a Lease writes reads back as the
// same holder and epoch, and that parsing never fails on foreign values.
func FuzzLeaseValue(f *testing.F) {
	f.Add("host:1:ab", int64(7), "intruder 99")
	f.Add("", int64(0), "")
	f.Add("a", int64(-1), "x -")
	f.Fuzz(func(t *testing.T, holder string, epoch int64, foreign string) {
		parseLeaseValue(foreign)
		if holder == "" || strings.ContainsAny(holder, " \r\n") || epoch < 0 {
			return
		}
		h, e := parseLeaseValue(formatLeaseValue(holder, epoch))
		if h != holder || e != epoch {
			t.Errorf("round trip of %q %d: %q %d", holder, epoch, h, e)
		}
	})
}
