package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadDefaultsAndOverrides(t *testing.T) {
	base := map[string]string{"NIMBUS_DATABASE_URL": "postgres://x", "NIMBUS_REDIS_URL": "redis://y"}
	c, err := Load(nil, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.ConsoleListen != "127.0.0.1:6080" || c.PublicURL != "http://127.0.0.1:8080" ||
		c.TokenTTL != time.Hour || c.Region != "RegionOne" || c.Throttle.PerUser != 5 || c.Throttle.PerAddr != 20 {
		t.Errorf("defaults: %+v", c)
	}
	base["NIMBUS_LISTEN"] = "0.0.0.0:9000"
	base["NIMBUS_TOKEN_TTL"] = "2h"
	c, err = Load([]string{"--token-ttl", "3h"}, env(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.TokenTTL != 3*time.Hour {
		t.Errorf("env then flag: listen %s ttl %v", c.Listen, c.TokenTTL)
	}
	base["NIMBUS_CONSOLE_LISTEN"] = ""
	if c, _ = Load(nil, env(base)); c.ConsoleListen != "" {
		t.Errorf("NIMBUS_CONSOLE_LISTEN= must turn the console off, got %q", c.ConsoleListen)
	}
}

func TestLoadRejects(t *testing.T) {
	good := map[string]string{"NIMBUS_DATABASE_URL": "postgres://x", "NIMBUS_REDIS_URL": "redis://y"}
	cases := map[string]struct{ key, val, want string }{
		"no database":    {"NIMBUS_DATABASE_URL", "", "database URL"},
		"bad duration":   {"NIMBUS_TOKEN_TTL", "soon", "NIMBUS_TOKEN_TTL"},
		"short ttl":      {"NIMBUS_TOKEN_TTL", "10s", "token TTL"},
		"bad level":      {"NIMBUS_LOG_LEVEL", "loud", "log level"},
		"bad proxy":      {"NIMBUS_TRUSTED_PROXIES", "10.0.0.0/99", "trusted proxy"},
		"bad public url": {"NIMBUS_PUBLIC_URL", "ftp://x", "public URL"},
		"zero throttle":  {"NIMBUS_LOGIN_FAIL_PER_USER", "0", "throttle"},
		"not a number":   {"NIMBUS_HASH_QUEUE", "many", "NIMBUS_HASH_QUEUE"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range good {
				m[k] = v
			}
			m[c.key] = c.val
			_, err := Load(nil, env(m))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"NIMBUS_DATABASE_URL": "p", "NIMBUS_REDIS_URL": "r",
		"NIMBUS_TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16,::1"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 3 || c.TrustedProxies[0].String() != "10.0.0.1/32" {
		t.Errorf("got %v", c.TrustedProxies)
	}
}
