// Package luascript loads a package's embedded Lua scripts, runs them on
// Redis and decodes their cjson replies, so that a reply Redis did not mean
// to send is an error, never a panic.
//
// A package keeps one .lua file per operation in a directory; lib.lua, when
// present, is a prelude prepended to each. Every script answers with one
// cjson object: the operation's result, or {"err": code} when it refuses
// (Refusal).
package luascript

import (
	"context"
	"fmt"
	"io/fs"
	"path"

	"github.com/redis/go-redis/v9"
)

// Script is one loaded Lua script. Run sends EVALSHA and falls back to EVAL
// (which caches the script) on NOSCRIPT: after a Redis restart, a SCRIPT
// FLUSH, or on a Cluster node that never saw it.
type Script struct {
	name string
	rs   *redis.Script
}

// Name is the script's file name, as errors quote it.
func (s *Script) Name() string { return s.name }

// Loader reads the scripts of one directory of an embedded file system.
type Loader struct {
	fsys fs.FS
	dir  string
	lib  string
}

// NewLoader reads dir's lib.lua, if any, the prelude of every script it
// loads.
func NewLoader(fsys fs.FS, dir string) *Loader {
	l := &Loader{fsys: fsys, dir: dir}
	if b, err := fs.ReadFile(fsys, path.Join(dir, "lib.lua")); err == nil {
		l.lib = string(b) + "\n"
	}
	return l
}

// Append adds text to the prelude, after lib.lua: a second fragment that
// every script of the package loads (pkg/queue's history.lua).
func (l *Loader) Append(text string) *Loader {
	l.lib += text + "\n"
	return l
}

// Load returns the script in file name, after the prelude. A missing file
// panics: it is a build mistake, caught by every test.
func (l *Loader) Load(name string) *Script {
	b, err := fs.ReadFile(l.fsys, path.Join(l.dir, name))
	if err != nil {
		panic(fmt.Sprintf("luascript: missing embedded script %s/%s", l.dir, name))
	}
	return &Script{name: name, rs: redis.NewScript(l.lib + string(b))}
}

// Run runs the script once and returns its raw reply.
func (s *Script) Run(ctx context.Context, c redis.Scripter, keys []string, args ...any) (any, error) {
	return s.rs.Run(ctx, c, keys, args...).Result()
}

// Call is one call of a script in RunMany.
type Call struct {
	Keys []string
	Args []any
}

// Pipeliner is what RunMany needs of a client: a pipeline, and a plain run
// for a call that meets NOSCRIPT.
type Pipeliner interface {
	redis.Scripter
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// RunMany runs the script once per call in one round trip and returns each
// call's raw reply and error, in order. A pipelined call sends only EVALSHA;
// a call that meets NOSCRIPT is run again on its own, which loads the script.
func (s *Script) RunMany(ctx context.Context, c Pipeliner, calls []Call) ([]any, []error) {
	vals := make([]any, len(calls))
	errs := make([]error, len(calls))
	if len(calls) == 0 {
		return vals, errs
	}
	cmds := make([]*redis.Cmd, len(calls))
	_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, call := range calls {
			cmds[i] = s.rs.EvalSha(ctx, p, call.Keys, call.Args...)
		}
		return nil
	}) // each command carries its own error
	for i, cmd := range cmds {
		vals[i], errs[i] = cmd.Result()
		if errs[i] != nil && redis.HasErrorPrefix(errs[i], "NOSCRIPT") {
			vals[i], errs[i] = s.Run(ctx, c, calls[i].Keys, calls[i].Args...)
		}
	}
	return vals, errs
}

// Do runs the script once and decodes its reply into a T (see Decode).
func Do[T any](ctx context.Context, c redis.Scripter, s *Script, keys []string, args ...any) (T, error) {
	v, err := s.Run(ctx, c, keys, args...)
	return Decode[T](s, v, err)
}
