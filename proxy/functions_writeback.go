package proxy

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/registry"
)

// Deletions the registry refuses.
//
// The registry is data in the upstream, so it cannot record a change while
// the upstream refuses writes (over maxmemory, say). Redis keeps functions
// outside its data and lets FUNCTION DELETE and FLUSH through even then, so
// Functions applies those at once and writes its whole set back to the
// registry as soon as it takes writes again, retrying every second.
// Meanwhile other instances keep their libraries, and this one ignores
// theirs; a restart before the write-back loses the deletion.

// writeBackEvery is the pause between two attempts to write back.
const writeBackEvery = time.Second

// keepUnsavedLocked applies next, which the registry refused with err,
// and schedules the write-back. f.mu must be held.
func (f *Functions) keepUnsavedLocked(next *librarySet, err error) {
	f.set.Store(next)
	if !f.unsaved {
		f.log.Warn("function registry refused a deletion; applied here, written back when it takes writes again", zap.Error(err))
	}
	f.unsaved = true
	select {
	case f.writeBack <- struct{}{}:
	default:
	}
}

// writeBackLoop writes the local set to the registry whenever it is ahead,
// until stop is closed.
func (f *Functions) writeBackLoop(stop <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		cancel()
	}()
	for {
		select {
		case <-stop:
			return
		case <-f.writeBack:
		}
		for !f.tryWriteBack(ctx) {
			select {
			case <-stop:
				return
			case <-time.After(writeBackEvery):
			}
		}
	}
}

// tryWriteBack replaces the registry's libraries with the local set if it
// is ahead; it reports whether nothing is left to write.
func (f *Functions) tryWriteBack(ctx context.Context) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.unsaved {
		return true
	}
	set := f.set.Load()
	snap, err := f.store.Update(ctx, func(*registry.Snapshot) (registry.Change, error) {
		c := registry.Change{FlushLibraries: true, Libraries: make(map[string]string, len(set.libs))}
		for name, lib := range set.libs {
			c.Libraries[name] = string(lib.Code)
		}
		return c, nil
	})
	if err != nil {
		return false
	}
	f.unsaved = false
	f.version = snap.Version()
	f.log.Info("function registry written back")
	return true
}
