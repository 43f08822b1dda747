package console_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/nimbus-cloud/nimbus/internal/console"
	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
	"github.com/nimbus-cloud/nimbus/internal/testenv"
)

// What the console bench measures, per path and session count.
const (
	benchBulkFor  = 2 * time.Second // bulk: source -> client, per cell
	benchChunk    = 64 << 10        // the source's write size and the client's read size
	benchPeriod   = 251             // the bulk stream is byte(i % 251): checkable at any offset
	benchEchoSize = 64              // one round trip: 64 bytes out, the same 64 back
	benchEchoWarm = 20              // round trips per session not counted
	websockifyBin = "/usr/bin/websockify"
)

var benchSessions = []int{1, 16}

// benchRounds is the number of counted round trips per session.
func benchRounds(sessions int) int {
	if sessions == 1 {
		return 2000
	}
	return 500
}

var benchPattern = func() []byte {
	b := make([]byte, benchPeriod+benchChunk)
	for i := range b {
		b[i] = byte(i % benchPeriod)
	}
	return b
}()

// TestBenchConsoleProxy is `make bench`'s console part, skipped unless
// NIMBUS_BENCH=1. One TCP source on 127.0.0.1 (the VNC server's place)
// is reached four ways: directly, through a plain TCP relay written here
// (the cost of any extra hop), through the Nimbus proxy, and through
// websockify (what nova-novncproxy runs). Each relay and proxy runs as
// its own process, as in a deployment, so that none shares a Go runtime
// with the clients and the source: the plain relay is this test binary
// run again (TestBenchRelayHelper), the Nimbus proxy is bin/nimbus
// -console-only (from NIMBUS_TEST_BIN_DIR, else built for the test),
// websockify is /usr/bin/websockify. The source and the clients share
// this process, on every path alike. For each path, at 1 and 16
// concurrent sessions, it measures bulk throughput source -> client (a
// VNC screen's direction) and the round trip of a 64-byte message the
// source echoes. BENCH_REPEAT=n measures the whole set n times and
// prints the median of each cell. It fails only when a path does not
// work (refused, wrong bytes); missed targets are reported, not asserted.
func TestBenchConsoleProxy(t *testing.T) {
	if os.Getenv("NIMBUS_BENCH") != "1" {
		t.Skip("set NIMBUS_BENCH=1 (make bench) to run the console proxy benchmark")
	}
	repeat := 1
	if v := os.Getenv("BENCH_REPEAT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BENCH_REPEAT must be a positive integer, not %q", v)
		}
		repeat = n
	}

	src := startBenchSource(t)
	relay := startPlainRelay(t, src.addr())

	// The proxy is the real binary (-console-only, as a deployment that
	// puts it on its own machine runs it); the tokens it redeems are
	// issued here into the same Redis, under the same prefix.
	rdb, prefix := testenv.Redis(t)
	tokens := &console.Tokens{RDB: rdb, Prefix: prefix}
	nimbusURL := "ws://" + startNimbusProxy(t, testenv.RedisURL(t), prefix) + "/websockify?token="

	paths := []benchPath{
		{name: "direct", dial: func() (benchConn, error) { return net.Dial("tcp", src.addr()) }},
		{name: "plain relay", dial: func() (benchConn, error) { return net.Dial("tcp", relay) }},
		{name: "nimbus proxy", dial: func() (benchConn, error) {
			tok, err := tokens.Issue(context.Background(), console.Target{InstanceID: "i-bench", Addr: src.addr()})
			if err != nil {
				return nil, err
			}
			return dialWS(nimbusURL + tok)
		}},
	}
	wsf := startWebsockify(t, src.addr())
	if wsf != "" {
		paths = append(paths, benchPath{name: "websockify", dial: func() (benchConn, error) { return dialWS("ws://" + wsf + "/") }})
	}

	// One short unrecorded pass so that the first cell does not pay for
	// warming up (the runtime's heap, the proxy's pools, websockify).
	for _, p := range paths {
		if _, err := benchBulk(p, 1, 300*time.Millisecond); err != nil {
			t.Fatalf("%s: bulk: %v", p.name, err)
		}
		src.waitIdle(t)
	}

	// results[path][sessions] holds one cell per run.
	results := map[string]map[int][]benchCell{}
	for r := 1; r <= repeat; r++ {
		fmt.Fprintf(os.Stderr, "console bench: run %d/%d\n", r, repeat)
		for _, n := range benchSessions {
			for _, p := range paths {
				mbps, err := benchBulk(p, n, benchBulkFor)
				if err != nil {
					t.Fatalf("%s, %d sessions: bulk: %v", p.name, n, err)
				}
				src.waitIdle(t)
				rtts, err := benchEcho(p, n, benchRounds(n))
				if err != nil {
					t.Fatalf("%s, %d sessions: echo: %v", p.name, n, err)
				}
				src.waitIdle(t)
				if results[p.name] == nil {
					results[p.name] = map[int][]benchCell{}
				}
				results[p.name][n] = append(results[p.name][n], benchCell{mbps, percentile(rtts, 50), percentile(rtts, 99)})
			}
		}
	}

	med := func(name string, n int) benchCell {
		cs := results[name][n]
		var c benchCell
		c.mbps = median(cs, func(c benchCell) float64 { return c.mbps })
		c.p50 = median(cs, func(c benchCell) float64 { return c.p50 })
		c.p99 = median(cs, func(c benchCell) float64 { return c.p99 })
		return c
	}
	runs := "1 run"
	if repeat > 1 {
		runs = fmt.Sprintf("median of %d runs", repeat)
	}
	fmt.Printf("\nconsole proxy bench  %s  nproc=%d  %s\n", time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version())
	fmt.Printf("127.0.0.1, one TCP source; bulk source -> client %v per cell (64 KiB writes, MB = 10^6 B); echo 64 B: %d round trips per session at 1 session, %d at 16 (%s)\n",
		benchBulkFor, benchRounds(1), benchRounds(16), runs)
	fmt.Printf("%-15s %8s %10s %12s %12s\n", "path", "sessions", "MB/s", "rtt p50 us", "rtt p99 us")
	for _, n := range benchSessions {
		for _, p := range paths {
			c := med(p.name, n)
			fmt.Printf("%-15s %8d %10.1f %12.1f %12.1f\n", p.name, n, c.mbps, c.p50, c.p99)
		}
	}
	fmt.Printf("each relay/proxy runs as its own process: plain relay = this test binary re-run, nimbus proxy = %s -console-only, websockify = %s; source and clients share the test process\n",
		nimbusBin, websockifyBin)
	if wsf == "" {
		fmt.Printf("websockify: %s is not installed, not measured\n", websockifyBin)
	}

	fmt.Printf("\nratios\n")
	for _, n := range benchSessions {
		nb, pr, dr := med("nimbus proxy", n), med("plain relay", n), med("direct", n)
		fmt.Printf("%2d session(s): nimbus/plain relay MB/s %.2fx, nimbus-direct rtt p50 %+.1f us, p99 %+.1f us",
			n, nb.mbps/pr.mbps, nb.p50-dr.p50, nb.p99-dr.p99)
		if wsf != "" {
			ws := med("websockify", n)
			fmt.Printf(", nimbus/websockify MB/s %.2fx, rtt p50 %.2fx, p99 %.2fx", nb.mbps/ws.mbps, nb.p50/ws.p50, nb.p99/ws.p99)
		}
		fmt.Println()
	}

	// The verdict ends each line: bench.sh drops lines that start with
	// PASS (go test's own).
	fmt.Printf("\ntargets\n")
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	for _, n := range benchSessions {
		r := med("nimbus proxy", n).mbps / med("plain relay", n).mbps
		fmt.Printf("(a) nimbus throughput >= 0.9x plain relay at %d session(s): %.2fx  %s\n", n, r, verdict(r >= 0.9))
	}
	if wsf != "" {
		r := med("nimbus proxy", 16).mbps / med("websockify", 16).mbps
		fmt.Printf("(b) nimbus throughput >= 1.5x websockify at 16 sessions: %.2fx  %s\n", r, verdict(r >= 1.5))
	} else {
		fmt.Printf("(b) nimbus throughput >= 1.5x websockify at 16 sessions: websockify not installed  n/a\n")
	}
	d := med("nimbus proxy", 1).p50 - med("direct", 1).p50
	fmt.Printf("(c) nimbus rtt p50 - direct p50 at 1 session <= 0.1 ms: %.3f ms  %s\n", d/1000, verdict(d <= 100))
	for _, n := range benchSessions {
		if wsf == "" {
			fmt.Printf("(d) nimbus rtt below websockify's at %d session(s): websockify not installed  n/a\n", n)
			continue
		}
		nb, ws := med("nimbus proxy", n), med("websockify", n)
		fmt.Printf("(d) nimbus rtt below websockify's at %d session(s): p50 %.1f vs %.1f us, p99 %.1f vs %.1f us  %s\n",
			n, nb.p50, ws.p50, nb.p99, ws.p99, verdict(nb.p50 < ws.p50 && nb.p99 < ws.p99))
	}
}

type benchCell struct{ mbps, p50, p99 float64 }

// benchConn is a byte stream to the source: a TCP connection, or a
// websocket whose binary messages carry the stream.
type benchConn interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	Close() error
}

type benchPath struct {
	name string
	dial func() (benchConn, error)
}

// wsStream reads a websocket's binary messages as one byte stream (a
// relay may split or merge the source's writes) and writes each Write as
// one binary message, as noVNC does.
type wsStream struct {
	*websocket.Conn
	r io.Reader
}

// dialWS connects as noVNC does, asking for the "binary" subprotocol:
// the Nimbus proxy requires it, and websockify 0.10 accepts it (its
// select_subprotocol picks "binary" when offered; without one it would
// speak binary frames too).
func dialWS(url string) (benchConn, error) {
	d := websocket.Dialer{Subprotocols: []string{"binary"}, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: benchChunk, WriteBufferSize: 4096}
	c, resp, err := d.Dial(url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: %v (HTTP %d)", url, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s: %v", url, err)
	}
	if p := c.Subprotocol(); p != "binary" {
		c.Close()
		return nil, fmt.Errorf("%s: subprotocol %q, want binary", url, p)
	}
	return &wsStream{Conn: c}, nil
}

func (w *wsStream) Read(p []byte) (int, error) {
	for {
		if w.r == nil {
			typ, r, err := w.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("a websocket message of type %d, want binary", typ)
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if err == io.EOF {
			w.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (w *wsStream) Write(p []byte) (int, error) {
	if err := w.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// benchSource is the VNC server's stand-in. The first byte a client
// sends picks the mode, so it crosses every path alike: 'B' streams the
// pattern as fast as the connection takes it until the peer goes; 'E'
// echoes.
type benchSource struct {
	ln   net.Listener
	open atomic.Int64
}

func startBenchSource(t *testing.T) *benchSource {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &benchSource{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.open.Add(1)
			go func() {
				defer s.open.Add(-1)
				defer c.Close()
				s.serve(c)
			}()
		}
	}()
	return s
}

func (s *benchSource) addr() string { return s.ln.Addr().String() }

func (s *benchSource) serve(c net.Conn) {
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case 'B':
		for off := 0; ; {
			o := off % benchPeriod
			n, err := c.Write(benchPattern[o : o+benchChunk])
			off += n
			if err != nil {
				return
			}
		}
	case 'E':
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
}

// waitIdle waits for the last cell's connections to end at the source,
// so that a relay still draining does not take CPU from the next cell.
func (s *benchSource) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Logf("console bench: %d source connections still open after 10 s", s.open.Load())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The plain relay's process: this test binary run again with these set
// (the helper-process pattern of os/exec's own tests).
const (
	relayListenEnv = "NIMBUS_BENCH_RELAY_LISTEN"
	relayTargetEnv = "NIMBUS_BENCH_RELAY_TARGET"
)

// TestBenchRelayHelper is not a test: run by startPlainRelay in a process
// of its own, it is the plain relay, listening on $NIMBUS_BENCH_RELAY_LISTEN
// and joining each connection to $NIMBUS_BENCH_RELAY_TARGET by io.Copy
// each way (which, TCP to TCP on Linux, is splice(2): the bytes do not
// pass through user space). It serves until it is killed or its stdin
// closes (the benchmark's process is gone). Without the variables it
// returns at once.
func TestBenchRelayHelper(t *testing.T) {
	listen, target := os.Getenv(relayListenEnv), os.Getenv(relayTargetEnv)
	if listen == "" || target == "" {
		return
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "plain relay: %v\n", err)
		os.Exit(2)
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "plain relay: %v\n", err)
			os.Exit(2)
		}
		go func() {
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				return
			}
			var once sync.Once
			done := func() { once.Do(func() { c.Close(); u.Close() }) }
			go func() { io.Copy(u, c); done() }()
			io.Copy(c, u)
			done()
		}()
	}
}

// startPlainRelay is the extra hop without websocket, in a process of
// its own (TestBenchRelayHelper); it returns the relay's address.
func startPlainRelay(t *testing.T, target string) string {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchRelayHelper$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), relayListenEnv+"="+addr, relayTargetEnv+"="+target)
	startProcess(t, "plain relay", cmd, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// nimbusBin is the binary startNimbusProxy ran, for the report.
var nimbusBin string

// startNimbusProxy runs nimbus -console-only on a free port with the
// given Redis and key prefix (no database: the proxy alone needs none)
// and returns its address once GET /healthz answers 200.
func startNimbusProxy(t *testing.T, redisURL, prefix string) string {
	t.Helper()
	nimbusBin = controllertest.Binary(t, "nimbus", "github.com/nimbus-cloud/nimbus/web")
	addr := freeAddr(t)
	cmd := exec.Command(nimbusBin, "-console-only")
	// Only these settings reach it: a NIMBUS_* variable of the caller's
	// (a database URL, another listen address) must not change what is
	// measured.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NIMBUS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NIMBUS_REDIS_URL="+redisURL, "NIMBUS_REDIS_PREFIX="+prefix,
		"NIMBUS_CONSOLE_LISTEN="+addr, "NIMBUS_LOG_LEVEL=error", "NIMBUS_DATA_DIR="+t.TempDir(),
		"NIMBUS_PUBLIC_URL=http://127.0.0.1:1",
		"NIMBUS_CONSOLE_VERIFY_PORT=false") // the bench's source has no agent to confirm its port
	client := &http.Client{Timeout: time.Second}
	startProcess(t, "nimbus -console-only", cmd, func() bool {
		res, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return addr
}

// freeAddr is a 127.0.0.1 address with a port free a moment ago, for a
// process that listens there itself.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess starts cmd, its output to a log file, waits until ready
// reports true (at most 15 s), and stops it when the test ends: SIGTERM,
// then SIGKILL after 5 s. Its stdin is a pipe this process holds open, so
// a helper can tell when the benchmark is gone.
func startProcess(t *testing.T, name string, cmd *exec.Cmd, ready func() bool) {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), "process.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Logf("console bench: %s did not stop on SIGTERM within 5 s; killed", name)
			cmd.Process.Kill()
			<-exited
		}
		stdin.Close()
		logf.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for !ready() {
		select {
		case <-exited:
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s exited during start (%v):\n%s", name, cmd.ProcessState, out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s not ready after 15 s:\n%s", name, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startWebsockify runs websockify in front of target and returns its
// address, or "" when it is not installed. It is stopped, with the
// processes it forked for sessions, when the test ends.
func startWebsockify(t *testing.T, target string) string {
	t.Helper()
	if _, err := os.Stat(websockifyBin); err != nil {
		t.Logf("console bench: %s: %v; websockify is not measured", websockifyBin, err)
		return ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(t.TempDir() + "/websockify.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(websockifyBin, addr, target)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its session processes go with it
	if err := cmd.Start(); err != nil {
		t.Fatalf("start websockify: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("websockify exited before listening on %s:\n%s", addr, out)
		default:
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("websockify not listening on %s after 15 s: %v\n%s", addr, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dialAll(p benchPath, n int) ([]benchConn, error) {
	conns := make([]benchConn, 0, n)
	for range n {
		c, err := p.dial()
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func closeAll(conns []benchConn) {
	for _, c := range conns {
		c.Close()
	}
}

// runSessions runs f on every connection at once and returns the first
// error.
func runSessions(conns []benchConn, f func(i int, c benchConn) error) error {
	start := make(chan struct{})
	errs := make(chan error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := f(i, c); err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	return <-errs
}

// benchBulk opens n sessions, has the source stream to all of them for
// d, and returns the bytes received in that time in MB/s, all sessions
// together. Every byte is checked against the pattern.
func benchBulk(p benchPath, n int, d time.Duration) (float64, error) {
	conns, err := dialAll(p, n)
	if err != nil {
		return 0, err
	}
	defer closeAll(conns)
	var total atomic.Int64
	end := time.Now().Add(d)
	err = runSessions(conns, func(_ int, c benchConn) error {
		if err := c.SetReadDeadline(end); err != nil {
			return err
		}
		if _, err := c.Write([]byte{'B'}); err != nil {
			return err
		}
		buf := make([]byte, benchChunk)
		got := 0
		for {
			k, err := c.Read(buf)
			if k > 0 {
				o := got % benchPeriod
				if !bytes.Equal(buf[:k], benchPattern[o:o+k]) {
					return fmt.Errorf("wrong bytes in the %d bytes from offset %d", k, got)
				}
				got += k
			}
			if err != nil {
				if !time.Now().Before(end) {
					break // the deadline: the end of the measure
				}
				return fmt.Errorf("after %d bytes: %w", got, err)
			}
		}
		if got == 0 {
			return errors.New("no bytes received")
		}
		total.Add(int64(got))
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(total.Load()) / d.Seconds() / 1e6, nil
}

// benchEcho opens n sessions and has each do rounds round trips of a
// 64-byte message at the same time; it returns every round trip in
// microseconds.
func benchEcho(p benchPath, n, rounds int) ([]float64, error) {
	conns, err := dialAll(p, n)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	samples := make([][]float64, n)
	err = runSessions(conns, func(i int, c benchConn) error {
		if err := c.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
			return err
		}
		if _, err := c.Write([]byte{'E'}); err != nil {
			return err
		}
		msg, got := make([]byte, benchEchoSize), make([]byte, benchEchoSize)
		s := make([]float64, 0, rounds)
		for r := -benchEchoWarm; r < rounds; r++ {
			copy(msg, fmt.Sprintf("session %d round %d ", i, r))
			t0 := time.Now()
			if _, err := c.Write(msg); err != nil {
				return err
			}
			if _, err := io.ReadFull(c, got); err != nil {
				return fmt.Errorf("round trip %d: %w", r, err)
			}
			rtt := time.Since(t0)
			if !bytes.Equal(got, msg) {
				return fmt.Errorf("round trip %d: %q came back for %q", r, got, msg)
			}
			if r >= 0 {
				s = append(s, float64(rtt)/float64(time.Microsecond))
			}
		}
		samples[i] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Concat(samples...), nil
}

// percentile is the nearest-rank p-th percentile.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(cs []benchCell, f func(benchCell) float64) float64 {
	v := make([]float64, len(cs))
	for i, c := range cs {
		v[i] = f(c)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
