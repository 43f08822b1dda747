// Small enhancements for the portal; every page works without them.
// Forms that destroy something ask first when data-confirm is set.
document.addEventListener("submit", (ev) => {
  const msg = ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
// htmx requests carry the session's CSRF token from the page's meta tag.
document.addEventListener("htmx:configRequest", (ev) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) ev.detail.headers["X-CSRF-Token"] = meta.content;
});
// A select marked data-autosubmit (the language switcher) sends its form
// as soon as it changes.
document.addEventListener("change", (ev) => {
  if (ev.target.matches && ev.target.matches("select[data-autosubmit]")) ev.target.form.requestSubmit();
});
