// The launch dialog's quota effect: what the chosen flavor and count would
// use, and a refusal before sending when it would go over. The server
// checks again; this only saves a round trip.
(function () {
  const form = document.getElementById("launch-form");
  if (!form) return;
  const flavor = form.querySelector('[name="flavor"]');
  const count = form.querySelector('[name="count"]');
  const warn = document.getElementById("quota-warning");
  const after = document.getElementById("quota-after");
  const submit = document.getElementById("launch-submit");
  const quota = (k) => {
    const el = document.querySelector('[data-quota="' + k + '"]');
    return el ? { label: el.dataset.label, used: +el.dataset.used, limit: +el.dataset.limit } : { label: k, used: 0, limit: -1 };
  };
  function update() {
    const opt = flavor.selectedOptions[0];
    const n = Math.max(1, parseInt(count.value || "1", 10));
    const need = {
      instances: n,
      cores: n * (opt && opt.dataset.vcpus ? +opt.dataset.vcpus : 0),
      ram: n * (opt && opt.dataset.ram ? +opt.dataset.ram : 0),
    };
    let over = false;
    const parts = [];
    for (const k of ["instances", "cores", "ram"]) {
      const q = quota(k);
      const total = q.used + need[k];
      if (q.limit >= 0 && total > q.limit) over = true;
      // The label is the catalogue's (data-label); numbers as the page's
      // language writes them.
      const num = (x) => x.toLocaleString(document.documentElement.lang || undefined);
      parts.push(q.label + ": " + num(total) + (q.limit >= 0 ? " / " + num(q.limit) : ""));
    }
    after.textContent = parts.join(" · ");
    warn.classList.toggle("hidden", !over);
    submit.disabled = over;
  }
  flavor.addEventListener("change", update);
  count.addEventListener("input", update);
  update();

  // Boot from a new volume: its size and delete-on-termination are shown
  // only while that source is chosen (without script they always are).
  const source = form.querySelector('[name="boot_source"]');
  const volume = document.getElementById("boot-volume");
  if (source && volume) {
    const show = () => volume.classList.toggle("hidden", source.value !== "volume");
    source.addEventListener("change", show);
    show();
  }
})();
