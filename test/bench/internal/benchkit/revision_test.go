package benchkit

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportRevision(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip(err)
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	head, err := Git(root, "rev-parse", "HEAD")
	if err != nil {
		t.Skip("not a git checkout:", err)
	}
	if len(head) != 40 {
		t.Errorf("rev-parse HEAD = %q", head)
	}
	dir := filepath.Join(t.TempDir(), "tree")
	if err := ExportRevision(root, head, dir); err != nil {
		t.Fatal(err)
	}
	want, err := Git(root, "show", "HEAD:go.mod")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || strings.TrimSpace(string(got)) != want {
		t.Errorf("exported go.mod %q, %v; want %q", got, err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "test", "bench", "internal", "benchkit", "benchkit.go")); err != nil {
		t.Error(err)
	}
	if err := ExportRevision(root, head, dir); err == nil {
		t.Error("no error exporting into a directory that exists")
	}
	if err := ExportRevision(root, "no-such-revision", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("no error for an unknown revision")
	}
	if _, err := Git(root, "no-such-command"); err == nil {
		t.Error("Git: no error for a bad command")
	}
}

func TestUntar(t *testing.T) {
	archive := func(entries ...tar.Header) []byte {
		var b bytes.Buffer
		w := tar.NewWriter(&b)
		for _, h := range entries {
			h.Size = int64(len(h.Linkname))
			if h.Typeflag == tar.TypeReg {
				h.Mode = 0o644
			}
			if err := w.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				w.Write([]byte(h.Linkname)) // the file's content, for brevity
			}
		}
		w.Close()
		return b.Bytes()
	}
	dir := t.TempDir()
	ok := archive(
		tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "abc"}},
		tar.Header{Typeflag: tar.TypeDir, Name: "a/"},
		tar.Header{Typeflag: tar.TypeReg, Name: "a/b/c.txt", Linkname: "hello"},
	)
	if err := untar(bytes.NewReader(ok), dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a", "b", "c.txt")); err != nil || string(b) != "hello" {
		t.Errorf("c.txt %q, %v", b, err)
	}
	for _, name := range []string{"../evil", "/abs", "a/../../evil"} {
		bad := archive(tar.Header{Typeflag: tar.TypeReg, Name: name, Linkname: "x"})
		if err := untar(bytes.NewReader(bad), t.TempDir()); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("untar %q: error %v", name, err)
		}
	}
}

func TestStartChildEnv(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	cmd, err := StartChildEnv([]string{"BENCHKIT_PROBE=42"}, sh, "-c", `test "$BENCHKIT_PROBE" = 42`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("child did not see the variable: %v", err)
	}
	if _, err := StartChildEnv(nil, filepath.Join(t.TempDir(), "nothing")); err == nil {
		t.Error("no error starting a missing binary")
	}
}
