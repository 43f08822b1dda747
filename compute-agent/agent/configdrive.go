package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/nimbus-cloud/nimbus/internal/metadata"
	"github.com/nimbus-cloud/nimbus/internal/queue"
)

// configDrive writes an OpenStack-format config drive (an ISO 9660 image
// labelled config-2 holding openstack/latest/meta_data.json and
// user_data), so cloud-init in the guest finds the user's SSH key and
// user data without a metadata server. It returns the ISO's path.
func (a *Agent) configDrive(ctx context.Context, dir string, j queue.Job) (string, error) {
	b := j.Build
	root := filepath.Join(dir, "configdrive")
	if err := os.RemoveAll(root); err != nil {
		return "", err
	}
	in := metadata.Instance{ID: j.InstanceID, Name: b.Name, AZ: b.AZ, ProjectID: b.ProjectID, Meta: b.Metadata,
		KeyName: b.KeyName, KeyData: b.KeyData}
	if j.Rescue != nil {
		in.AdminPass = j.Rescue.AdminPass // the rescue system's, as Nova's rescue config drive
	}
	for _, n := range b.NICs {
		in.NICs = append(in.NICs, metadata.NIC{PortID: n.PortID, MAC: n.MAC, MTU: n.MTU})
	}
	md := metadata.MetaData(in)
	netData, _ := json.Marshal(metadata.NetworkData(in.NICs))
	files := map[string][]byte{}
	mdJSON, _ := json.Marshal(md)
	for _, v := range []string{"latest", "2012-08-10"} {
		files["openstack/"+v+"/meta_data.json"] = mdJSON
		files["openstack/"+v+"/vendor_data.json"] = []byte("{}")
		files["openstack/"+v+"/network_data.json"] = netData
		if b.UserData != "" {
			ud, err := base64.StdEncoding.DecodeString(b.UserData)
			if err != nil {
				return "", fmt.Errorf("user data is not base64: %w", err)
			}
			files["openstack/"+v+"/user_data"] = ud
		}
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return "", err
		}
	}
	iso := filepath.Join(dir, "config.iso")
	tool, args := "", []string{"-o", iso, "-V", "config-2", "-J", "-r", "-quiet", root}
	for _, t := range []string{"genisoimage", "mkisofs", "xorrisofs"} {
		if _, err := exec.LookPath(t); err == nil {
			tool = t
			break
		}
	}
	if tool == "" {
		return "", fmt.Errorf("no ISO tool (genisoimage, mkisofs or xorrisofs) to build the config drive")
	}
	if out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", tool, err, out)
	}
	if err := os.Chmod(iso, 0o644); err != nil {
		return "", err
	}
	return iso, os.RemoveAll(root)
}
