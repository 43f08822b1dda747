package netspec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Where the documents live in Redis, and how controller and agents tell
// each other about them:
//
//	<prefix>netspec:<host>          the host's newest document (JSON)
//	<prefix>netspec:<host>:hash     the hash of its content without the generation
//	<prefix>netspec:<host>:gen      the generation counter (INCR)
//	<prefix>netspec:<host>:applied  the generation the agent applied last
//	<prefix>netspec:agents          hash: host -> AgentInfo (JSON)
//	channel <prefix>netspec         a host's document changed (message: the host)
//	channel <prefix>netspec:want    an agent asks for its document now (message: the host)
//	channel <prefix>netspec:applied an agent applied a document (message: the host)

// AgentInfo is what an agent tells the controller about its host's
// datapath at start.
type AgentInfo struct {
	// VTEP is the host's VXLAN tunnel address ("": no tunnels; a VXLAN
	// network then exists on this host alone).
	VTEP string `json:"vtep,omitempty"`
	// PhysicalNetworks are the physical networks the host has an
	// interface for; a flat or VLAN network on another gets only a local
	// bridge there.
	PhysicalNetworks []string `json:"physical_networks,omitempty"`
}

func docKey(prefix, host string) string { return prefix + "netspec:" + host }

// Channel is where document changes are announced.
func Channel(prefix string) string { return prefix + "netspec" }

// WantChannel is where agents ask for their document.
func WantChannel(prefix string) string { return prefix + "netspec:want" }

// Publish stores doc as host's newest document when its content differs
// from the stored one, with the next generation, and announces it. It
// returns the stored document's generation.
func Publish(ctx context.Context, rdb *redis.Client, prefix string, doc Host) (int64, bool, error) {
	key := docKey(prefix, doc.Host)
	doc.Generation = 0
	body, err := json.Marshal(doc)
	if err != nil {
		return 0, false, err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	old, err := rdb.Get(ctx, key+":hash").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, false, err
	}
	if old == hash {
		gen, err := rdb.Get(ctx, key+":gen").Int64()
		if err == nil || !errors.Is(err, redis.Nil) {
			return gen, false, err
		}
	}
	gen, err := rdb.Incr(ctx, key+":gen").Result()
	if err != nil {
		return 0, false, err
	}
	doc.Generation = gen
	if body, err = json.Marshal(doc); err != nil {
		return 0, false, err
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, key, body, 0)
		p.Set(ctx, key+":hash", hash, 0)
		p.Publish(ctx, Channel(prefix), doc.Host)
		return nil
	})
	return gen, true, err
}

// Fetch returns host's newest document; ok false when there is none yet.
func Fetch(ctx context.Context, rdb *redis.Client, prefix, host string) (Host, bool, error) {
	var doc Host
	b, err := rdb.Get(ctx, docKey(prefix, host)).Bytes()
	if errors.Is(err, redis.Nil) {
		return doc, false, nil
	}
	if err != nil {
		return doc, false, err
	}
	return doc, true, json.Unmarshal(b, &doc)
}

// SetApplied records the generation host's agent applied and announces
// it (on AppliedChannel), so the controllers mark its ports ACTIVE now.
func SetApplied(ctx context.Context, rdb *redis.Client, prefix, host string, gen int64) error {
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, docKey(prefix, host)+":applied", gen, 0)
		p.Publish(ctx, AppliedChannel(prefix), host)
		return nil
	})
	return err
}

// AppliedChannel is where agents say they applied a document.
func AppliedChannel(prefix string) string { return prefix + "netspec:applied" }

// Applied returns the generation host's agent applied last (0: none).
func Applied(ctx context.Context, rdb *redis.Client, prefix, host string) (int64, error) {
	n, err := rdb.Get(ctx, docKey(prefix, host)+":applied").Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// Register records host's agent information.
func Register(ctx context.Context, rdb *redis.Client, prefix, host string, info AgentInfo) error {
	b, _ := json.Marshal(info)
	return rdb.HSet(ctx, prefix+"netspec:agents", host, b).Err()
}

// Agents returns every registered agent's information, by host.
func Agents(ctx context.Context, rdb *redis.Client, prefix string) (map[string]AgentInfo, error) {
	m, err := rdb.HGetAll(ctx, prefix+"netspec:agents").Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]AgentInfo, len(m))
	for h, v := range m {
		var a AgentInfo
		if json.Unmarshal([]byte(v), &a) == nil {
			out[h] = a
		}
	}
	return out, nil
}

// Want asks the controllers for host's document now.
func Want(ctx context.Context, rdb *redis.Client, prefix, host string) error {
	return rdb.Publish(ctx, WantChannel(prefix), host).Err()
}
