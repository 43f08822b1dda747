#!/usr/bin/env bash
# Runs OpenStack's own API tests (tempest's compute, identity and image
# suites) against Nimbus. Against the `make run` stack at NIMBUS_PUBLIC_URL
# (or http://NIMBUS_LISTEN, default 127.0.0.1:8080) when one answers;
# otherwise it starts one on the data dir and stops it at the end.
#
# It installs Debian's tempest package when missing, writes tempest.conf
# from the running stack (admin credentials from the data dir, the catalog's
# region, the seeded "tiny" image, m1.tiny and m1.small, the microversion
# range, the features Nimbus implements), runs
#   tempest run --regex "$TEMPEST_REGEX" --concurrency "$TEMPEST_CONCURRENCY"
# and prints the pass/skip/fail counts and the failing tests.
#
#   scripts/tempest.sh [data dir]        (make tempest)
#
# TEMPEST_DIR (default <data dir>/tempest) is the tempest workspace: its
# etc/tempest.conf, logs/tempest.log, failing.txt and summary.txt stay there.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-${NIMBUS_DATA_DIR:-.data}}
mkdir -p "$data"; data=$(cd "$data" && pwd)
url=${NIMBUS_PUBLIC_URL:-http://${NIMBUS_LISTEN:-127.0.0.1:8080}}
url=${url%/}
work=${TEMPEST_DIR:-$data/tempest}
regex=${TEMPEST_REGEX:-'^tempest\.api\.(compute|identity|image|network)'}
concurrency=${TEMPEST_CONCURRENCY:-2}
py=/usr/bin/python3 # tempest's own interpreter, not a pyenv shim

if ! command -v tempest >/dev/null; then
  echo "==> installing Debian's tempest"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends tempest
fi

healthy() { curl -fs -o /dev/null --max-time 5 "$url/healthz"; }

run_pid=""
stop_stack() {
  if [ -n "$run_pid" ]; then
    echo "==> stopping the stack this script started"
    kill -TERM "$run_pid" 2>/dev/null || true
    wait "$run_pid" 2>/dev/null || true
  fi
}
trap stop_stack EXIT

mkdir -p "$work"
if ! healthy; then
  echo "==> no Nimbus answers at $url: starting make run's stack on $data (log: $work/run.log)"
  make build >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
  NIMBUS_ALLOW_RESIZE_TO_SAME_HOST=true scripts/run.sh "$data" >"$work/run.log" 2>&1 &
  run_pid=$!
  for _ in $(seq 1 300); do
    healthy && break
    kill -0 "$run_pid" 2>/dev/null || { tail -30 "$work/run.log"; echo "the stack stopped"; exit 1; }
    sleep 1
  done
  healthy || { tail -30 "$work/run.log"; echo "Nimbus did not become healthy in 300 s"; exit 1; }
fi

# The workspace `tempest init` would make, without registering it in
# ~/.tempest (init also refuses an existing directory).
tdir=$("$py" -c 'import os, tempest; print(os.path.dirname(tempest.__file__))')
printf '[DEFAULT]\ntest_path=%s/test_discover\ntop_dir=%s\ngroup_regex=([^\\.]*\\.)*\n' "$tdir" "$tdir" >"$work/.stestr.conf"

echo "==> writing $work/etc/tempest.conf from $url"
NIMBUS_URL=$url ADMIN_PASSWORD=$(cat "$data/admin-password") WORK=$work "$py" - <<'EOF'
import json, os, urllib.request

url, work = os.environ["NIMBUS_URL"], os.environ["WORK"]
password = os.environ["ADMIN_PASSWORD"].strip()

def call(method, u, token=None, body=None):
    req = urllib.request.Request(u, method=method, data=json.dumps(body).encode() if body else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.headers, json.load(r)

auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"name": "Default"}, "password": password}}},
    "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
hdr, body = call("POST", url + "/identity/v3/auth/tokens", body=auth)
token = hdr["X-Subject-Token"]

def endpoint(kind):
    for svc in body["token"]["catalog"]:
        if svc["type"] == kind:
            for ep in svc["endpoints"]:
                if ep["interface"] == "public":
                    return ep["url"].rstrip("/"), ep["region_id"]
    raise SystemExit("no public %s endpoint in the catalog" % kind)

compute, region = endpoint("compute")
image_url, _ = endpoint("image")
_, images = call("GET", image_url + "/v2/images?name=tiny", token)
if not images["images"]:
    raise SystemExit("the seeded image 'tiny' is missing")
image = images["images"][0]["id"]
_, flavors = call("GET", compute + "/flavors", token)
by_name = {f["name"]: f["id"] for f in flavors["flavors"]}
_, versions = call("GET", compute + "/", token)
v = versions["version"]
network_url, _ = endpoint("network")
_, nets = call("GET", network_url + "/v2.0/networks?name=public", token)
if not nets["networks"]:
    raise SystemExit("the external network 'public' is missing (make run makes it)")
public = nets["networks"][0]["id"]
_, exts = call("GET", network_url + "/v2.0/extensions", token)
aliases = ",".join(e["alias"] for e in exts["extensions"])

conf = {
    "DEFAULT": {"log_file": "tempest.log", "log_dir": os.path.join(work, "logs")},
    "oslo_concurrency": {"lock_path": os.path.join(work, "lock")},
    "auth": {
        "use_dynamic_credentials": "true", "create_isolated_networks": "true",
        "admin_username": "admin", "admin_password": password, "admin_project_name": "admin",
        "admin_domain_name": "Default", "default_credentials_domain_name": "Default",
    },
    "identity": {
        "uri_v3": url + "/identity/v3", "auth_version": "v3", "region": region,
        "v3_endpoint_type": "public", "admin_role": "admin", "default_domain_id": "default",
    },
    # Nimbus's Keystone: tokens, projects, users, roles and grants on
    # projects, domains read-only. None of these extensions.
    "identity-feature-enabled": {
        "api_v2": "false", "api_v2_admin": "false", "api_v3": "true", "trust": "false",
        "domain_specific_drivers": "false", "security_compliance": "false", "project_tags": "false",
        "application_credentials": "false", "access_rules": "false", "immutable_user_source": "false",
        "api_extensions": "",
    },
    "compute": {
        "region": region, "image_ref": image, "image_ref_alt": image,
        "flavor_ref": by_name["m1.tiny"], "flavor_ref_alt": by_name["m1.small"],
        "min_microversion": v["min_version"], "max_microversion": v["version"],
        "fixed_network_name": "", "min_compute_nodes": "1", "hypervisor_type": "QEMU",
        "build_timeout": "300", "build_interval": "1",
    },
    # What Nimbus implements is on: launch, stop/start, reboot, delete,
    # console output and noVNC consoles, config drives, and issue 9's
    # lifecycle (pause, suspend, snapshot, rescue, shelve, resize: the
    # stack this script starts allows a resize to stay on its one host;
    # cold migration needs a second host). Everything else off.
    "compute-feature-enabled": {
        "disk_config": "false", "change_password": "false", "console_output": "true",
        "resize": "true", "pause": "true", "shelve": "true", "shelve_migrate": "false",
        "suspend": "true", "cold_migration": "false", "live_migration": "false",
        "live_migrate_back_and_forth": "false", "metadata_service": "false",
        "block_migration_for_live_migration": "false", "block_migrate_cinder_iscsi": "false",
        "vnc_console": "true", "spice_console": "false", "rdp_console": "false", "serial_console": "false",
        "rescue": "true", "stable_rescue": "false", "enable_instance_password": "false",
        "interface_attach": "true", "snapshot": "true", "nova_cert": "false", "personality": "false",
        "attach_encrypted_volume": "false", "config_drive": "true", "swap_volume": "false",
        "volume_backed_live_migration": "false", "volume_multiattach": "false", "xenapi_apis": "false",
        "ide_bus": "false", "unified_limits": "false", "hostname_fqdn_sanitization": "false",
        "scheduler_enabled_filters": "AvailabilityZoneFilter,ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,"
            "ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,AggregateInstanceExtraSpecsFilter",
    },
    "image": {"region": region, "disk_formats": "raw,qcow2,iso", "container_formats": "bare"},
    "image-feature-enabled": {
        "api_v2": "true", "api_v1": "false", "import_image": "false",
        "os_glance_reserved": "false", "manage_locations": "false",
    },
    # Nimbus's Neutron (issue 10): the extensions it lists, IPv4 only,
    # the external network make run makes.
    "network": {
        "public_network_id": public, "floating_network_name": "public", "project_network_cidr": "10.100.0.0/16",
        "project_network_mask_bits": "28", "project_networks_reachable": "false", "shared_physical_network": "false",
        "build_timeout": "300",
    },
    "network-feature-enabled": {
        "api_extensions": aliases, "ipv6": "false", "port_security": "true", "floating_ips": "true",
        "port_admin_state_change": "true", "ipv6_subnet_attributes": "false",
    },
    # Nimbus's Cinder (issue 12): volumes, snapshots, clones, types and
    # quotas; none of backups, transfers, groups, manage/unmanage, retype,
    # upload to image, revert, or extending an attached volume.
    "volume": {
        "region": region, "catalog_type": "volumev3", "min_microversion": "3.0", "max_microversion": "3.60",
        "build_timeout": "300", "build_interval": "1", "volume_size": "1", "disk_format": "raw,qcow2",
        "storage_protocol": "nbd", "vendor_name": "Nimbus",
    },
    "volume-feature-enabled": {
        "multi_backend": "false", "backup": "false", "snapshot": "true", "clone": "true",
        "manage_snapshot": "false", "manage_volume": "false", "extend_attached_volume": "false",
        "extend_attached_encrypted_volume": "false", "consistency_group": "false", "api_v3": "true",
        "volume_revert": "false", "cluster_active_active": "false", "volume_image_dep_tests": "false",
        "api_extensions": "",
    },
    "service_available": {
        "nova": "true", "glance": "true", "neutron": "true", "cinder": "true",
        "swift": "false", "horizon": "false",
    },
    "validation": {"run_validation": "false"},
}
os.makedirs(os.path.join(work, "etc"), exist_ok=True)
os.makedirs(os.path.join(work, "logs"), exist_ok=True)
path = os.path.join(work, "etc", "tempest.conf")
with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    for section, opts in conf.items():
        f.write("[%s]\n" % section)
        for k, val in opts.items():
            f.write("%s = %s\n" % (k, val))
        f.write("\n")
print("    region %s, image %s, flavors %s/%s, microversions %s-%s" % (
    region, image, by_name["m1.tiny"], by_name["m1.small"], v["min_version"], v["version"]))
EOF

echo "==> tempest run --regex '$regex' --concurrency $concurrency (output: $work/run-output.txt)"
cd "$work"
set +e
TEMPEST_CONFIG_DIR=$work/etc tempest run --config-file "$work/etc/tempest.conf" \
  --regex "$regex" --concurrency "$concurrency" >run-output.txt 2>&1
rc=$?
set -e
stestr failing --list 2>/dev/null | sort >failing.txt || true
count() { sed -n "s/^ - $1: *\([0-9]*\).*/\1/p" run-output.txt | tail -1; }
{
  echo "$(tempest --version 2>/dev/null | tail -1) against $url, regex $regex"
  echo "passed: $(count Passed)  skipped: $(count Skipped)  failed: $(count Failed)"
} | tee summary.txt
if [ -s failing.txt ]; then
  echo "failing tests ($(wc -l <failing.txt), in $work/failing.txt):"
  sed 's/^/  /' failing.txt
fi
exit $rc
