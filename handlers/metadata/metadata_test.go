package metadata_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/controller/controllertest"
)

// TestMetadataService: the controller's side of 169.254.169.254, as an
// agent's proxy calls it. A signed request gets its instance's
// meta_data.json (uuid, name, the key pair), network_data.json (a link
// per NIC with its MAC), user_data and the EC2 tree cloud-init reads
// (public-keys/0/openssh-key, local-ipv4); an unsigned, wrongly signed or
// foreign-source request gets nothing.
func TestMetadataService(t *testing.T) {
	tc := controllertest.New(t, nil)
	tc.StartAgent(t, "md-a")
	tc.WaitHosts(t, 1)
	demo := tc.DemoToken(t)
	img := tc.ActiveImage(t)
	var secret string
	if err := tc.Server.Pool().QueryRow(t.Context(), `SELECT value FROM settings WHERE key = 'metadata_proxy_secret'`).Scan(&secret); err != nil {
		t.Fatal(err)
	}
	kp := tc.Do(t, "POST", "/compute/v2.1/os-keypairs", demo, map[string]any{"keypair": map[string]any{"name": "mdkey"}})
	pub := kp.JSON(t)["keypair"].(map[string]any)["public_key"].(string)
	net := tc.Do(t, "POST", "/networking/v2.0/networks", demo, map[string]any{"network": map[string]any{"name": "md"}}).JSON(t)["network"].(map[string]any)
	tc.Do(t, "POST", "/networking/v2.0/subnets", demo, map[string]any{"subnet": map[string]any{"network_id": net["id"], "cidr": "10.30.0.0/24", "ip_version": 4}})
	r := tc.CreateServer(t, demo, map[string]any{"name": "Web Server 1", "flavorRef": "1", "imageRef": img, "key_name": "mdkey",
		"user_data": base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hello\n")), "metadata": map[string]string{"role": "web"},
		"networks": []map[string]any{{"uuid": net["id"], "fixed_ip": "10.30.0.9"}}})
	if r.Status != 202 {
		t.Fatalf("launch: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["server"].(map[string]any)["id"].(string)
	tc.WaitStatus(t, demo, id, "ACTIVE", 30*time.Second)

	sign := func(id string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(id))
		return hex.EncodeToString(m.Sum(nil))
	}
	get := func(path, instance, sig, from string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", tc.URL+"/metadata"+path, nil)
		if instance != "" {
			req.Header.Set("X-Instance-ID", instance)
			req.Header.Set("X-Instance-ID-Signature", sig)
		}
		if from != "" {
			req.Header.Set("X-Forwarded-For", from)
		}
		res := controllertest.Send(t, req)
		return res.Status, string(res.Body)
	}
	ok := func(path string) string {
		t.Helper()
		status, body := get(path, id, sign(id), "10.30.0.9")
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		return body
	}
	var meta map[string]any
	if err := json.Unmarshal([]byte(ok("/openstack/latest/meta_data.json")), &meta); err != nil {
		t.Fatal(err)
	}
	if meta["uuid"] != id || meta["name"] != "Web Server 1" || meta["public_keys"].(map[string]any)["mdkey"] != pub ||
		meta["meta"].(map[string]any)["role"] != "web" {
		t.Errorf("meta_data.json: %v", meta)
	}
	var nd map[string]any
	if err := json.Unmarshal([]byte(ok("/openstack/2012-08-10/network_data.json")), &nd); err != nil {
		t.Fatal(err)
	}
	links := nd["links"].([]any)
	if len(links) != 1 || !strings.HasPrefix(links[0].(map[string]any)["ethernet_mac_address"].(string), "fa:16:3e:") ||
		nd["networks"].([]any)[0].(map[string]any)["type"] != "ipv4_dhcp" {
		t.Errorf("network_data.json: %v", nd)
	}
	if got := ok("/openstack/latest/user_data"); got != "#!/bin/sh\necho hello\n" {
		t.Errorf("user_data: %q", got)
	}
	if got := ok("/latest/meta-data/public-keys/"); got != "0=mdkey" {
		t.Errorf("public-keys listing: %q", got)
	}
	if got := ok("/latest/meta-data/public-keys/0/openssh-key"); got != pub {
		t.Errorf("openssh-key: %q, want %q", got, pub)
	}
	if got := ok("/2009-04-04/meta-data/local-ipv4"); got != "10.30.0.9" {
		t.Errorf("local-ipv4: %q", got)
	}
	if got := ok("/latest/meta-data/"); !strings.Contains(got, "public-keys/") || !strings.Contains(got, "instance-id") {
		t.Errorf("meta-data listing: %q", got)
	}
	for _, c := range []struct {
		what, instance, sig, from string
		want                      int
	}{
		{"no signature", "", "", "", 403},
		{"a wrong signature", id, sign(id + "x"), "10.30.0.9", 403},
		{"a signature for another id", id, sign("6f0e4a37-6a59-4b1a-9b59-1b2b3c4d5e6f"), "10.30.0.9", 403},
		{"a source that is not the instance's", id, sign(id), "10.30.0.10", 404},
		{"a signed id that is no instance", "6f0e4a37-6a59-4b1a-9b59-1b2b3c4d5e6f", sign("6f0e4a37-6a59-4b1a-9b59-1b2b3c4d5e6f"), "", 404},
	} {
		if status, body := get("/openstack/latest/meta_data.json", c.instance, c.sig, c.from); status != c.want || strings.Contains(body, pub) {
			t.Errorf("%s: %d %q, want %d without the key", c.what, status, body, c.want)
		}
	}
}
