// Package settings reads the configuration of the waitroom binaries, all
// the same way: every setting is a flag that defaults to an environment
// variable, then to a default. A flag on the command line wins; an empty
// (or all-space) variable counts as unset, so VAR= in a compose file means
// the default. Values are trimmed. -help lists every flag with its
// variable and default, and never a value read from the environment (it
// may be a secret).
//
// A binary declares its settings on a Set, parses, then checks ranges with
// Set.Errorf, whose messages name the flag and its variable:
//
//	s := settings.New("admitter", "Runs the ticks of every room.", getenv)
//	poll := s.Duration("poll", "ADMITTER_POLL", 50*time.Millisecond, "longest sleep between looks at the rooms")
//	if err := s.Parse(args, stdout); err != nil {
//		return err
//	}
//	if *poll <= 0 {
//		return s.Errorf("poll", "must be positive, got %s", *poll)
//	}
package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrUsage marks a configuration that cannot be used: an unknown flag, a
// value of the wrong type, or one out of range. Main exits 2 on it.
var ErrUsage = errors.New("bad configuration")

// usageError is an ErrUsage with what was wrong, and a pointer to -help.
type usageError struct{ err error }

func (e usageError) Error() string       { return e.err.Error() + " (see -help)" }
func (e usageError) Unwrap() []error     { return []error{e.err, ErrUsage} }
func usage(err error) error              { return usageError{err} }
func usagef(f string, args ...any) error { return usage(fmt.Errorf(f, args...)) }

// Set is the settings of one binary.
type Set struct {
	name, about string
	getenv      func(string) string
	fs          *flag.FlagSet
	list        []*setting
	byFlag      map[string]*setting
}

// setting is one flag, the variable it defaults from and its default.
type setting struct {
	Setting
	value flag.Value
}

// Setting describes one setting, as -help and the docs list it.
type Setting struct {
	Flag, Env string
	// Default is the default as written on the command line, "" for unset.
	Default string
	// Kind is what the value is: STRING, DURATION, INT, NUMBER, BOOL,
	// LIST or LEVEL.
	Kind  string
	Usage string
}

// New returns an empty Set for the binary name, described by about (the
// first lines of -help), reading the environment through getenv (os.Getenv).
func New(name, about string, getenv func(string) string) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Parse reports errors itself, and -help
	fs.Usage = func() {}
	return &Set{name: name, about: about, getenv: getenv, fs: fs, byFlag: map[string]*setting{}}
}

func (s *Set) add(name, env, def, kind, usage string, v flag.Value) {
	st := &setting{Setting: Setting{Flag: name, Env: env, Default: def, Kind: kind, Usage: usage}, value: v}
	s.list = append(s.list, st)
	s.byFlag[name] = st
	s.fs.Var(v, name, usage)
}

// String is a string setting; "" means unset.
func (s *Set) String(name, env, def, usage string) *string {
	v := newValue(def, func(t string) (string, error) { return t, nil })
	s.add(name, env, def, "STRING", usage, v)
	return v.p
}

// Duration is a duration setting (300ms, 1m30s).
func (s *Set) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	v := newValue(def, parseDuration)
	s.add(name, env, durationText(def), "DURATION", usage, v)
	return v.p
}

// Int is an integer setting.
func (s *Set) Int(name, env string, def int, usage string) *int {
	v := newValue(def, parseInt)
	s.add(name, env, strconv.Itoa(def), "INT", usage, v)
	return v.p
}

// Float is a finite number setting (NaN and ±Inf are refused).
func (s *Set) Float(name, env string, def float64, usage string) *float64 {
	v := newValue(def, parseFloat)
	s.add(name, env, strconv.FormatFloat(def, 'g', -1, 64), "NUMBER", usage, v)
	return v.p
}

// Bool is a true/false setting (also 1/0, t/f). On the command line, -flag
// alone means true.
func (s *Set) Bool(name, env string, def bool, usage string) *bool {
	v := newValue(def, parseBool)
	v.boolFlag = true
	s.add(name, env, strconv.FormatBool(def), "BOOL", usage, v)
	return v.p
}

// List is a comma-separated list; items are trimmed and empty ones dropped.
func (s *Set) List(name, env, def, usage string) *[]string {
	v := newValue(SplitList(def), func(t string) ([]string, error) { return SplitList(t), nil })
	s.add(name, env, def, "LIST", usage, v)
	return v.p
}

// Level is a log level: debug, info, warn or error.
func (s *Set) Level(name, env string, def slog.Level, usage string) *slog.Level {
	v := newValue(def, parseLevel)
	s.add(name, env, strings.ToLower(def.String()), "LEVEL", usage, v)
	return v.p
}

// Settings lists the settings in the order they were declared.
func (s *Set) Settings() []Setting {
	out := make([]Setting, len(s.list))
	for i, st := range s.list {
		out[i] = st.Setting
	}
	return out
}

// Parse reads args, then for each flag not given there its variable. On
// -help it writes the help to help and returns flag.ErrHelp. Any other
// refusal wraps ErrUsage and names the flag, or the variable and its value.
func (s *Set) Parse(args []string, help io.Writer) error {
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			s.PrintHelp(help)
			return err
		}
		return usage(err)
	}
	if s.fs.NArg() > 0 {
		return usagef("unexpected arguments %q", s.fs.Args())
	}
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, st := range s.list {
		if given[st.Flag] || st.Env == "" {
			continue
		}
		v := strings.TrimSpace(s.getenv(st.Env))
		if v == "" {
			continue
		}
		if err := st.value.Set(v); err != nil {
			return usagef("%s=%q: %w", st.Env, v, err)
		}
	}
	return nil
}

// Errorf is a refusal of the setting flag's value, naming the flag and its
// variable ("-poll (ADMITTER_POLL) must be positive"). It wraps ErrUsage.
func (s *Set) Errorf(name, format string, args ...any) error {
	return usagef("%s %s", s.Name(name), fmt.Sprintf(format, args...))
}

// Name is how messages name a setting: "-flag (VARIABLE)".
func (s *Set) Name(name string) string {
	st, ok := s.byFlag[name]
	if !ok || st.Env == "" {
		return "-" + name
	}
	return "-" + name + " (" + st.Env + ")"
}

// PrintHelp writes the -help text: about, then every flag with its
// variable, default and meaning.
func (s *Set) PrintHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s [flags]\n\n", s.name)
	if s.about != "" {
		fmt.Fprintln(w, strings.TrimSpace(s.about))
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Each flag defaults to its environment variable (empty counts as unset), then to the default shown.")
	fmt.Fprintln(w)
	for _, st := range s.list {
		def := st.Default
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(w, "  -%s %s\n", st.Flag, st.Kind)
		if st.Env != "" {
			fmt.Fprintf(w, "      env %s, default %s\n", st.Env, def)
		} else {
			fmt.Fprintf(w, "      default %s\n", def)
		}
		fmt.Fprintf(w, "      %s\n", st.Usage)
	}
}

// SplitList splits a comma-separated list, each item trimmed, empty ones
// dropped.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// durationText writes a default as one would type it: 5m, not 5m0s.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// value is the flag.Value of a setting of type T: Set trims the text and
// parses it, whose error says what is wanted.
type value[T any] struct {
	p        *T
	parse    func(string) (T, error)
	boolFlag bool // -flag alone means true
}

func newValue[T any](def T, parse func(string) (T, error)) *value[T] {
	p := new(T)
	*p = def
	return &value[T]{p: p, parse: parse}
}

func (v *value[T]) Set(s string) error {
	x, err := v.parse(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

func (v *value[T]) String() string {
	if v == nil || v.p == nil { // flag asks a zero Value
		return ""
	}
	return fmt.Sprint(*v.p)
}

func (v *value[T]) IsBoolFlag() bool { return v.boolFlag }

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration such as 300ms, 30s or 5m")
	}
	return d, nil
}

func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errors.New("want an integer")
	}
	return n, nil
}

func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("want a finite number")
	}
	return f, nil
}

func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, errors.New("want true or false")
	}
	return b, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, errors.New("want debug, info, warn or error")
	}
	return l, nil
}
