package atomicity

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/luaproxy/luaproxy/test/harness"
)

// total adds up MGET's values.
func total(vals []any) int {
	sum := 0
	for _, v := range vals {
		s, _ := v.(string)
		n, _ := strconv.Atoi(s)
		sum += n
	}
	return sum
}

// metric returns the value of an unlabelled series on /metrics.
func metric(t *testing.T, h *harness.Harness, name string) float64 {
	t.Helper()
	resp, err := http.Get(h.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("%s not on /metrics", name)
	return 0
}
