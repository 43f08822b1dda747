// Package console is what nova-consoleauth and the byte pump of
// nova-novncproxy do: single-use console tokens kept in Redis, bound to
// one instance and to the VNC address its agent reported, and the relay
// between a websocket and that VNC server. The HTTP side (routes, Origin
// check, the noVNC page) is handlers/console.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrInvalidToken is every reason a token cannot open a console: unknown,
// expired, already used, or revoked. The proxy does not say which: a
// client probing tokens learns nothing.
var ErrInvalidToken = errors.New("console token is invalid, expired or already used")

// Target is what a token opens: one instance's VNC server, at the address
// its agent reported. Clients never supply an address.
type Target struct {
	InstanceID string    `json:"instance_id"`
	ProjectID  string    `json:"project_id"`
	Host       string    `json:"host,omitempty"` // the compute host whose agent confirms the port
	Addr       string    `json:"addr"`           // host:port of the VNC server
	Expires    time.Time `json:"expires"`
}

// Tokens issues and redeems console tokens. Only a token's SHA-256 is
// stored, so reading Redis does not give working tokens.
type Tokens struct {
	RDB    *redis.Client
	Prefix string
	TTL    time.Duration // lifetime of an unused token; default 10 minutes
}

// WebsocketBase turns the proxy's http(s) base URL into the ws(s) one
// browsers open ("" for anything else).
func WebsocketBase(base string) string {
	switch {
	case strings.HasPrefix(base, "https://"):
		return "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		return "ws://" + strings.TrimPrefix(base, "http://")
	}
	return ""
}

func (t *Tokens) ttl() time.Duration {
	if t.TTL <= 0 {
		return 10 * time.Minute
	}
	return t.TTL
}

func (t *Tokens) tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return t.Prefix + "console:token:" + hex.EncodeToString(sum[:])
}

func (t *Tokens) instanceKey(id string) string { return t.Prefix + "console:instance:" + id }

// RevokedChannel is the pub/sub channel on which revoked instance ids are
// published, so every proxy closes that instance's open sessions.
func (t *Tokens) RevokedChannel() string { return t.Prefix + "console:revoked" }

// Issue makes a token for target, good once within the TTL.
func (t *Tokens) Issue(ctx context.Context, target Target) (string, error) {
	if _, _, err := net.SplitHostPort(target.Addr); err != nil || target.InstanceID == "" {
		return "", fmt.Errorf("console target %q for instance %q: not host:port", target.Addr, target.InstanceID)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	ttl := t.ttl()
	target.Expires = time.Now().Add(ttl).UTC()
	b, err := json.Marshal(target)
	if err != nil {
		return "", err
	}
	key := t.tokenKey(token)
	pipe := t.RDB.TxPipeline()
	pipe.Set(ctx, key, b, ttl)
	// The instance's set lets deletion revoke tokens not yet used.
	pipe.SAdd(ctx, t.instanceKey(target.InstanceID), key)
	pipe.Expire(ctx, t.instanceKey(target.InstanceID), ttl)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("store console token: %w", err)
	}
	return token, nil
}

// Redeem takes a token for one session: it is deleted as it is read, so a
// second connection with it is refused.
func (t *Tokens) Redeem(ctx context.Context, token string) (Target, error) {
	if token == "" || len(token) > 128 {
		return Target{}, ErrInvalidToken
	}
	b, err := t.RDB.GetDel(ctx, t.tokenKey(token)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Target{}, ErrInvalidToken
	}
	if err != nil {
		return Target{}, fmt.Errorf("read console token: %w", err)
	}
	var tg Target
	if err := json.Unmarshal(b, &tg); err != nil || time.Now().After(tg.Expires) {
		return Target{}, ErrInvalidToken
	}
	return tg, nil
}

// Valid reports whether a token could still open a console, without
// using it up (the console page asks first, to show a clear message
// rather than a failed connection).
func (t *Tokens) Valid(ctx context.Context, token string) (bool, error) {
	if token == "" || len(token) > 128 {
		return false, nil
	}
	n, err := t.RDB.Exists(ctx, t.tokenKey(token)).Result()
	return n == 1, err
}

// RevokeInstance ends every way into an instance's console: its unused
// tokens are deleted and proxies are told to close its open sessions.
// Called when the instance is stopped, deleted, shelved or migrated.
func (t *Tokens) RevokeInstance(ctx context.Context, instanceID string) error {
	keys, err := t.RDB.SMembers(ctx, t.instanceKey(instanceID)).Result()
	if err != nil {
		return fmt.Errorf("revoke console tokens: %w", err)
	}
	pipe := t.RDB.TxPipeline()
	if len(keys) > 0 {
		pipe.Del(ctx, keys...)
	}
	pipe.Del(ctx, t.instanceKey(instanceID))
	pipe.Publish(ctx, t.RevokedChannel(), instanceID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("revoke console tokens: %w", err)
	}
	return nil
}
