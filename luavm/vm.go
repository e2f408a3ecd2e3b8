package luavm

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/internal/cmdinfo"
	"github.com/luaproxy/luaproxy/luavm/stdlib"
)

// Caller sends one command to Redis and returns its raw reply, in RESP2 or
// RESP3 as proto says. argv and its elements are only valid during the call:
// they may alias Lua strings and buffers reused by the next call, so Call
// must neither modify nor retain them.
type Caller interface {
	Call(argv [][]byte, proto int) ([]byte, error)
}

// ACLChecker may be implemented by a Caller to answer
// redis.acl_check_cmd: the raw reply of ACL DRYRUN for the calling
// client's user and argv. Without it, luavm asks through Call with ACL
// WHOAMI and ACL DRYRUN, which the calling user may not be allowed to run.
type ACLChecker interface {
	ACLCheck(argv [][]byte) ([]byte, error)
}

// Config configures a VM. The zero value is usable.
type Config struct {
	// PoolSize is how many states are created ready at start; default
	// runtime.GOMAXPROCS(0)*2. More are created when more scripts run at
	// once (each waiting on its redis.calls holds one), and kept for reuse
	// up to MaxStates: dropping them would make a busy proxy pay for
	// opening the libraries on most scripts.
	PoolSize int
	// MaxStates bounds the states alive at once (idle and running); a
	// script arriving when all are busy waits for one. 0 means 1024.
	MaxStates int
	// MemoryLimit is the per-script budget in bytes, default 256 MiB. What
	// the libraries allocate on a script's behalf (strings built by the
	// string library, table.concat, cjson, cmsgpack, struct) is charged
	// before it is allocated, cumulatively. Tables, closures and strings
	// the VM itself builds are only caught by a coarse check of the Go
	// heap's live bytes (as of the last GC, process-wide, so other work in
	// the process counts too) every 8000 instructions. Negative means none.
	// Exponential growth through the VM's own operators (s = s .. s) can
	// outrun any check between two ticks: go-lua has no allocator hook.
	MemoryLimit int64
	// TimeLimit is the deadline per script; 0 means none (the caller's
	// context can still cancel a script).
	TimeLimit time.Duration
	// RedisVersion is the upstream's version for redis.REDIS_VERSION and
	// redis.REDIS_VERSION_NUM, default "7.0.15".
	RedisVersion string
	// Logger receives redis.log lines; nil discards them.
	Logger *zap.Logger
	// LogLevel is the lowest redis.log level written (Redis's "verbosity":
	// 0 debug, 1 verbose, 2 notice, 3 warning); default 2 as in Redis.
	LogLevel *int
	// Commands is the command table redis.call checks commands against
	// (existence, arity, noscript, writes from read-only scripts); nil
	// means Redis 7.0.15's own, cmdinfo.Builtin(). The proxy passes the
	// built-in table merged with the upstream's COMMAND reply, so module
	// commands are checked too.
	Commands *cmdinfo.Table
}

// Default limits.
const (
	DefaultMemoryLimit  = 256 << 20
	DefaultRedisVersion = "7.0.15"
	hookInstructions    = 1000 // count hook period: deadline and kill checks
	memoryCheckTicks    = 8    // heap check every 8 hook ticks
	maxCachedScripts    = 4096 // compiled scripts kept per state
)

// Request is one script invocation.
type Request struct {
	Keys, Args [][]byte
	Proto      int  // calling client's protocol, 2 or 3
	ReadOnly   bool // EVAL_RO, EVALSHA_RO, FCALL_RO: write commands are refused
	// AllowNoScript lets the script call commands Redis keeps from
	// scripts, as Redis does after DEBUG SET-DISABLE-DENY-SCRIPTS 1 (its
	// own tests use it to reach DEBUG PROTOCOL from a script).
	AllowNoScript bool
	Caller        Caller
}

// VM runs scripts on a pool of go-lua states. It is safe for concurrent use.
type VM struct {
	cfg        Config
	versionNum int
	logLevel   int
	rand       *stdlib.Rand // math.random: one sequence for all states, as Redis has one
	pool       chan *state

	mu     sync.Mutex
	states map[*state]struct{} // every state alive, for Kill and the watchdog
	closed bool

	stopWatch chan struct{}
	watchDone chan struct{}

	waits poolWaits // scripts that waited for a free state (Stats)
}

// New creates a VM and fills its pool.
func New(cfg Config) (*VM, error) {
	if cfg.PoolSize <= 0 {
		cfg.PoolSize = runtime.GOMAXPROCS(0) * 2
	}
	if cfg.MaxStates <= 0 {
		cfg.MaxStates = 1024
	}
	if cfg.MaxStates < cfg.PoolSize {
		cfg.MaxStates = cfg.PoolSize
	}
	if cfg.MemoryLimit == 0 {
		cfg.MemoryLimit = DefaultMemoryLimit
	} else if cfg.MemoryLimit < 0 {
		cfg.MemoryLimit = 0
	}
	if cfg.RedisVersion == "" {
		cfg.RedisVersion = DefaultRedisVersion
	}
	if cfg.Commands == nil {
		cfg.Commands = cmdinfo.Builtin()
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	num, err := versionNumber(cfg.RedisVersion)
	if err != nil {
		return nil, err
	}
	vm := &VM{
		cfg:        cfg,
		versionNum: num,
		logLevel:   2,
		pool:       make(chan *state, cfg.MaxStates),
		states:     make(map[*state]struct{}),
		rand:       stdlib.NewRand(),
	}
	if cfg.LogLevel != nil {
		vm.logLevel = *cfg.LogLevel
	}
	for i := 0; i < cfg.PoolSize; i++ {
		st, err := vm.newState()
		if err != nil {
			return nil, err
		}
		vm.pool <- st
	}
	if cfg.TimeLimit > 0 {
		vm.stopWatch = make(chan struct{})
		vm.watchDone = make(chan struct{})
		go vm.watchdog()
	}
	return vm, nil
}

// Close stops the watchdog and drops the idle states. Scripts still running
// finish normally; their states are dropped when they return.
func (vm *VM) Close() {
	vm.mu.Lock()
	if vm.closed {
		vm.mu.Unlock()
		return
	}
	vm.closed = true
	vm.mu.Unlock()
	if vm.stopWatch != nil {
		close(vm.stopWatch)
		<-vm.watchDone
	}
	for {
		select {
		case st := <-vm.pool:
			vm.forget(st)
		default:
			return
		}
	}
}

// Kill interrupts every script running now, as SCRIPT KILL does: each one
// ends with Redis's "Script killed by user with SCRIPT KILL..." error, which
// its own pcall cannot catch. It reports how many scripts it interrupted.
func (vm *VM) Kill() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	n := 0
	for st := range vm.states {
		if st.running.Load() {
			st.lim.Interrupt(killedMessage)
			n++
		}
	}
	return n
}

// KillScripts is SCRIPT KILL (eval true) or FUNCTION KILL (eval false):
// it interrupts every script of that kind that has run for at least
// minAge and has not run a write command yet, and returns Redis's reply.
// Younger scripts count as not running: in Redis, SCRIPT KILL waits for a
// script that is not yet busy and then finds nothing to kill. With
// several busy scripts (Redis runs one at a time) the reply is +OK if any
// was killed.
func (vm *VM) KillScripts(eval bool, minAge time.Duration) []byte {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	running, sameKind, killed, wrote := 0, 0, 0, 0
	oldest := time.Now().Add(-minAge).UnixNano()
	for st := range vm.states {
		if !st.running.Load() || st.started.Load() > oldest {
			continue
		}
		running++
		if st.wrote.Load() {
			wrote++ // Redis checks this before the script's kind
		}
		if st.isFunction.Load() == eval {
			continue
		}
		sameKind++
		if !st.wrote.Load() {
			st.lim.Interrupt(killedMessage)
			killed++
		}
	}
	switch {
	case killed > 0:
		return []byte("+OK\r\n")
	case running == 0:
		return []byte("-NOTBUSY No scripts in execution right now.\r\n")
	case sameKind > 0 || wrote > 0:
		return []byte("-UNKILLABLE Sorry the script already executed write commands against the dataset. " +
			"You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n")
	case eval:
		return []byte("-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n")
	default:
		return []byte("-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n")
	}
}

// Running reports how many scripts are running now.
func (vm *VM) Running() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	n := 0
	for st := range vm.states {
		if st.running.Load() {
			n++
		}
	}
	return n
}

// watchdog interrupts scripts past their deadline. The instruction hook
// checks deadlines too, but Go code that runs long without executing Lua
// instructions (pattern matching, encoders) only sees an interrupt.
func (vm *VM) watchdog() {
	defer close(vm.watchDone)
	period := vm.cfg.TimeLimit / 10
	if period < time.Millisecond {
		period = time.Millisecond
	}
	if period > 50*time.Millisecond {
		period = 50 * time.Millisecond
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-vm.stopWatch:
			return
		case now := <-t.C:
			vm.mu.Lock()
			for st := range vm.states {
				if d := st.deadline.Load(); d != 0 && now.UnixNano() > d {
					st.lim.Interrupt(st.timeoutMessage())
				}
			}
			vm.mu.Unlock()
		}
	}
}

func (vm *VM) get(ctx context.Context) (*state, error) {
	select {
	case st := <-vm.pool:
		return st, nil
	default:
	}
	vm.mu.Lock()
	room := len(vm.states) < vm.cfg.MaxStates
	vm.mu.Unlock()
	if room {
		return vm.newState()
	}
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	start := time.Now()
	defer vm.waits.record(start)
	select {
	case st := <-vm.pool:
		return st, nil
	case <-done:
		return nil, ctx.Err()
	}
}

func (vm *VM) put(st *state) {
	if st.broken {
		vm.forget(st)
		return
	}
	vm.mu.Lock()
	closed := vm.closed
	vm.mu.Unlock()
	if closed {
		vm.forget(st)
		return
	}
	select {
	case vm.pool <- st:
	default:
		vm.forget(st)
	}
}

func (vm *VM) register(st *state) {
	vm.mu.Lock()
	vm.states[st] = struct{}{}
	vm.mu.Unlock()
}

func (vm *VM) forget(st *state) {
	vm.mu.Lock()
	delete(vm.states, st)
	vm.mu.Unlock()
}

// Script is a script body with its SHA1, computed once.
type Script struct {
	Body []byte
	sum  [20]byte
	sha  string
}

// NewScript hashes body for Run.
func NewScript(body []byte) *Script {
	s := &Script{Body: body, sum: sha1.Sum(body)}
	s.sha = hex.EncodeToString(s.sum[:])
	return s
}

// SHA returns the script's SHA1 in lower-case hex, as SCRIPT LOAD returns it.
func (s *Script) SHA() string { return s.sha }

// SHA1Hex returns the SHA1 of body in lower-case hex, as Redis names scripts.
func SHA1Hex(body []byte) string {
	sum := sha1.Sum(body)
	return hex.EncodeToString(sum[:])
}

// Eval runs body as Redis's EVAL would and returns the complete raw RESP
// reply, errors included and formatted as Redis formats them.
func (vm *VM) Eval(ctx context.Context, body []byte, req Request) []byte {
	return vm.Run(ctx, NewScript(body), req)
}

// Run is Eval for a script hashed beforehand (the EVALSHA path).
func (vm *VM) Run(ctx context.Context, s *Script, req Request) []byte {
	return vm.AppendRun(nil, ctx, s, req)
}

// AppendRun is Run appending the reply to dst.
func (vm *VM) AppendRun(dst []byte, ctx context.Context, s *Script, req Request) []byte {
	st, err := vm.get(ctx)
	if err != nil {
		return appendError(dst, "ERR luaproxy: no Lua state available: "+err.Error())
	}
	defer vm.put(st)
	return st.run(dst, ctx, s, &req)
}

// Compile compiles s without running it, as Redis's SCRIPT LOAD does, and
// returns nil or the error reply EVAL would give for the same body. The
// compiled chunk stays cached in the state that compiled it.
func (vm *VM) Compile(s *Script) (errReply []byte) {
	st, err := vm.get(context.Background())
	if err != nil {
		return appendError(nil, "ERR luaproxy: no Lua state available: "+err.Error())
	}
	defer vm.put(st)
	if _, ok := st.scripts[s.sum]; ok {
		return nil
	}
	defer st.guard(&errReply, nil)
	if c, ok := st.compile(s); !ok {
		return appendError(nil, c.err)
	}
	return nil
}

var errBadVersion = errors.New("luavm: RedisVersion must look like 7.0.15")

// versionNumber packs "major.minor.patch" as Redis's REDIS_VERSION_NUM.
func versionNumber(v string) (int, error) {
	var parts [3]int
	i := 0
	digits := 0
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
			parts[i] = parts[i]*10 + int(c-'0')
			digits++
		case c == '.' && i < 2 && digits > 0:
			i++
			digits = 0
		default:
			return 0, errBadVersion
		}
	}
	if i != 2 || digits == 0 || parts[0] > 255 || parts[1] > 255 || parts[2] > 255 {
		return 0, errBadVersion
	}
	return parts[0]<<16 | parts[1]<<8 | parts[2], nil
}
