/* lotterylab: let ipywidgets 8 typeset widget labels with MathJax 3.
 *
 * The widget bundle (@jupyter-widgets/html-manager 1.0.x) typesets descriptions with the
 * MathJax 2 API, `MathJax.Hub.Queue(...)`, whenever `window.MathJax` exists
 * (jupyter-widgets/ipywidgets#3829). The book loads MathJax 3, which has no `Hub`, so on a
 * page with both math and a widget every label raised "Cannot read properties of
 * undefined (reading 'Queue')". This file, loaded only on widget pages and before the
 * widget bundle, gives MathJax 3 a `Hub.Queue` that calls `typesetPromise` instead.
 * It does nothing on pages without MathJax.
 */
(function () {
  "use strict";

  function makeHub(mj) {
    return {
      Queue: function (job) {
        // ipywidgets passes ["Typeset", MathJax.Hub, element].
        var element = job && job[2];
        return mj.startup.promise
          .then(function () { return mj.typesetPromise(element ? [element] : undefined); })
          .catch(function (err) { console.warn("lotterylab: MathJax could not typeset a widget label.", err); });
      }
    };
  }

  function install() {
    var mj = window.MathJax;
    if (mj && mj.version && mj.startup && mj.typesetPromise && !mj.Hub) {
      mj.Hub = makeHub(mj);
    }
  }

  var config = window.MathJax;
  if (config && !config.version) {
    // MathJax 3 is configured but not loaded yet (its script is deferred): install once it is ready.
    config.startup = config.startup || {};
    var userReady = config.startup.ready;
    config.startup.ready = function () {
      if (userReady) { userReady(); } else { window.MathJax.startup.defaultReady(); }
      install();
    };
  }
  install();
  window.addEventListener("DOMContentLoaded", install);
})();
