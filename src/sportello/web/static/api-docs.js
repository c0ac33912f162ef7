// Starts Swagger UI on /api/docs. A static file, so the page needs no inline script under the
// app's Content-Security-Policy (script-src 'self').
(function () {
  "use strict";
  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }
  var csrf = meta("csrf-token");
  window.ui = SwaggerUIBundle({
    url: meta("sportello-openapi-url") || "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    // Logged-in console users can "Try it out" with their session: a session-authenticated
    // write must carry the CSRF token, like every console request.
    requestInterceptor: function (request) {
      if (csrf && request.method && request.method.toUpperCase() !== "GET") {
        request.headers["X-CSRF-Token"] = csrf;
      }
      return request;
    },
  });
})();
