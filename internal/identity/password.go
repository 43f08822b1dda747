package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// MaxPasswordBytes is the longest password accepted, checked before any
// hashing so a huge body cannot buy CPU time (Keystone's limit too).
const MaxPasswordBytes = 4096

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes).
// Memory per hash is what the hash gate multiplies by its capacity.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// hashPassword returns the PHC string of an argon2id hash of pw.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verifyPassword reports whether pw matches the PHC string encoded. A
// malformed hash never matches, but still costs one hash so that timing
// does not tell it apart.
func verifyPassword(encoded, pw string) bool {
	var mem uint32
	var t uint32
	var p uint8
	parts := strings.Split(encoded, "$")
	b64 := base64.RawStdEncoding
	var salt, want []byte
	var err error
	if len(parts) == 6 && parts[1] == "argon2id" {
		_, err = fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p)
		if err == nil {
			salt, err = b64.DecodeString(parts[4])
		}
		if err == nil {
			want, err = b64.DecodeString(parts[5])
		}
	}
	if err != nil || len(parts) != 6 || mem == 0 || t == 0 || p == 0 || len(want) == 0 {
		argon2.IDKey([]byte(pw), make([]byte, argonSaltLen), argonTime, argonMemory, argonThreads, argonKeyLen)
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// gate caps the password hashes running at once (each takes ~19 MiB and a
// core for tens of milliseconds) and the number allowed to wait for a slot.
// Anything beyond is refused at once with fault.ErrBusy, so a flood of
// logins cannot exhaust memory or CPU.
type gate struct {
	slots   chan struct{}
	waiting atomic.Int64
	maxWait int64
}

func newGate(running, waiting int) *gate {
	return &gate{slots: make(chan struct{}, running), maxWait: int64(running + waiting)}
}

// do runs fn when a slot is free, or refuses at once when too many wait.
func (g *gate) do(ctx context.Context, fn func()) error {
	if g.waiting.Add(1) > g.maxWait {
		g.waiting.Add(-1)
		return fault.ErrBusy
	}
	defer g.waiting.Add(-1)
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.slots }()
	fn()
	return nil
}

// HashPassword returns an argon2id hash of pw for storing. Seeding uses it;
// everything acting for a caller goes through the Service, which caps
// concurrent hashing.
func HashPassword(pw string) (string, error) {
	if err := checkNewPassword(pw); err != nil {
		return "", err
	}
	return hashPassword(pw)
}
