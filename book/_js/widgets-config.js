// Loaded after RequireJS and before the Jupyter widgets HTML manager (see
// nb_ipywidgets_js in _config.yml). The manager loads its icon fonts relative to
// its RequireJS module URL, which by default resolves against the page
// ("notebooks/@jupyter-widgets/..."): 404s. Map those module paths into the
// vendored copy next to this file (_static/vendor/html-manager/).
(function () {
  var me = document.currentScript && document.currentScript.src;
  if (!me || typeof require === "undefined" || !require.config) return;
  var here = me.split("?")[0];
  var base = here.slice(0, here.lastIndexOf("/") + 1) + "vendor/html-manager";
  // Every module the bundle defines computes the font URL from its own module
  // URL's folder: make each of those folders the vendored one.
  var paths = { "@jupyter-widgets/html-manager/dist": base };
  ["base", "base7", "controls", "controls7", "output", "html-manager"].forEach(function (m) {
    paths["@jupyter-widgets/" + m] = base + "/" + m;
  });
  require.config({ paths: paths });
})();
