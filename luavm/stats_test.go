package luavm

import (
	"context"
	"strings"
	"testing"
)

// blockingCaller answers every redis.call with +OK once release is
// closed, after telling entered that a script is inside the call.
type blockingCaller struct {
	entered chan struct{}
	release chan struct{}
}

func (c blockingCaller) Call([][]byte, int) ([]byte, error) {
	c.entered <- struct{}{}
	<-c.release
	return []byte("+OK\r\n"), nil
}

func TestStats(t *testing.T) {
	vm, err := New(Config{PoolSize: 1, MaxStates: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	if got, want := vm.Stats(), (PoolStats{Alive: 1, Idle: 1}); got != want {
		t.Fatalf("fresh VM: Stats() = %+v, want %+v", got, want)
	}

	c := blockingCaller{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan []byte)
	go func() {
		done <- vm.Eval(context.Background(), []byte("return redis.call('PING')"), Request{Proto: 2, Caller: c})
	}()
	<-c.entered
	if got, want := vm.Stats(), (PoolStats{Alive: 1, InUse: 1}); got != want {
		t.Errorf("one script running: Stats() = %+v, want %+v", got, want)
	}

	// The only state is busy and MaxStates is reached: a script whose
	// context is already cancelled waits, and gives up at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if reply := string(vm.Eval(ctx, []byte("return 1"), Request{Proto: 2})); !strings.HasPrefix(reply, "-ERR luaproxy: no Lua state available") {
		t.Errorf("Eval with every state busy = %q", reply)
	}

	close(c.release)
	if reply := string(<-done); reply != "+OK\r\n" {
		t.Errorf("blocked script replied %q", reply)
	}
	got := vm.Stats()
	if got.Alive != 1 || got.Idle != 1 || got.InUse != 0 || got.Waits != 1 {
		t.Errorf("after the scripts: Stats() = %+v, want 1 alive, 1 idle, 0 in use, 1 wait", got)
	}
	if got.WaitTime < 0 {
		t.Errorf("WaitTime = %v, want >= 0", got.WaitTime)
	}
}
