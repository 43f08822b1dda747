// Dark mode, set before the page paints (this script is not deferred):
// the choice kept in localStorage ("light" or "dark"), else the system's
// (prefers-color-scheme, followed as it changes). The header's theme
// button (portal.js) cycles system -> light -> dark.
(() => {
  const media = window.matchMedia("(prefers-color-scheme: dark)");
  const apply = () => {
    const choice = localStorage.getItem("nimbus-theme") || "system";
    const dark = choice === "dark" || (choice === "system" && media.matches);
    document.documentElement.classList.toggle("dark", dark);
    document.documentElement.dataset.theme = choice;
  };
  apply();
  media.addEventListener("change", apply);
  window.nimbusTheme = {
    apply,
    next() {
      const order = ["system", "light", "dark"];
      const now = localStorage.getItem("nimbus-theme") || "system";
      localStorage.setItem("nimbus-theme", order[(order.indexOf(now) + 1) % order.length]);
      apply();
    },
  };
})();
