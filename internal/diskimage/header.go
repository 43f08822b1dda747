package diskimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// Header is what the pure-Go header check found.
type Header struct {
	Format      string // detected from the data: Raw when no known signature matches
	VirtualSize int64  // from the qcow2 header; the file size for raw and ISO; 0 when unknown
}

// probeLen covers every signature looked for, the ISO 9660 one at 0x8001
// included.
const probeLen = 64 << 10

// maxCluster is qcow2's largest cluster (cluster_bits 21): header
// extensions must end within the first cluster.
const maxCluster = 2 << 20

// signature is a format's magic bytes at an offset.
type signature struct {
	format string
	off    int
	magic  string
}

// signatures are checked in order; the first match wins. Everything that
// qemu can probe at the start of a file comes before ISO 9660, whose
// signature lies 32 KiB in: a file that is both an ISO and, say, a qcow2
// is a qcow2 (that trick was CVE-2024-32498's).
var signatures = []signature{
	{QCOW2, 0, "QFI\xfb"}, // qcow (v1) too, told apart by its version
	{QED, 0, "QED\x00"},
	{VMDK, 0, "KDMV"},
	{VMDK, 0, "COWD"},
	{VHDX, 0, "vhdxfile"},
	{VHD, 0, "conectix"},
	{VDI, 0x40, "\x7f\x10\xda\xbe"},
	{LUKS, 0, "LUKS\xba\xbe"},
	{Bochs, 0, "Bochs Virtual HD Image"},
	{Parallels, 0, "WithoutFreeSpace"},
	{Parallels, 0, "WithouFreSpacExt"},
	{Cloop, 0, "#!/bin/sh\n#V2.0 Format\nmodprobe cloop"},
	{ISO, 0x8001, "CD001"},
}

// vmdkDescriptor starts a VMDK descriptor file, whose extent lines name
// other files. qemu finds it anywhere near the start, so this does too.
const vmdkDescriptor = "# Disk DescriptorFile"

// InspectHeader reads the start of an image of size bytes and returns its
// real format, without running QEMU. It refuses (with an *Error) a qcow2
// or qcow with a backing file, an external data file, encryption, the
// corrupt bit, unknown incompatible features or a truncated header. It
// never refuses a format only for being unexpected: comparing with the
// declared format is the caller's step.
func InspectHeader(r io.ReaderAt, size int64) (Header, error) {
	head, err := readAt(r, 0, min(size, probeLen))
	if err != nil {
		return Header{}, err
	}
	format := Raw
	for _, s := range signatures {
		if len(head) >= s.off+len(s.magic) && string(head[s.off:s.off+len(s.magic)]) == s.magic {
			format = s.format
			break
		}
	}
	if format == Raw && bytes.Contains(head[:min(len(head), 4096)], []byte(vmdkDescriptor)) {
		format = VMDK
	}
	switch format {
	case QCOW2:
		return qcow2Header(r, head, size)
	case Raw, ISO:
		return Header{Format: format, VirtualSize: size}, nil
	}
	return Header{Format: format}, nil
}

// readAt reads n bytes at off; a short file is not an error here.
func readAt(r io.ReaderAt, off, n int64) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	b := make([]byte, n)
	got, err := r.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:got], nil
}

// qcow2 header fields (docs/interop/qcow2.txt in QEMU's tree).
const (
	qcowV2HeaderLen = 72
	qcowV3HeaderLen = 104

	incompatCorrupt  = 1 << 1
	incompatDataFile = 1 << 2
	incompatKnown    = 1<<5 - 1 // dirty, corrupt, data file, compression type, extended L2

	extEnd         = 0x00000000
	extBackingFmt  = 0xe2792aca
	extEncryption  = 0x0537be77
	extDataFile    = 0x44415441 // "DATA": the external data file's name
	maxClusterBits = 21
	minClusterBits = 9
)

// qcow2Header parses a qcow2 (or qcow v1) header, head being the file's
// first bytes.
func qcow2Header(r io.ReaderAt, head []byte, size int64) (Header, error) {
	be := binary.BigEndian
	// Every qcow version keeps the backing file's offset at 8 and its
	// length at 16: refuse either before anything else is believed.
	if len(head) < 20 {
		return Header{}, invalid(QCOW2, "truncated header (%d bytes)", len(head))
	}
	if be.Uint64(head[8:16]) != 0 || be.Uint32(head[16:20]) != 0 {
		return Header{}, &Error{Reason: ReasonBackingFile}
	}
	version := be.Uint32(head[4:8])
	if version == 1 {
		return Header{Format: QCOW}, nil
	}
	if version != 2 && version != 3 {
		return Header{}, invalid(QCOW2, "unknown qcow2 version %d", version)
	}
	if len(head) < qcowV2HeaderLen {
		return Header{}, invalid(QCOW2, "truncated header (%d bytes)", len(head))
	}
	clusterBits := be.Uint32(head[20:24])
	if clusterBits < minClusterBits || clusterBits > maxClusterBits {
		return Header{}, invalid(QCOW2, "cluster size 2^%d out of range", clusterBits)
	}
	cluster := int64(1) << clusterBits
	virtualSize := be.Uint64(head[24:32])
	if virtualSize > 1<<62 {
		return Header{}, invalid(QCOW2, "virtual size out of range")
	}
	if be.Uint32(head[32:36]) != 0 {
		return Header{}, &Error{Reason: ReasonEncrypted}
	}
	// The L1 and refcount tables must start on a cluster inside the file
	// (a truncated image ends before them).
	l1Size, l1Off, refOff := be.Uint32(head[36:40]), be.Uint64(head[40:48]), be.Uint64(head[48:56])
	for _, t := range []struct {
		name string
		off  uint64
		used bool
	}{{"L1 table", l1Off, l1Size > 0}, {"refcount table", refOff, true}} {
		if t.used && (t.off == 0 || t.off%uint64(cluster) != 0 || t.off >= uint64(size)) {
			return Header{}, invalid(QCOW2, "%s outside the file", t.name)
		}
	}
	extStart := int64(qcowV2HeaderLen)
	if version == 3 {
		if len(head) < qcowV3HeaderLen {
			return Header{}, invalid(QCOW2, "truncated header (%d bytes)", len(head))
		}
		incompat := be.Uint64(head[72:80])
		if incompat&incompatDataFile != 0 {
			return Header{}, &Error{Reason: ReasonDataFile}
		}
		if incompat&incompatCorrupt != 0 {
			return Header{}, invalid(QCOW2, "marked corrupt")
		}
		if incompat&^incompatKnown != 0 {
			return Header{}, invalid(QCOW2, "unknown incompatible features")
		}
		extStart = int64(be.Uint32(head[100:104]))
		if extStart < qcowV3HeaderLen || extStart%8 != 0 || extStart > cluster {
			return Header{}, invalid(QCOW2, "header length %d out of range", extStart)
		}
	}
	// Header extensions run from the header's end to the end of the first
	// cluster at most, each 8 bytes of type and length, then its data
	// padded to 8 bytes; type 0 ends them.
	first, err := readAt(r, 0, min(cluster, size))
	if err != nil {
		return Header{}, err
	}
	end := int64(len(first))
	for off := extStart; ; {
		if off+8 > end {
			return Header{}, invalid(QCOW2, "truncated header extensions")
		}
		typ, n := be.Uint32(first[off:off+4]), int64(be.Uint32(first[off+4:off+8]))
		switch typ {
		case extEnd:
			return Header{Format: QCOW2, VirtualSize: int64(virtualSize)}, nil
		case extDataFile:
			return Header{}, &Error{Reason: ReasonDataFile}
		case extBackingFmt:
			return Header{}, &Error{Reason: ReasonBackingFile}
		case extEncryption:
			return Header{}, &Error{Reason: ReasonEncrypted}
		}
		off += 8 + (n+7)/8*8
		if off > end {
			return Header{}, invalid(QCOW2, "truncated header extensions")
		}
	}
}
