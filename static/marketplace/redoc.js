// Starts Redoc on the API docs page (templates/drf_spectacular/redoc.html) from a
// static file, as the Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var container = document.getElementById("redoc-container");
  var settings = JSON.parse(document.getElementById("redoc-settings").textContent);
  window.Redoc.init(container.dataset.schemaUrl, settings, container);
})();
