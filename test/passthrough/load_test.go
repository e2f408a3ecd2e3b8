package passthrough

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/luaproxy/luaproxy/test/harness"
)

// TestBigAndBinaryValues checks large bulk strings and all 256 byte values
// in keys, values and fields.
func TestBigAndBinaryValues(t *testing.T) {
	h := harness.Start(t)
	var all strings.Builder
	for i := 0; i < 256; i++ {
		all.WriteByte(byte(i))
	}
	bin := all.String()
	mb := strings.Repeat("0123456789abcdef", (1<<20)/16+1000) // a bit over 1 MB
	big := strings.Repeat("x", 20<<20)
	h.Run(t,
		scenario{Name: "binary", Steps: []step{
			cmd("SET", bin, bin), cmd("GET", bin), cmd("STRLEN", bin), cmd("EXISTS", bin), cmd("HSET", "h", bin, bin+bin),
			cmd("HGET", "h", bin), cmd("RPUSH", "l", bin, "\r\n", "$-1\r\n", "*1\r\n"), cmd("LRANGE", "l", "0", "-1"),
			cmd("SET", "crlf\r\nkey", "*2\r\n$1\r\n"), cmd("GET", "crlf\r\nkey"), cmd("ECHO", ""), cmd("SET", "", ""), cmd("GET", ""),
			cmd("DUMP", bin),
		}},
		scenario{Name: "over 1 MB", Steps: []step{
			cmd("SET", "mb", mb), cmd("GET", "mb"), cmd("STRLEN", "mb"), cmd("APPEND", "mb", mb), cmd("GETRANGE", "mb", "-10", "-1"),
			{Batch: [][]string{{"GET", "mb"}, {"GET", "mb"}, {"PING"}}},
		}},
		scenario{Name: "20 MB", Steps: []step{
			cmd("SET", "big", big), cmd("STRLEN", "big"), {Cmd: []string{"GET", "big"}, Timeout: time.Minute}, cmd("DEL", "big"),
		}},
	)
}

// TestLongPipeline sends 10,000 commands in one write and compares every
// reply.
func TestLongPipeline(t *testing.T) {
	h := harness.Start(t)
	var batch [][]string
	for i := 0; len(batch) < 10000; i++ {
		k := "k" + strconv.Itoa(i%500)
		switch i % 4 {
		case 0:
			batch = append(batch, []string{"SET", k, strconv.Itoa(i)})
		case 1:
			batch = append(batch, []string{"GET", k})
		case 2:
			batch = append(batch, []string{"INCR", "counter"})
		case 3:
			batch = append(batch, []string{"RPUSH", "list", k})
		}
	}
	batch = append(batch[:9999], []string{"LLEN", "list"})
	h.Diff(t, []step{{Batch: batch, Timeout: time.Minute}, cmd("GET", "counter")})
}

// TestConcurrentClients runs 200 clients at once, each with a workload
// whose result it can verify; the shared counter must add up.
func TestConcurrentClients(t *testing.T) {
	h := harness.Start(t)
	const clients, rounds = 200, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- clientWorkload(t, h.ProxyAddr, i, rounds)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	c := h.DialProxy(t)
	want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(clients*rounds)), clients*rounds)
	if got := c.MustDo(t, "GET", "shared"); string(got) != want {
		t.Errorf("shared counter = %q, want %q", got, want)
	}
}

func clientWorkload(t *testing.T, addr string, id, rounds int) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	key := "client:" + strconv.Itoa(id)
	for r := 1; r <= rounds; r++ {
		val := fmt.Sprintf("%d-%d", id, r)
		replies, err := c.pipeline([][]string{{"INCR", "shared"}, {"SET", key, val}, {"GET", key}, {"INCR", key + ":n"}})
		if err != nil {
			return fmt.Errorf("client %d round %d: %w", id, r, err)
		}
		if !bytes.HasPrefix(replies[0], []byte(":")) || string(replies[1]) != "+OK\r\n" ||
			string(replies[2]) != fmt.Sprintf("$%d\r\n%s\r\n", len(val), val) || string(replies[3]) != fmt.Sprintf(":%d\r\n", r) {
			return fmt.Errorf("client %d round %d: replies %q", id, r, replies)
		}
	}
	return nil
}
