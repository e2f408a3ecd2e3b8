package main

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The image recipe and its build context. CI cannot pull base images, so
// this test checks the recipe's structure and .ci/run runs its build
// stage's go build command line.
const (
	dockerfilePath   = "../../Dockerfile"
	dockerignorePath = "../../.dockerignore"
	goModPath        = "../../go.mod"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY ...
	args string
	line int
}

// stage is one FROM and the instructions after it.
type stage struct {
	image, name string
	body        []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows the subset of
// the syntax luaproxy's Dockerfile uses: comments, backslash
// continuations, one instruction per logical line.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages  []stage
		pending strings.Builder
		start   int
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if pending.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		cmd, args, _ := strings.Cut(pending.String(), " ")
		pending.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.Join(strings.Fields(args), " "), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if pending.Len() > 0 {
		t.Fatalf("%s ends in a continuation line", path)
	}
	return stages
}

// find returns the stage's instructions of one kind.
func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, dockerfilePath)
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	t.Run("build stage", func(t *testing.T) {
		if build.name == "" {
			t.Errorf("the build stage has no name (FROM ... AS build)")
		}
		if !strings.HasPrefix(build.image, "golang:") {
			t.Fatalf("build stage FROM %s, want a golang image", build.image)
		}
		// The image's Go must be the one go.mod asks for.
		mod, err := os.ReadFile(goModPath)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
		if m == nil || !strings.HasPrefix(strings.TrimPrefix(build.image, "golang:"), string(m[1])) {
			t.Errorf("build stage FROM %s does not match go.mod's go %s", build.image, m[1])
		}
		args := map[string]bool{}
		for _, a := range build.find("ARG") {
			name, _, _ := strings.Cut(a.args, "=")
			args[name] = true
		}
		cmd := buildCommand(t, build)
		for _, want := range []string{"CGO_ENABLED=0 ", "go build ", "-trimpath", " ./cmd/proxy"} {
			if !strings.Contains(cmd, want) {
				t.Errorf("build command lacks %q: %s", want, cmd)
			}
		}
		// Version stamping through build args, into the variables
		// --version prints.
		_, _ = version, commit // they must exist: the -X flags name them
		for v, arg := range map[string]string{"main.version": "VERSION", "main.commit": "COMMIT"} {
			if !strings.Contains(cmd, "-X "+v+"=${"+arg+"}") {
				t.Errorf("build command does not stamp %s from ${%s}: %s", v, arg, cmd)
			}
			if !args[arg] {
				t.Errorf("build stage has no ARG %s", arg)
			}
		}
	})

	t.Run("runtime stage", func(t *testing.T) {
		distroless := strings.HasPrefix(final.image, "gcr.io/distroless/static") || strings.HasPrefix(final.image, "gcr.io/distroless/base")
		if final.image == "scratch" {
			// scratch has no CA certificates: they must be copied in.
			if !slices.ContainsFunc(final.find("COPY"), func(in instruction) bool { return strings.Contains(in.args, "ca-certificates") }) {
				t.Errorf("FROM scratch without CA certificates: rediss:// upstreams cannot be verified")
			}
		} else if !distroless {
			t.Errorf("runtime stage FROM %s, want distroless or scratch", final.image)
		}
		copies := final.find("COPY")
		if !slices.ContainsFunc(copies, func(in instruction) bool {
			return strings.HasPrefix(in.args, "--from="+build.name+" ") && strings.Contains(in.args, "luaproxy")
		}) {
			t.Errorf("runtime stage does not copy the binary from the %s stage", build.name)
		}

		users := final.find("USER")
		if len(users) == 0 {
			t.Fatal("no USER: the image would run as root")
		}
		user, _, _ := strings.Cut(users[len(users)-1].args, ":")
		if user == "root" || user == "0" || user == "" {
			t.Errorf("USER %s is root", users[len(users)-1].args)
		}

		exposed := map[string]bool{}
		for _, in := range final.find("EXPOSE") {
			for _, p := range strings.Fields(in.args) {
				exposed[strings.TrimSuffix(p, "/tcp")] = true
			}
		}
		for _, p := range []string{"6380", "9180"} {
			if !exposed[p] {
				t.Errorf("port %s is not EXPOSEd", p)
			}
		}
		// The listeners the image sets must be the exposed ports, on
		// every address (a container's 127.0.0.1 is unreachable).
		env := map[string]string{}
		for _, in := range final.find("ENV") {
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
		for _, k := range []string{"LUAPROXY_LISTEN", "LUAPROXY_ADMIN_LISTEN"} {
			host, port, _ := strings.Cut(env[k], ":")
			if host != "0.0.0.0" || !exposed[port] {
				t.Errorf("ENV %s=%q, want 0.0.0.0 and an EXPOSEd port", k, env[k])
			}
		}

		eps := final.find("ENTRYPOINT")
		if len(eps) != 1 || !strings.HasPrefix(eps[0].args, `["`) {
			t.Errorf("want one exec-form ENTRYPOINT [\"...\"] (signals reach luaproxy, no shell needed), got %v", eps)
		}
	})

	t.Run("no secrets", func(t *testing.T) {
		secretName := regexp.MustCompile(`(?i)PASSWORD|PASSWD|TOKEN|SECRET|CREDENTIAL|PRIVATE_KEY|API_KEY`)
		secretFile := regexp.MustCompile(`(?i)(^|/)(\.env(\..*)?|.*\.pem|.*\.key|.*\.p12|id_rsa.*|\.netrc|\.npmrc|\.git-credentials)$`)
		credentialsURL := regexp.MustCompile(`rediss?://[^ /]*:[^ /]*@`)
		for _, s := range stages {
			for _, in := range s.body {
				switch in.cmd {
				case "ENV", "ARG", "LABEL":
					for _, kv := range strings.Fields(in.args) {
						if k, _, _ := strings.Cut(kv, "="); secretName.MatchString(k) {
							t.Errorf("line %d: %s %s looks like a secret: it would stay in the image's history", in.line, in.cmd, k)
						}
					}
				case "COPY", "ADD":
					for _, src := range strings.Fields(in.args) {
						if !strings.HasPrefix(src, "--") && secretFile.MatchString(src) {
							t.Errorf("line %d: %s of %s puts a secret into the image", in.line, in.cmd, src)
						}
					}
				}
				if credentialsURL.MatchString(in.args) {
					t.Errorf("line %d: a URL with credentials", in.line)
				}
			}
		}
		// COPY . . copies the build context: secret files must not be
		// in it.
		ignore, err := os.ReadFile(dockerignorePath)
		if err != nil {
			t.Fatalf("no .dockerignore: COPY . . would send every file, secrets included: %v", err)
		}
		lines := strings.Split(string(ignore), "\n")
		for _, want := range []string{".git", ".env", "*.pem", "*.key"} {
			if !slices.Contains(lines, want) {
				t.Errorf(".dockerignore does not exclude %s", want)
			}
		}
	})
}

// buildCommand returns the build stage's go build command line: the one
// RUN with "go build", which .ci/run runs as it stands.
func buildCommand(t *testing.T, s stage) string {
	t.Helper()
	var cmds []string
	for _, in := range s.find("RUN") {
		if strings.Contains(in.args, "go build") {
			cmds = append(cmds, in.args)
		}
	}
	if len(cmds) != 1 {
		t.Fatalf("build stage has %d RUN go build lines, want 1 (.ci/run runs it)", len(cmds))
	}
	return cmds[0]
}

func TestParseDockerfile(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/Dockerfile"
	src := "ARG BASE=x\n# comment\nFROM golang:1.26 AS build\nRUN a \\\n    b \\\n  c\n\nFROM scratch\nUSER 1000\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(t, path)
	if len(stages) != 2 || stages[0].name != "build" || stages[1].image != "scratch" {
		t.Fatalf("stages = %+v", stages)
	}
	if got := stages[0].body[0]; got.cmd != "RUN" || got.args != "a b c" || got.line != 4 {
		t.Errorf("RUN = %+v, want args \"a b c\" at line 4", got)
	}
	if got := stages[1].body[0]; got.cmd != "USER" || got.args != "1000" {
		t.Errorf("USER = %+v", got)
	}
}
