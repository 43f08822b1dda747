package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/compute-agent/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// maxLogRead is how much of the end of a serial log is read at most: a VM
// that has run for months must not make one request read gigabytes.
const maxLogRead = 1 << 20

// answer handles the controller's calls.
func (a *Agent) answer(ctx context.Context, req queue.Request) queue.Reply {
	if req.Volume != nil {
		return a.answerVolume(ctx, req)
	}
	if hypervisor.ValidateInstanceID(req.InstanceID) != nil {
		return queue.Reply{Error: "not an instance id"}
	}
	switch req.Kind {
	case queue.CallConsoleLog:
		out, size, err := a.consoleLog(req.InstanceID, req.Lines)
		if err != nil {
			a.log.Warn("console log", "instance_id", req.InstanceID, "error", err)
			return queue.Reply{Error: err.Error()}
		}
		return queue.Reply{Output: out, Size: size}
	case queue.CallConsolePort:
		if !a.owns(req.InstanceID) {
			return queue.Reply{}
		}
		st, err := a.drv.Get(ctx, req.InstanceID)
		if err != nil || st.State != hypervisor.Running {
			return queue.Reply{} // no screen here now
		}
		return queue.Reply{Port: st.VNCPort}
	case queue.CallAttachVolume, queue.CallDetachVolume:
		return a.answerVolume(ctx, req)
	case queue.CallSample:
		return a.sampleOne(ctx, req.InstanceID)
	case queue.CallPlugNIC, queue.CallUnplugNIC:
		if req.NIC == nil {
			return queue.Reply{Error: "no NIC in the call"}
		}
		if err := a.changeNIC(ctx, req.InstanceID, *req.NIC, req.Kind == queue.CallPlugNIC); err != nil {
			a.log.Warn("change a NIC", "instance_id", req.InstanceID, "call", req.Kind, "error", err)
			return queue.Reply{Error: err.Error()}
		}
		return queue.Reply{}
	}
	return queue.Reply{Error: "unknown call " + req.Kind}
}

// consoleLog returns the last lines of the instance's serial log (all of
// what was read when lines is 0), as Nova's os-getConsoleOutput does. An
// instance without a log yet (just built, or on libvirt's test driver,
// which boots nothing) has empty output.
func (a *Agent) consoleLog(id string, lines int) (string, int64, error) {
	f, err := os.Open(a.serialLog(id))
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	off := max(st.Size()-maxLogRead, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return "", 0, err
	}
	if off > 0 { // drop the partial first line
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	if lines > 0 {
		b = lastLines(b, lines)
	}
	return validText(b), st.Size(), nil
}

func (a *Agent) serialLog(id string) string { return filepath.Join(a.instanceDir(id), "console.log") }

// validText is serial output, which is bytes, as the JSON strings the
// API and the pages answer with.
func validText(b []byte) string { return strings.ToValidUTF8(string(b), string(utf8.RuneError)) }

// lastLines returns the last n lines of b (a trailing newline does not
// start another line).
func lastLines(b []byte, n int) []byte {
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}
