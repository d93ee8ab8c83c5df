package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// Viewport is a window size the pages are checked at.
type Viewport struct {
	Name          string
	Width, Height int64
	Mobile        bool
}

// Phone and Desktop are the two widths every page is checked at.
var (
	Phone   = Viewport{Name: "phone", Width: 390, Height: 844, Mobile: true}
	Desktop = Viewport{Name: "desktop", Width: 1280, Height: 900}
)

// Emulate sets the tab's viewport to v (headless Chromium keeps a window at
// least 500 px wide, so a phone's width needs the device metrics override).
func Emulate(ctx context.Context, v Viewport) error {
	_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: v.Width, Height: v.Height, DeviceScaleFactor: 1, Mobile: v.Mobile,
	})
	return err
}

// AxeViolation is one rule axe-core found broken, with the elements that
// break it.
type AxeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"` // minor, moderate, serious, critical
	Help   string `json:"help"`
	Nodes  []struct {
		Target []string `json:"target"`
		HTML   string   `json:"html"`
	} `json:"nodes"`
}

func (v AxeViolation) String() string {
	var where []string
	for _, n := range v.Nodes {
		where = append(where, strings.Join(n.Target, " "))
	}
	return fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(where, ", "))
}

var (
	axeOnce   sync.Once
	axeSource string
	axeErr    error
)

// AxeSource is axe-core's browser build, installed by scripts/axe-core.sh
// (at the version it pins) on first use. It fails the test, never skips,
// when it cannot be had.
func AxeSource(t testing.TB) string {
	t.Helper()
	axeOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			axeErr = err
			return
		}
		out, err := exec.Command("bash", filepath.Join(root, "scripts", "axe-core.sh"), "path").Output()
		if err != nil {
			axeErr = fmt.Errorf("scripts/axe-core.sh path: %w", err)
			return
		}
		b, err := os.ReadFile(strings.TrimSpace(string(out)))
		if err != nil {
			axeErr = err
			return
		}
		axeSource = string(b)
	})
	require.NoError(t, axeErr, "axe-core: run scripts/axe-core.sh install (needs npm)")
	return axeSource
}

// Axe runs axe-core on the tab's current page, with the WCAG 2.x A and AA
// rules and best practices, and returns what it found. The script goes in
// through DevTools, so the page's CSP (script-src 'self') does not block it.
func Axe(t testing.TB, ctx context.Context) []AxeViolation {
	t.Helper()
	src := AxeSource(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](src+";true"))
	require.NoError(t, err, "inject axe-core")
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]AxeViolation](`axe.run(document, {
		runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
		resultTypes: ['violations'],
	}).then((r) => r.violations.map((v) => ({id: v.id, impact: v.impact || '', help: v.help,
		nodes: v.nodes.map((n) => ({target: n.target.map(String), html: n.html.slice(0, 200)}))})))`, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "run axe-core")
	return got
}

// Serious are the violations of impact serious or critical.
func Serious(vs []AxeViolation) []AxeViolation {
	var out []AxeViolation
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			out = append(out, v)
		}
	}
	return out
}

// repoRoot is the module's root: the nearest parent with a go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test's directory")
		}
		dir = parent
	}
}
