package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// CaptureCPUProfile fetches a CPU profile of seconds from the pprof
// endpoint at adminAddr and writes it to file. Until the profile arrives it
// keeps calling load, which should keep the profiled process busy for a
// short while and return; its error ends the capture.
func CaptureCPUProfile(adminAddr string, seconds int, file string, load func() error) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", adminAddr, seconds)
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s: %s", url, resp.Status, data)
		}
		done <- result{data, err}
	}()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return fmt.Errorf("CPU profile: %w", r.err)
			}
			return os.WriteFile(file, r.data, 0o644)
		default:
		}
		if err := load(); err != nil {
			return err
		}
	}
}

// WriteResults stores a run as dir/PREFIX-<time>.json, the fields of data
// plus "time", and dir/PREFIX-<time>.md, what markdown makes of the time
// stamp, and says where they are on standard output.
func WriteResults(dir, prefix string, data map[string]any, markdown func(stamp string) string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	fields := make(map[string]any, len(data)+1)
	for k, v := range data {
		fields[k] = v
	}
	fields["time"] = stamp
	j, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(dir, prefix+"-"+stamp+".json")
	mdPath := filepath.Join(dir, prefix+"-"+stamp+".md")
	if err := os.WriteFile(jsonPath, append(j, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(mdPath, []byte(markdown(stamp)), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nresults: %s, %s\n", jsonPath, mdPath)
	return nil
}

// CodeBlock returns text as a fenced markdown code block; text ends in a
// newline.
func CodeBlock(text string) string {
	return "```\n" + text + "```\n"
}
