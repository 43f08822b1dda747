// Tailwind CSS v3 (pure JavaScript, so `npm ci` needs no platform-specific
// binaries). Classes are collected from the templ views and portal handlers.
module.exports = {
  content: ["./views/**/*.templ", "./views/**/*.go", "./handlers/portal/**/*.go"],
  theme: {
    extend: {
      // Chinese pages: the system's CJK face before the generic ones
      // (macOS PingFang, Windows YaHei, Linux Noto/WenQuanYi), so Chinese
      // text is not set in a Latin font's fallback.
      fontFamily: {
        sans: ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial",
          "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC",
          "WenQuanYi Micro Hei", "sans-serif"],
      },
    },
  },
  plugins: [],
};
