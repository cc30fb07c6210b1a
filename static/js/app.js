// Replenish front-end glue: CSRF header for htmx, polling paused while hidden, embed messages.
// No inline script anywhere (CSP script-src 'self'); htmx is configured not to eval.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Every htmx request carries the CSRF token as a header.
  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRFToken"] = csrfToken();
  });

  // Polling: elements with data-refresh-seconds get a "refresh" event on that period, only while
  // the tab is visible, never while the operator is mid-action (a request of theirs is running).
  var busy = 0;
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (!evt.detail.requestConfig || evt.detail.requestConfig.triggeringEvent === undefined ||
        (evt.detail.requestConfig.triggeringEvent && evt.detail.requestConfig.triggeringEvent.type !== "refresh")) {
      busy += 1;
    }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (busy > 0 && !(evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent &&
        evt.detail.requestConfig.triggeringEvent.type === "refresh")) {
      busy -= 1;
    }
  });

  var lastRefresh = new WeakMap();
  function tick() {
    if (document.visibilityState !== "visible" || busy > 0) { return; }
    var now = Date.now();
    document.querySelectorAll("[data-refresh-seconds]").forEach(function (el) {
      var period = parseFloat(el.getAttribute("data-refresh-seconds")) * 1000;
      var last = lastRefresh.get(el) || now;
      if (!lastRefresh.has(el)) { lastRefresh.set(el, now); return; }
      if (now - last >= period) {
        lastRefresh.set(el, now);
        if (window.htmx) { window.htmx.trigger(el, "refresh"); }
      }
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { tick(); }
  });

  // Embedded in a VMS console: tell the parent our height and notable events, allowed origins only.
  function embedOrigins() {
    var meta = document.querySelector('meta[name="replenish-embed-origins"]');
    if (!meta || window.parent === window) { return []; }
    return (meta.getAttribute("content") || "").split(/\s+/).filter(Boolean);
  }
  function tellParent(message) {
    embedOrigins().forEach(function (origin) { window.parent.postMessage(message, origin); });
  }
  if (document.body && document.body.classList.contains("embed")) {
    var lastHeight = 0;
    var report = function () {
      var h = document.documentElement.scrollHeight;
      if (h !== lastHeight) { lastHeight = h; tellParent({ type: "replenish:resize", height: h }); }
    };
    if (window.ResizeObserver) { new ResizeObserver(report).observe(document.body); }
    document.addEventListener("htmx:afterSettle", report);
    report();
  }
  document.addEventListener("replenish:gap-retried", function (evt) {
    tellParent({ type: "replenish:gap-retried", gap_id: evt.detail && evt.detail.gap_id });
  });
})();
