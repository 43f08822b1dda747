// Tailwind CSS v3 (pure JavaScript, so `npm ci` needs no platform-specific
// binaries). Classes are collected from the templ views and portal handlers.
module.exports = {
  content: ["./views/**/*.templ", "./views/**/*.go", "./handlers/portal/**/*.go"],
  theme: { extend: {} },
  plugins: [],
};
