package proxy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/luaproxy/luaproxy/luavm"
	"github.com/luaproxy/luaproxy/registry"
)

// LoadDir loads every *.lua file of dir as a function library (the file is
// the FUNCTION LOAD payload, "#!lua name=..." line included), replacing a
// loaded library of the same name. A file that does not load is logged
// with its name and the line of the error and skipped; the others load.
// It returns how many files loaded and how many failed; err is only about
// reading the directory.
func (f *Functions) LoadDir(ctx context.Context, dir string) (loaded, failed int, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.lua"))
	if err != nil {
		return 0, 0, fmt.Errorf("functions dir %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return 0, 0, fmt.Errorf("functions dir: %w", err)
	}
	sort.Strings(paths)
	for _, path := range paths {
		code, err := os.ReadFile(path)
		if err != nil {
			f.log.Error("function library not loaded", zap.String("file", path), zap.Error(err))
			failed++
			continue
		}
		if msg := f.loadFile(ctx, code); msg != "" {
			fields := []zap.Field{zap.String("file", path), zap.String("error", msg)}
			if line, ok := luavm.ErrorLine(msg); ok {
				fields = append(fields, zap.Int("line", line))
			}
			f.log.Error("function library not loaded", fields...)
			failed++
			continue
		}
		loaded++
	}
	f.log.Info("function libraries loaded from directory", zap.String("dir", dir), zap.Int("loaded", loaded), zap.Int("failed", failed))
	return loaded, failed, nil
}

// loadFile is FUNCTION LOAD REPLACE of code; it returns the error text, or
// "" once the library is loaded.
func (f *Functions) loadFile(ctx context.Context, code []byte) string {
	lib, errReply := f.vm.LoadLibrary(code)
	if errReply == nil {
		errReply = f.update(ctx, func(cur *librarySet) (*librarySet, []byte) {
			next, msg := cur.join([]*luavm.Library{lib}, true)
			if msg != "" {
				return nil, funcError(msg)
			}
			return next, nil
		})
	}
	if errReply == nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(errReply)), "-ERR ")
}

// ImportDump adds the libraries of a FUNCTION DUMP payload, such as one
// taken from the upstream when luaproxy replaces a Redis's own functions.
// Unlike FUNCTION RESTORE it keeps going past a bad library: a library
// that is already loaded, does not compile or has a function that another
// library has is skipped and logged. It fails only on a payload that
// cannot be read.
func (f *Functions) ImportDump(ctx context.Context, payload []byte) (imported, skipped []string, err error) {
	codes, err := registry.DecodeDump(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("import functions: %w", err)
	}
	for _, code := range codes {
		lib, errReply := f.vm.LoadLibrary([]byte(code))
		if errReply == nil {
			errReply = f.update(ctx, func(cur *librarySet) (*librarySet, []byte) {
				next, msg := cur.join([]*luavm.Library{lib}, false)
				if msg != "" {
					return nil, funcError(msg)
				}
				return next, nil
			})
		}
		name, _ := libraryName([]byte(code))
		if errReply != nil {
			f.log.Warn("function library not imported", zap.String("library", name),
				zap.String("error", strings.TrimSpace(string(errReply))))
			skipped = append(skipped, name)
			continue
		}
		imported = append(imported, lib.Name)
	}
	return imported, skipped, nil
}

// ImportUpstream copies the upstream's own function libraries into f: it
// runs FUNCTION DUMP on a connection of its own, dialled as the sessions'
// are, and imports the payload with ImportDump. An upstream that has no
// FUNCTION command (older than 7.0, or renamed away) has nothing to
// import and is not an error.
func (f *Functions) ImportUpstream(ctx context.Context, srv *Server) error {
	payload, ok, err := srv.upstreamFunctionDump()
	if err != nil {
		return err
	}
	if !ok {
		f.log.Info("the upstream has no FUNCTION command; no libraries to import")
		return nil
	}
	imported, skipped, err := f.ImportDump(ctx, payload)
	if err != nil {
		return err
	}
	f.log.Info("function libraries imported from the upstream",
		zap.Strings("imported", imported), zap.Strings("skipped", skipped))
	return nil
}

// upstreamFunctionDump returns the upstream's FUNCTION DUMP payload, or
// ok false if the upstream does not know the command.
func (s *Server) upstreamFunctionDump() (payload []byte, ok bool, err error) {
	c, err := s.dialUpstream()
	if err != nil {
		return nil, false, fmt.Errorf("upstream FUNCTION DUMP: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(s.cfg.UpstreamDialTimeout))
	if _, err := c.Write(appendCommand(nil, [][]byte{[]byte("FUNCTION"), []byte("DUMP")})); err != nil {
		return nil, false, fmt.Errorf("upstream FUNCTION DUMP: %w", err)
	}
	var reply byteSink
	if err := copyReply(&reply, newBufioReader(c, 64<<10)); err != nil {
		return nil, false, fmt.Errorf("upstream FUNCTION DUMP: %w", err)
	}
	switch {
	case bytes.HasPrefix(reply, []byte("-ERR unknown command")):
		return nil, false, nil
	case len(reply) > 0 && reply[0] == '-':
		return nil, false, fmt.Errorf("upstream FUNCTION DUMP: %s", sanitize(bytes.TrimRight(reply[1:], "\r\n")))
	}
	i := bytes.Index(reply, []byte("\r\n"))
	if len(reply) == 0 || reply[0] != '$' || i < 0 || len(reply) < i+4 {
		return nil, false, fmt.Errorf("upstream FUNCTION DUMP: unexpected reply %q", truncate(reply))
	}
	return reply[i+2 : len(reply)-2], true, nil
}
