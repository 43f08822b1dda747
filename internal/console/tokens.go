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
	"strconv"
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
	InstanceID string `json:"instance_id"`
	ProjectID  string `json:"project_id"`
	// UserID is who asked for the console: their open consoles are
	// counted, and closed when their access ends (RevokeAccess).
	UserID string `json:"user_id,omitempty"`
	// AuditIDs are the audit ids of the Keystone token that asked and of
	// the tokens it was made from: revoking any of them (signing out of
	// the portal revokes the sign-in token) closes the console.
	AuditIDs []string  `json:"audit_ids,omitempty"`
	Host     string    `json:"host,omitempty"` // the compute host whose agent confirms the port
	Addr     string    `json:"addr"`           // host:port of the VNC server
	Issued   time.Time `json:"issued"`         // Redis's clock, compared with revocations' (RevokeAccess)
	Expires  time.Time `json:"expires"`
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
	// Redis's clock, which revocations are stamped with too.
	now, err := t.RDB.Time(ctx).Result()
	if err != nil {
		return "", fmt.Errorf("store console token: %w", err)
	}
	target.Issued = now.UTC()
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
// second connection with it is refused. A token whose access was revoked
// since it was issued (RevokeAccess) is invalid.
func (t *Tokens) Redeem(ctx context.Context, token string) (Target, error) {
	return t.read(ctx, token, true)
}

// Peek is Redeem without using the token up: the proxy checks the caps
// first, so a console refused for them can be opened with the same URL
// once another closes.
func (t *Tokens) Peek(ctx context.Context, token string) (Target, error) {
	return t.read(ctx, token, false)
}

func (t *Tokens) read(ctx context.Context, token string, use bool) (Target, error) {
	if token == "" || len(token) > 128 {
		return Target{}, ErrInvalidToken
	}
	cmd := t.RDB.Get
	if use {
		cmd = t.RDB.GetDel
	}
	b, err := cmd(ctx, t.tokenKey(token)).Bytes()
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
	if revoked, err := t.Revoked(ctx, tg); err != nil {
		return Target{}, err
	} else if revoked {
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

// Access names whose consoles to close when access ends: a user's (user
// disabled, deleted or given a new password), a user's on one project
// (their role there removed), a project's (disabled or deleted), or those
// opened with one Keystone token or a token made from it (the token
// revoked, as at sign-out from the portal).
type Access struct {
	UserID    string `json:"user_id,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	AuditID   string `json:"audit_id,omitempty"`
}

// key is the revocation marker's name; "" for a combination not used.
func (a Access) key() string {
	switch {
	case a.AuditID != "" && a.UserID == "" && a.ProjectID == "":
		return "audit:" + a.AuditID
	case a.UserID != "" && a.ProjectID != "" && a.AuditID == "":
		return "member:" + a.UserID + ":" + a.ProjectID
	case a.UserID != "" && a.AuditID == "":
		return "user:" + a.UserID
	case a.ProjectID != "" && a.AuditID == "":
		return "project:" + a.ProjectID
	}
	return ""
}

// accessKeys are the markers that can revoke a console of tg.
func (t *Tokens) accessKeys(tg Target) []string {
	var ks []string
	add := func(a Access) {
		if k := a.key(); k != "" {
			ks = append(ks, t.Prefix+"console:access-revoked:"+k)
		}
	}
	if tg.UserID != "" {
		add(Access{UserID: tg.UserID})
		if tg.ProjectID != "" {
			add(Access{UserID: tg.UserID, ProjectID: tg.ProjectID})
		}
	}
	if tg.ProjectID != "" {
		add(Access{ProjectID: tg.ProjectID})
	}
	for _, id := range tg.AuditIDs {
		if id != "" {
			add(Access{AuditID: id})
		}
	}
	return ks
}

// Matches reports whether a console of tg is one a closes.
func (a Access) Matches(tg Target) bool {
	if a.key() == "" {
		return false
	}
	if a.UserID != "" && a.UserID != tg.UserID || a.ProjectID != "" && a.ProjectID != tg.ProjectID {
		return false
	}
	if a.AuditID == "" {
		return true
	}
	for _, id := range tg.AuditIDs {
		if id == a.AuditID {
			return true
		}
	}
	return false
}

// AccessChannel is the pub/sub channel on which ended access (Access, as
// JSON) is published, so every proxy closes the consoles it opened.
func (t *Tokens) AccessChannel() string { return t.Prefix + "console:access-revoked" }

// RevokeAccess closes the consoles a names on every proxy and voids their
// unused tokens. It stamps a marker with Redis's time, kept as long as a
// token issued before it could still be used, then publishes a. Tokens
// issued before the marker are refused (Revoked), and a proxy checks the
// marker again once its session is registered, so a console being opened
// while this runs is closed too: either its registration comes before the
// publish, which then closes it, or the check after it sees the marker.
func (t *Tokens) RevokeAccess(ctx context.Context, a Access) error {
	k := a.key()
	if k == "" {
		return fmt.Errorf("revoke console access %+v: not a combination consoles are revoked by", a)
	}
	now, err := t.RDB.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("revoke console access: %w", err)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	pipe := t.RDB.TxPipeline()
	pipe.Set(ctx, t.Prefix+"console:access-revoked:"+k, now.UnixMicro(), t.ttl()+time.Minute)
	pipe.Publish(ctx, t.AccessChannel(), b)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("revoke console access: %w", err)
	}
	return nil
}

// RevokeConsoles is RevokeAccess for callers that do not import this
// package (identity): the user's consoles (userID), the user's on a
// project (userID and projectID), a project's (projectID), or those opened
// with a token (auditID).
func (t *Tokens) RevokeConsoles(ctx context.Context, userID, projectID, auditID string) error {
	return t.RevokeAccess(ctx, Access{UserID: userID, ProjectID: projectID, AuditID: auditID})
}

// Revoked reports whether access to tg's console was revoked after tg was
// issued.
func (t *Tokens) Revoked(ctx context.Context, tg Target) (bool, error) {
	keys := t.accessKeys(tg)
	if len(keys) == 0 {
		return false, nil
	}
	vals, err := t.RDB.MGet(ctx, keys...).Result()
	if err != nil {
		return false, fmt.Errorf("read console revocations: %w", err)
	}
	issued := tg.Issued.UnixMicro()
	for _, v := range vals {
		s, _ := v.(string)
		if at, err := strconv.ParseInt(s, 10, 64); err == nil && at >= issued {
			return true, nil
		}
	}
	return false, nil
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
