// Image upload for the portal's upload page (views/images.templ). The
// image record exists already (queued); this sends the chosen file as the
// body of a PUT, which the server streams to disk, and shows its progress.
// Without script the page shows how to upload with the CLI instead.
(() => {
  const box = document.querySelector("[data-upload]");
  if (!box) return;
  for (const el of document.querySelectorAll("[data-js-only]")) el.hidden = false;
  for (const el of document.querySelectorAll("[data-no-js]")) el.hidden = true;

  const input = box.querySelector('input[type="file"]');
  const start = box.querySelector("[data-upload-start]");
  const bar = box.querySelector("progress");
  const status = box.querySelector('[role="status"]');
  const meta = document.querySelector('meta[name="csrf-token"]');

  const fail = (code) => {
    status.textContent = box.dataset.msgFailed + (code ? " (" + code + ")" : "");
    start.disabled = false;
    input.disabled = false;
  };

  start.addEventListener("click", () => {
    const file = input.files && input.files[0];
    if (!file) {
      status.textContent = box.dataset.msgChoose;
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", box.dataset.uploadUrl);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    if (meta) xhr.setRequestHeader("X-CSRF-Token", meta.content);
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      bar.max = ev.total;
      bar.value = ev.loaded;
      box.dataset.progress = String(Math.floor((100 * ev.loaded) / ev.total));
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = bar.max;
        box.dataset.progress = "100";
        window.location.assign(box.dataset.done);
      } else if (xhr.status === 400 && (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain") && xhr.responseText) {
        // The server refused the data and says why, in the page's language.
        fail(0);
        status.textContent = xhr.responseText;
      } else {
        fail(xhr.status);
      }
    };
    xhr.onerror = () => fail(0);
    start.disabled = true;
    input.disabled = true;
    bar.value = 0;
    status.textContent = box.dataset.msgUploading;
    xhr.send(file);
  });
})();
