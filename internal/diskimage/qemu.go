package diskimage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// qemuImgInfo is the part of `qemu-img info --output=json` looked at.
// Every key is kept in Raw, so that a key naming another file is caught
// whatever its name.
type qemuImgInfo struct {
	Format         string `json:"format"`
	VirtualSize    int64  `json:"virtual-size"`
	Encrypted      bool   `json:"encrypted"`
	FormatSpecific struct {
		Data map[string]json.RawMessage `json:"data"`
	} `json:"format-specific"`
	Raw map[string]json.RawMessage `json:"-"`
}

// Limits on qemu-img info, as OpenStack's QEMU_IMG_LIMITS: a crafted image
// must not make it eat the host (CVE-2015-5162).
const (
	qemuAddressSpace = 1 << 30 // bytes
	qemuCPUSeconds   = 30
	qemuTimeout      = 60 * time.Second
)

// qemuInfo runs qemu-img info with the format forced (nothing is probed),
// under prlimit when the host has it. qemu-img refusing the file is an
// *Error; failing to run it is not.
func qemuInfo(parent context.Context, path, declared string) (qemuImgInfo, error) {
	ctx, cancel := context.WithTimeout(parent, qemuTimeout)
	defer cancel()
	args := []string{"qemu-img", "info", "--output=json", "--force-share", "-f", qemuFormat(declared), path}
	if pl, err := exec.LookPath("prlimit"); err == nil {
		args = append([]string{pl, fmt.Sprintf("--as=%d", qemuAddressSpace), fmt.Sprintf("--cpu=%d", qemuCPUSeconds), "--"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && parent.Err() == nil {
			e := invalid(declared, "qemu-img cannot read it")
			e.Err = fmt.Errorf("qemu-img info: %w: %s", err, strings.TrimSpace(stderr.String()))
			return qemuImgInfo{}, e
		}
		return qemuImgInfo{}, fmt.Errorf("run qemu-img info: %w", err)
	}
	return parseQemuInfo(stdout.Bytes(), declared)
}

// qemuFormat is qemu's name for a disk_format: an ISO is read as raw.
func qemuFormat(declared string) string {
	if declared == ISO {
		return Raw
	}
	return declared
}

func parseQemuInfo(b []byte, declared string) (qemuImgInfo, error) {
	var q qemuImgInfo
	if err := json.Unmarshal(b, &q); err != nil {
		e := invalid(declared, "qemu-img gave no usable answer")
		e.Err = fmt.Errorf("decode qemu-img info: %w", err)
		return qemuImgInfo{}, e
	}
	if err := json.Unmarshal(b, &q.Raw); err != nil {
		return qemuImgInfo{}, invalid(declared, "qemu-img gave no usable answer")
	}
	return q, nil
}

// checkQemu is the second opinion: qemu-img must see the declared format,
// no backing file, no data file, no encryption, and for a qcow2 the
// virtual size its header states.
func checkQemu(q qemuImgInfo, declared string, h Header) error {
	if q.Format != qemuFormat(declared) {
		return &Error{Reason: ReasonFormatMismatch, Declared: declared, Detected: q.Format}
	}
	for k := range q.Raw {
		if strings.Contains(k, "backing") {
			return &Error{Reason: ReasonBackingFile}
		}
	}
	if _, ok := q.FormatSpecific.Data["data-file"]; ok {
		return &Error{Reason: ReasonDataFile}
	}
	if string(q.FormatSpecific.Data["corrupt"]) == "true" {
		return invalid(declared, "marked corrupt")
	}
	if q.Encrypted {
		return &Error{Reason: ReasonEncrypted}
	}
	if q.VirtualSize < 0 {
		return invalid(declared, "negative virtual size")
	}
	if declared == QCOW2 && q.VirtualSize != h.VirtualSize {
		return invalid(declared, "qemu-img and the header disagree on its virtual size")
	}
	return nil
}
