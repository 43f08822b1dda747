package diskimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// qcow2Fields are the header fields a synthetic qcow2 varies.
type qcow2Fields struct {
	version       uint32
	backingOffset uint64
	backingSize   uint32
	clusterBits   uint32
	cryptMethod   uint32
	incompat      uint64
	headerLength  uint32
	exts          []byte // header extensions, end marker included
}

// goodFields describe a small valid qcow2 v3: 512-byte clusters, refcount
// table in cluster 1, L1 table in cluster 2, no extensions.
func goodFields() qcow2Fields {
	return qcow2Fields{version: 3, clusterBits: 9, headerLength: 104, exts: ext(extEnd, nil)}
}

// synthQCOW2 lays out a three-cluster qcow2 of 1 MiB virtual size.
func synthQCOW2(f qcow2Fields) []byte {
	b := make([]byte, 3*512)
	be := binary.BigEndian
	copy(b, "QFI\xfb")
	be.PutUint32(b[4:], f.version)
	be.PutUint64(b[8:], f.backingOffset)
	be.PutUint32(b[16:], f.backingSize)
	be.PutUint32(b[20:], f.clusterBits)
	be.PutUint64(b[24:], 1<<20)
	be.PutUint32(b[32:], f.cryptMethod)
	be.PutUint32(b[36:], 32)   // l1_size
	be.PutUint64(b[40:], 1024) // l1_table_offset
	be.PutUint64(b[48:], 512)  // refcount_table_offset
	be.PutUint32(b[56:], 1)    // refcount_table_clusters
	start := uint32(qcowV2HeaderLen)
	if f.version == 3 {
		be.PutUint64(b[72:], f.incompat)
		be.PutUint32(b[96:], 4) // refcount_order
		be.PutUint32(b[100:], f.headerLength)
		start = f.headerLength
	}
	if int(start) < len(b) {
		copy(b[start:], f.exts)
	}
	return b
}

// ext encodes one header extension, padded to 8 bytes.
func ext(typ uint32, data []byte) []byte {
	b := make([]byte, 8+(len(data)+7)/8*8)
	binary.BigEndian.PutUint32(b, typ)
	binary.BigEndian.PutUint32(b[4:], uint32(len(data)))
	copy(b[8:], data)
	return b
}

func TestInspectHeaderQCOW2(t *testing.T) {
	featureTable := ext(0x6803f857, bytes.Repeat([]byte{0}, 48))
	cases := []struct {
		name   string
		mod    func(*qcow2Fields)
		reason Reason // "" means accepted
	}{
		{"good v3", func(*qcow2Fields) {}, ""},
		{"good v2", func(f *qcow2Fields) { f.version = 2 }, ""},
		{"good v3 with a feature table", func(f *qcow2Fields) { f.exts = append(featureTable, ext(extEnd, nil)...) }, ""},
		{"dirty bit is fine", func(f *qcow2Fields) { f.incompat = 1 }, ""},
		{"backing file offset", func(f *qcow2Fields) { f.backingOffset = 512 }, ReasonBackingFile},
		{"backing file size alone", func(f *qcow2Fields) { f.backingSize = 11 }, ReasonBackingFile},
		{"backing format extension", func(f *qcow2Fields) { f.exts = append(ext(extBackingFmt, []byte("raw")), ext(extEnd, nil)...) }, ReasonBackingFile},
		{"data file bit", func(f *qcow2Fields) { f.incompat = incompatDataFile }, ReasonDataFile},
		{"data file extension without the bit", func(f *qcow2Fields) {
			f.exts = append(append(featureTable, ext(extDataFile, []byte("/etc/shadow"))...), ext(extEnd, nil)...)
		}, ReasonDataFile},
		{"encrypted (crypt_method)", func(f *qcow2Fields) { f.cryptMethod = 2 }, ReasonEncrypted},
		{"encryption extension", func(f *qcow2Fields) { f.exts = append(ext(extEncryption, make([]byte, 16)), ext(extEnd, nil)...) }, ReasonEncrypted},
		{"corrupt bit", func(f *qcow2Fields) { f.incompat = incompatCorrupt }, ReasonInvalid},
		{"unknown incompatible feature", func(f *qcow2Fields) { f.incompat = 1 << 40 }, ReasonInvalid},
		{"unknown version", func(f *qcow2Fields) { f.version = 4 }, ReasonInvalid},
		{"cluster too large", func(f *qcow2Fields) { f.clusterBits = 30 }, ReasonInvalid},
		{"cluster too small", func(f *qcow2Fields) { f.clusterBits = 8 }, ReasonInvalid},
		{"header length too short", func(f *qcow2Fields) { f.headerLength = 96 }, ReasonInvalid},
		{"header length past the cluster", func(f *qcow2Fields) { f.headerLength = 1024 }, ReasonInvalid},
		{"extension past the cluster", func(f *qcow2Fields) { f.exts = ext(0x12345678, make([]byte, 600)) }, ReasonInvalid},
		{"extensions without an end", func(f *qcow2Fields) {
			f.exts = bytes.Repeat(ext(0x12345678, nil), 64)
		}, ReasonInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := goodFields()
			c.mod(&f)
			b := synthQCOW2(f)
			h, err := InspectHeader(bytes.NewReader(b), int64(len(b)))
			if c.reason == "" {
				if err != nil || h.Format != QCOW2 || h.VirtualSize != 1<<20 {
					t.Fatalf("got %+v, %v; want qcow2 of 1 MiB", h, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != c.reason {
				t.Fatalf("got %+v, %v; want reason %s", h, err, c.reason)
			}
		})
	}
}

func TestInspectHeaderTruncated(t *testing.T) {
	b := synthQCOW2(goodFields())
	for _, n := range []int{4, 19, 20, 71, 103, 200, 600} {
		h, err := InspectHeader(bytes.NewReader(b[:n]), int64(n))
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonInvalid {
			t.Errorf("first %d bytes: got %+v, %v; want invalid", n, h, err)
		}
	}
}

func TestInspectHeaderFormats(t *testing.T) {
	iso := make([]byte, 0x8800)
	copy(iso[0x8001:], "CD001")
	vdi := make([]byte, 512)
	copy(vdi, "<<< Oracle VM VirtualBox Disk Image >>>\n")
	copy(vdi[0x40:], "\x7f\x10\xda\xbe")
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, Raw},
		{"zeros", make([]byte, 4096), Raw},
		{"mbr", append(make([]byte, 510), 0x55, 0xaa), Raw},
		{"iso", iso, ISO},
		{"qed", []byte("QED\x00" + string(make([]byte, 60))), QED},
		{"vmdk sparse", []byte("KDMV\x01\x00\x00\x00"), VMDK},
		{"vmdk descriptor", []byte("\n# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"/etc/passwd\" 0\n"), VMDK},
		{"vhdx", []byte("vhdxfile" + string(make([]byte, 64))), VHDX},
		{"vhd", []byte("conectix" + string(make([]byte, 504))), VHD},
		{"vdi", vdi, VDI},
		{"luks", []byte("LUKS\xba\xbe\x00\x01"), LUKS},
		{"qcow v1", []byte("QFI\xfb\x00\x00\x00\x01" + string(make([]byte, 40))), QCOW},
	}
	for _, c := range cases {
		h, err := InspectHeader(bytes.NewReader(c.data), int64(len(c.data)))
		if err != nil || h.Format != c.want {
			t.Errorf("%s: got %+v, %v; want %s", c.name, h, err, c.want)
		}
	}
}

// FuzzInspectHeader feeds the header parser arbitrary bytes (seeds in
// testdata/fuzz/FuzzInspectHeader and below): it must never panic, refuse
// only with an *Error, and never accept a qcow header whose backing file
// offset or size is set, nor a qcow2 v3 with the external data file bit.
func FuzzInspectHeader(f *testing.F) {
	f.Add(synthQCOW2(goodFields()))
	withBacking := goodFields()
	withBacking.backingOffset = 1 << 9
	f.Add(synthQCOW2(withBacking))
	v2 := goodFields()
	v2.version = 2
	f.Add(synthQCOW2(v2))
	withExt := goodFields()
	withExt.exts = append(ext(extDataFile, []byte("/etc/shadow")), ext(extEnd, nil)...)
	f.Add(synthQCOW2(withExt))
	f.Add([]byte("QFI\xfb"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := InspectHeader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not an *Error: %v", err)
			}
			return
		}
		if h.Format == "" {
			t.Fatal("accepted with no format")
		}
		if len(data) < 4 || string(data[:4]) != "QFI\xfb" {
			return
		}
		be := binary.BigEndian
		if len(data) < 20 || be.Uint64(data[8:16]) != 0 || be.Uint32(data[16:20]) != 0 {
			t.Fatalf("accepted a qcow header with a backing file (or too short to tell): %+v", h)
		}
		if h.Format == QCOW2 && be.Uint32(data[4:8]) == 3 && (len(data) < 80 || be.Uint64(data[72:80])&incompatDataFile != 0) {
			t.Fatalf("accepted a qcow2 v3 with an external data file (or too short to tell): %+v", h)
		}
	})
}
